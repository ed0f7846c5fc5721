//! A forwarding proxy that adds a fixed delay to every call, so that a
//! benchmark on loopback can also show what network latency (tens of
//! milliseconds to a real AWS endpoint) does to sequential and parallel
//! clients.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{LocalError, Result};

pub struct LatencyProxy {
    pub endpoint: String,
    stop: CancellationToken,
}

impl LatencyProxy {
    pub async fn start(upstream: &str, delay: Duration) -> Result<LatencyProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalError::Setup(format!("latency proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LocalError::Setup(e.to_string()))?;
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::new();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.cancelled() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let (upstream, client) = (upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (upstream, client) = (upstream.clone(), client.clone());
                        async move { Ok::<_, Infallible>(forward(req, &upstream, &client, delay).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(LatencyProxy {
            endpoint: format!("http://{addr}"),
            stop,
        })
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn forward(
    req: Request<Incoming>,
    upstream: &str,
    client: &reqwest::Client,
    delay: Duration,
) -> Response<Full<Bytes>> {
    tokio::time::sleep(delay).await;
    let (parts, body) = req.into_parts();
    let head = parts.method == http::Method::HEAD;
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = client.request(parts.method, url).body(body.to_vec());
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let fail = |e: String| {
        Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(e)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    };
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let mut builder = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        // A HEAD answer has no body: its Content-Length is the object's.
        if (k != "content-length" || head) && k != "transfer-encoding" {
            builder = builder.header(k, v);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
