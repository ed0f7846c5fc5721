//! The Step Functions API over HTTP (awsJson1_0: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Operation>`), so that `aws-sdk-sfn` and
//! the AWS CLI drive the engine with only `--endpoint-url` changed. Errors
//! use AWS's shape (`{"__type": code, "message": …}` plus the
//! `x-amzn-ErrorType` header); no request can take the server down.

use std::convert::Infallible;
use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::SfnError;
use crate::service::StepFunctions;

/// Request bodies above this size are refused before parsing (a definition
/// may be 1 MiB; JSON escaping can nearly double it).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// A running server; dropping the handle does not stop it, `shutdown` does.
pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Binds `addr` (use port 0 for a free port) and serves until shut down.
pub async fn serve(service: StepFunctions, addr: SocketAddr) -> std::io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let stop_accept = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop_accept.cancelled() => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let service = service.clone();
            let conn_stop = stop_accept.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(handle(&service, req).await) }
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
    Ok(ServerHandle { addr, stop, task })
}

fn json_response(
    status: StatusCode,
    body: &Value,
    error_type: Option<&str>,
) -> Response<Full<bytes::Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string());
    if let Some(t) = error_type {
        builder = builder.header("x-amzn-ErrorType", t);
    }
    builder
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(bytes::Bytes::new())))
}

fn error_response(e: &SfnError) -> Response<Full<bytes::Bytes>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        &json!({"__type": e.code(), "message": e.to_string()}),
        Some(e.code()),
    )
}

async fn handle(service: &StepFunctions, req: Request<Incoming>) -> Response<Full<bytes::Bytes>> {
    if req.method() == http::Method::GET && req.uri().path() == "/health" {
        return json_response(StatusCode::OK, &json!({"status": "ok"}), None);
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(operation) = target
        .as_deref()
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_string)
    else {
        return error_response(&SfnError::UnknownOperation(format!(
            "Unknown or missing X-Amz-Target header: {:?} (expected {TARGET_PREFIX}<Operation>)",
            target.unwrap_or_default()
        )));
    };
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let err = if too_large {
                SfnError::RequestTooLarge(format!(
                    "The request body is larger than {MAX_REQUEST_BYTES} bytes"
                ))
            } else {
                SfnError::Serialization(format!("Could not read the request body: {e}"))
            };
            return error_response(&err);
        }
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(&SfnError::Serialization(format!(
                    "The request body is not valid JSON: {e}"
                )));
            }
        }
    };
    match service.call(&operation, &request).await {
        Ok(out) => json_response(StatusCode::OK, &out, None),
        Err(e) => {
            tracing::debug!(operation = %operation, error = %e, "request refused");
            error_response(&e)
        }
    }
}
