//! The API Gateway stand-in: serves the HTTP API on loopback and hands each
//! request to the job API or the runner registry handler as an API Gateway
//! HTTP API (payload format 2.0) proxy event, exactly as AWS would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jobs_handlers::{JobApiDeps, RunnersApiDeps};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{LocalError, Result};

/// API Gateway's own payload limit (10 MB); the handlers apply theirs.
const GATEWAY_LIMIT: usize = 10 * 1024 * 1024;

pub struct HttpApi {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct Apps {
    jobs: JobApiDeps,
    runners: RunnersApiDeps,
}

impl HttpApi {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves on a listener already bound to 127.0.0.1.
    pub async fn start_on(
        listener: TcpListener,
        jobs: JobApiDeps,
        runners: RunnersApiDeps,
    ) -> Result<HttpApi> {
        let addr = listener
            .local_addr()
            .map_err(|e| LocalError::Http(e.to_string()))?;
        let apps = Arc::new(Apps { jobs, runners });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.cancelled() => break,
                };
                let Ok((stream, peer)) = accepted else {
                    continue;
                };
                let apps = apps.clone();
                let conn_stop = stopped.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let apps = apps.clone();
                        async move { Ok::<_, Infallible>(serve(&apps, req, peer).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stop.cancelled() => {}
                    }
                });
            }
        });
        Ok(HttpApi { addr, stop, task })
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn plain(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Builds the proxy event for a request.
pub fn to_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    peer: SocketAddr,
) -> std::result::Result<ApiGatewayV2httpRequest, String> {
    let mut hmap = Map::new();
    for (name, value) in headers {
        let v = value.to_str().unwrap_or_default();
        let entry = hmap
            .entry(name.as_str().to_lowercase())
            .or_insert(Value::String(String::new()));
        if let Value::String(s) = entry {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(v);
        }
    }
    let (body_value, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => {
            use base64::Engine as _;
            (
                Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            )
        }
    };
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hmap,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": peer.ip().to_string(), "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("")},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": chrono::Utc::now().timestamp_millis(),
        },
        "body": body_value,
        "isBase64Encoded": is_base64,
    }))
    .map_err(|e| e.to_string())
}

fn from_event(out: ApiGatewayV2httpResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(
        StatusCode::from_u16(u16::try_from(out.status_code).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (k, v) in &out.headers {
        builder = builder.header(k, v);
    }
    let body = match out.body {
        Some(Body::Text(t)) => Bytes::from(t),
        Some(Body::Binary(b)) => Bytes::from(b),
        _ => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn serve(apps: &Apps, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    if path == "/health" {
        return plain(200, json!({"status": "ok"}));
    }
    let body = match Limited::new(body, GATEWAY_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return plain(
                413,
                json!({"error": {"code": "PAYLOAD_TOO_LARGE", "message": "the request is larger than 10 MB"}}),
            );
        }
    };
    let event = match to_event(
        parts.method.as_str(),
        &path,
        &query,
        &parts.headers,
        &body,
        peer,
    ) {
        Ok(e) => e,
        Err(e) => return plain(400, json!({"error": {"code": "BAD_REQUEST", "message": e}})),
    };
    let out = if path == "/api/runners" || path.starts_with("/api/runners/") {
        jobs_handlers::runners_api::handle(&apps.runners, event).await
    } else if path.starts_with("/api/jobs") || path.starts_with("/api/cloud-identities") {
        jobs_handlers::jobs_api::handle(&apps.jobs, event).await
    } else {
        return plain(
            404,
            json!({"error": {"code": "NOT_FOUND", "message": format!("no route for {} {path}", parts.method)}}),
        );
    };
    from_event(out)
}
