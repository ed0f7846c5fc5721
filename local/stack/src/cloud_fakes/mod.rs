//! HTTP fakes of the Google Cloud and Azure APIs the platform calls, for
//! tests and the local demo only: never shipped, never listening beyond
//! 127.0.0.1.
//!
//! * [`google`]: Security Token Service, IAM Service Account Credentials,
//!   Compute Engine and Cloud DNS on one server;
//! * [`azure`]: the Microsoft identity platform's token endpoint and Azure
//!   Resource Manager on one server.
//!
//! Each fake answers with the shapes the providers document and checks what
//! the caller sends as strictly as the real service does, answering a wrong
//! request with the real service's error, so that a client passing against
//! a fake fails against the real API only for what a fake cannot see (real
//! signatures, real IAM). [`Knobs`] add what makes real clouds hard: small
//! pages, throttling (every Nth request, or a [`Quota`] as the provider
//! documents it) and latency.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{LocalError, Result};

/// The public methods both fakes share, forwarding to their [`Core`]. A
/// macro rather than a generic public type, so that the provider plumbing
/// stays private.
macro_rules! common_api {
    ($fake:ident, $world:ty) => {
        impl $fake {
            /// Starts the fake on a free port of 127.0.0.1 with `world`.
            pub async fn start(world: $world) -> $crate::Result<$fake> {
                Ok($fake {
                    core: $crate::cloud_fakes::Core::start(world).await?,
                })
            }

            /// The base URL, `http://127.0.0.1:PORT`, without a trailing `/`.
            pub fn url(&self) -> String {
                self.core.url.clone()
            }

            /// Stops listening and drops open connections (also on drop).
            pub fn stop(&self) {
                self.core.stop.cancel();
            }

            /// Every request received so far, oldest first.
            pub fn requests(&self) -> Vec<$crate::cloud_fakes::Recorded> {
                self.core.lock().requests.clone()
            }

            pub fn clear_requests(&self) {
                self.core.lock().requests.clear();
            }

            /// Requests received since the start (throttled ones too);
            /// [`Self::clear_requests`] does not reset it.
            pub fn request_count(&self) -> usize {
                self.core.lock().count
            }

            /// Requests answered 429 since the start.
            pub fn throttled_count(&self) -> usize {
                self.core.lock().throttled
            }

            /// Every access token issued so far, oldest first.
            pub fn issued_tokens(&self) -> Vec<String> {
                self.core.lock().common.issued.clone()
            }

            pub fn knobs(&self) -> $crate::cloud_fakes::Knobs {
                self.core.lock().knobs.clone()
            }

            /// Applies from the next request on.
            pub fn set_knobs(&self, knobs: $crate::cloud_fakes::Knobs) {
                self.core.lock().knobs = knobs;
            }

            pub fn set_page_size(&self, page_size: usize) {
                self.core.lock().knobs.page_size = page_size;
            }

            pub fn set_throttle_every(&self, every: Option<usize>) {
                self.core.lock().knobs.throttle_every = every;
            }

            pub fn set_latency(&self, latency: std::time::Duration) {
                self.core.lock().knobs.latency = latency;
            }

            pub fn set_quota(&self, quota: Option<$crate::cloud_fakes::Quota>) {
                self.core.lock().knobs.quota = quota;
            }

            /// Changes the world while the fake runs; the next request sees it.
            pub fn update<R>(&self, f: impl FnOnce(&mut $world) -> R) -> R {
                f(&mut self.core.lock().world)
            }

            /// A copy of the world as it is now.
            pub fn world(&self) -> $world {
                self.core.lock().world.clone()
            }
        }
    };
}

pub mod azure;
pub mod demo;
pub mod google;
mod quota;

pub use azure::{
    AppSecret, AzureApp, AzureFake, AzureSubscription, AzureTenant, AzureVnet, AzureWorld,
    AzureZone,
};
pub use google::{
    AwsProvider, GcpProject, GcpSubnetwork, GcpZone, GoogleFake, GoogleWorld, ServiceAccount,
    WorkloadPool,
};
use quota::Metered;
pub use quota::Quota;

/// One request as a fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// As sent, still percent-encoded.
    pub path: String,
    /// The raw query string, without `?`; empty when there is none.
    pub query: String,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fakes add to make a client's life hard; changeable at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    /// The most items a page holds whatever the caller asks for (0 counts
    /// as 1).
    pub page_size: usize,
    /// Every Nth request (counting all requests of the fake) is answered
    /// 429 with `Retry-After: 1` and not acted on; `Some(0)` never.
    pub throttle_every: Option<usize>,
    /// Waited before answering every request.
    pub latency: Duration,
    /// The provider's request quota on its resource APIs (not on its token
    /// endpoints): a request over it is answered 429, with the
    /// `Retry-After` the quota implies, and not acted on.
    pub quota: Option<Quota>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            page_size: 100,
            throttle_every: None,
            latency: Duration::ZERO,
            quota: None,
        }
    }
}

/// A request as the providers' handlers see it.
pub(crate) struct Call {
    pub method: String,
    /// Path segments, percent-decoded.
    pub segments: Vec<String>,
    query: Vec<(String, String)>,
    pub rec: Recorded,
}

impl Call {
    fn new(rec: Recorded) -> Call {
        let segments = rec
            .path
            .split('/')
            .skip(1)
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        Call {
            method: rec.method.clone(),
            segments,
            query: serde_urlencoded::from_str(&rec.query).unwrap_or_default(),
            rec,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.rec.header(name)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The token of `Authorization: Bearer …` (the scheme in any case).
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The body as `application/x-www-form-urlencoded` pairs; none when it
    /// is not.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.rec.body).unwrap_or_default()
    }
}

/// The first value of `name` in decoded pairs.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An answer: always JSON, as both providers' APIs answer.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/json; charset=utf-8");
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        builder
            .body(Full::new(Bytes::from(self.body.to_string())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

/// What a provider's fake implements; the [`Core`] does the rest.
pub(crate) trait Provider: Default + Send + 'static {
    type World: Send + 'static;

    fn handle(&mut self, world: &Self::World, ctx: &mut Ctx<'_>, call: &Call) -> Reply;

    /// The 429 body for `call`; the core adds `Retry-After`.
    fn throttled(&self, world: &Self::World, ctx: &Ctx<'_>, call: &Call) -> Reply;

    /// Whether `call` counts against [`Knobs::quota`] (the resource APIs,
    /// not the token endpoints).
    fn metered(&self, call: &Call) -> bool;
}

/// What both providers keep alike: tokens issued and page tokens.
#[derive(Default)]
pub(crate) struct Common {
    pub issued: Vec<String>,
    /// Page token → (the list it continues, the offset it continues at).
    pages: HashMap<String, (String, usize)>,
}

/// One page of a list: `start..end` and the token of the next page.
pub(crate) struct Page {
    pub start: usize,
    pub end: usize,
    pub next: Option<String>,
}

/// What a handler may use besides the world and its own state.
pub(crate) struct Ctx<'a> {
    /// The fake's base URL, for self links.
    pub base: &'a str,
    /// [`Knobs::page_size`], at least 1.
    pub page_size: usize,
    common: &'a mut Common,
}

impl Ctx<'_> {
    /// A new random access token starting `prefix`, remembered as issued.
    pub fn issue(&mut self, prefix: &str) -> String {
        let token = format!("{prefix}{}", random_alnum(64));
        self.common.issued.push(token.clone());
        token
    }

    /// The page of `list` (of `total` items) that `token` continues (the
    /// first without one), at most `asked` items and never more than the
    /// page size. `None` when the token was not issued for this list.
    pub fn page(
        &mut self,
        list: &str,
        total: usize,
        asked: Option<usize>,
        token: Option<&str>,
    ) -> Option<Page> {
        let start = match token {
            None => 0,
            Some(t) => match self.common.pages.get(t) {
                Some((l, offset)) if l == list => (*offset).min(total),
                _ => return None,
            },
        };
        let size = asked.unwrap_or(usize::MAX).min(self.page_size).max(1);
        let end = start.saturating_add(size).min(total);
        let next = (end < total).then(|| {
            let t = random_alnum(32);
            self.common.pages.insert(t.clone(), (list.to_string(), end));
            t
        });
        Some(Page { start, end, next })
    }
}

pub(crate) fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A stable numeric id (19 digits) for a named resource, so that the same
/// resource keeps its id across calls as real ones do.
pub(crate) fn numeric_id(name: &str) -> String {
    // FNV-1a: stable across runs, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000).to_string()
}

pub(crate) struct Inner<P: Provider> {
    pub world: P::World,
    provider: P,
    pub knobs: Knobs,
    pub requests: Vec<Recorded>,
    pub count: usize,
    pub throttled: usize,
    pub common: Common,
    /// `None` until the first metered request.
    metered: Option<Metered>,
}

/// The server and the state shared with it.
pub(crate) struct Core<P: Provider> {
    pub url: String,
    inner: Arc<Mutex<Inner<P>>>,
    pub stop: CancellationToken,
}

fn lock<P: Provider>(inner: &Mutex<Inner<P>>) -> MutexGuard<'_, Inner<P>> {
    // A handler that panicked leaves plain data behind: keep serving.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl<P: Provider> Core<P> {
    pub async fn start(world: P::World) -> Result<Core<P>> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalError::Setup(format!("cloud fake: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LocalError::Setup(format!("cloud fake: {e}")))?;
        let url = format!("http://{addr}");
        let inner = Arc::new(Mutex::new(Inner {
            world,
            provider: P::default(),
            knobs: Knobs::default(),
            requests: Vec::new(),
            count: 0,
            throttled: 0,
            common: Common::default(),
            metered: None,
        }));
        let stop = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            inner.clone(),
            Arc::from(url.as_str()),
            stop.clone(),
        ));
        Ok(Core { url, inner, stop })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner<P>> {
        lock(&self.inner)
    }

    /// Runs `f` on the provider's own state (its token tables).
    pub fn with_provider<R>(&self, f: impl FnOnce(&P) -> R) -> R {
        f(&self.lock().provider)
    }
}

impl<P: Provider> Drop for Core<P> {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve<P: Provider>(
    listener: TcpListener,
    inner: Arc<Mutex<Inner<P>>>,
    base: Arc<str>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let (inner, base, stop) = (inner.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let (inner, base) = (inner.clone(), base.clone());
                async move { Ok::<_, Infallible>(answer(&inner, &base, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            // A stopped fake must not keep answering on pooled keep-alive
            // connections.
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

async fn answer<P: Provider>(
    inner: &Mutex<Inner<P>>,
    base: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let latency = {
        let mut g = lock(inner);
        g.count += 1;
        g.requests.push(recorded.clone());
        g.knobs.latency
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let call = Call::new(recorded);
    let reply = {
        let mut g = lock(inner);
        let every = g.knobs.throttle_every.filter(|n| *n > 0);
        let mut retry_after = every
            .is_some_and(|n| g.count.is_multiple_of(n))
            .then_some(1);
        if let Some(quota) = g.knobs.quota
            && retry_after.is_none()
            && g.provider.metered(&call)
        {
            // Metered when the request reaches the service, after the
            // network's latency.
            let now = Instant::now();
            let state = g.metered.get_or_insert(Metered {
                left: match quota {
                    Quota::TokenBucket { burst, .. } => f64::from(burst),
                    Quota::PerMinute(n) => f64::from(n),
                },
                at: now,
            });
            retry_after = state.take(quota, now).err();
        }
        if retry_after.is_some() {
            g.throttled += 1;
        }
        let Inner {
            world,
            provider,
            knobs,
            common,
            ..
        } = &mut *g;
        let mut ctx = Ctx {
            base,
            page_size: knobs.page_size.max(1),
            common,
        };
        match retry_after {
            Some(seconds) => provider
                .throttled(world, &ctx, &call)
                .header("retry-after", seconds.to_string()),
            None => provider.handle(world, &mut ctx, &call),
        }
    };
    reply.into_response()
}
