//! A forwarding proxy that adds a fixed delay to every call, so that a
//! benchmark on loopback can also show what network latency (tens of
//! milliseconds to a real AWS endpoint) does to sequential and parallel
//! clients. Optionally it throttles as AWS does ([`AwsThrottle`]), and
//! replays the emulator's answers: moto answers one request at a time (one
//! Python process), tens of milliseconds each for a region's subnets, where
//! AWS answers every region at once; with replay on, the first answer to a
//! read is recorded and later identical reads (same account, service,
//! region, request) are answered from the record, so that the figures
//! measure the clients and the network, not the emulator's queue.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::throttle::{Admission, AwsThrottle};
use crate::{LocalError, Result};

/// What the proxy adds to the calls it forwards.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    pub delay: Duration,
    pub throttle: Option<Arc<AwsThrottle>>,
    /// Answer repeated reads from the first answer (see the module header).
    pub replay: bool,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    forwarded: AtomicUsize,
    replayed: AtomicUsize,
    /// Time with at least one request at the emulator.
    busy_micros: AtomicU64,
    /// Requests at the emulator now, and since when it has had one.
    upstream: Mutex<(usize, Option<Instant>)>,
}

impl ProxyStats {
    /// Requests sent on to the emulator, answered from a record, and the
    /// time the emulator had at least one request to answer.
    pub fn get(&self) -> (usize, usize, Duration) {
        (
            self.forwarded.load(Ordering::Relaxed),
            self.replayed.load(Ordering::Relaxed),
            Duration::from_micros(self.busy_micros.load(Ordering::Relaxed)),
        )
    }

    fn sent(&self) {
        let mut u = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
        if u.0 == 0 {
            u.1 = Some(Instant::now());
        }
        u.0 += 1;
    }

    fn answered(&self) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        let mut u = self.upstream.lock().unwrap_or_else(|e| e.into_inner());
        u.0 = u.0.saturating_sub(1);
        if u.0 == 0
            && let Some(since) = u.1.take()
        {
            self.busy_micros
                .fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
}

/// A recorded answer.
#[derive(Clone)]
struct Record {
    status: u16,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    body: Bytes,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    options: ProxyOptions,
    stats: Arc<ProxyStats>,
    records: Mutex<HashMap<String, Record>>,
}

pub struct LatencyProxy {
    pub endpoint: String,
    pub stats: Arc<ProxyStats>,
    stop: CancellationToken,
}

impl LatencyProxy {
    pub async fn start(upstream: &str, delay: Duration) -> Result<LatencyProxy> {
        Self::start_with(
            upstream,
            ProxyOptions {
                delay,
                ..ProxyOptions::default()
            },
        )
        .await
    }

    pub async fn start_with(upstream: &str, options: ProxyOptions) -> Result<LatencyProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalError::Setup(format!("latency proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LocalError::Setup(e.to_string()))?;
        let stats = Arc::new(ProxyStats::default());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            options,
            stats: stats.clone(),
            records: Mutex::new(HashMap::new()),
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stopped.cancelled() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(forward(req, &shared).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(LatencyProxy {
            endpoint: format!("http://{addr}"),
            stats,
            stop,
        })
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

fn answer(r: &Record, head: bool) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        // A HEAD answer has no body: its Content-Length is the object's.
        if (k != "content-length" || head) && k != "transfer-encoding" {
            builder = builder.header(k, v);
        }
    }
    builder
        .body(Full::new(r.body.clone()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn forward(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    tokio::time::sleep(shared.options.delay).await;
    let (parts, body) = req.into_parts();
    let head = parts.method == http::Method::HEAD;
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let throttle = shared.options.throttle.as_deref();
    let query = parts.uri.query().unwrap_or("");
    let learn = match throttle.map(|t| t.admit(&parts.headers, query, &body)) {
        Some(Admission::Refuse(answer)) => return answer,
        Some(Admission::Forward { learn }) => learn,
        None => false,
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    // Reads only: what STS answers (credentials) changes every time.
    let key = match throttle.and_then(|t| t.caller(&parts.headers)) {
        Some((account, region, service)) if shared.options.replay && service != "sts" => {
            Some(format!(
                "{account} {service} {region} {} {path} {}",
                parts.method,
                String::from_utf8_lossy(&body)
            ))
        }
        _ => None,
    };
    if let Some(k) = &key
        && let Some(r) = shared
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(k)
            .cloned()
    {
        shared.stats.replayed.fetch_add(1, Ordering::Relaxed);
        return answer(&r, head);
    }
    let mut out = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .body(body.to_vec());
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
    shared.stats.sent();
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            shared.stats.answered();
            return fail(e.to_string());
        }
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let bytes = resp.bytes().await.unwrap_or_default();
    shared.stats.answered();
    if learn && let Some(t) = throttle {
        t.learn(&bytes);
    }
    let record = Record {
        status,
        headers,
        body: bytes,
    };
    if let Some(k) = key
        && status == 200
    {
        shared
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k, record.clone());
    }
    answer(&record, head)
}
