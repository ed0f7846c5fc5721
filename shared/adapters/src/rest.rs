//! The HTTP client of the Google Cloud and Azure adapters: JSON and form
//! requests with a per-attempt timeout, `429` answers retried after their
//! `Retry-After` (bounded: at most 15 s of waiting per request, so a
//! provider asking for minutes fails the call as throttled instead of
//! holding the step), and 5xx or transport errors retried with jittered
//! back-off. A request may be paced by an adaptive window
//! (`crate::cloud::adaptive`): each attempt waits for room in it and tells
//! it whether it was throttled; a request waiting out a `Retry-After` holds
//! no room. Tokens travel in headers built by the callers; this module never
//! logs a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jobs_domain::StepError;
use jobs_domain::ports::PortResult;
use rand::Rng;

use crate::cloud::adaptive::Window;

/// Attempts per request (the first and three retries).
const ATTEMPTS: u32 = 4;
/// The most one request waits between its attempts in all: a provider
/// asking for longer gets its 429 back as `Throttled`, and the state
/// machine's Retry (with its own back-off) takes over, so that a step never
/// outlives its Lambda timeout waiting here.
const MAX_WAIT: Duration = Duration::from_secs(15);
/// The back-off base when the answer names no delay.
const BACKOFF: Duration = Duration::from_millis(200);

/// Counts of the requests made (the discovery benchmark compares wall time
/// with the sum of the requests' own times).
#[derive(Debug, Clone, Default)]
pub struct RestStats {
    requests: Arc<AtomicUsize>,
    throttled: Arc<AtomicUsize>,
    busy_micros: Arc<AtomicU64>,
}

impl RestStats {
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers `429` received.
    pub fn throttled(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The sum of every request's duration: what the same requests take
    /// one after another.
    pub fn sequential(&self) -> Duration {
        Duration::from_micros(self.busy_micros.load(Ordering::Relaxed))
    }
}

/// An answer: its status and body (read whole; the APIs page their lists).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    stats: RestStats,
}

impl Rest {
    pub fn new(attempt_timeout: Duration) -> PortResult<Rest> {
        let client = reqwest::Client::builder()
            .timeout(attempt_timeout)
            .connect_timeout(attempt_timeout.min(Duration::from_secs(5)))
            // A redirect would carry the bearer token to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StepError::internal(format!("building the HTTP client: {e}")))?;
        Ok(Rest {
            client,
            stats: RestStats::default(),
        })
    }

    pub fn with_stats(mut self, stats: RestStats) -> Self {
        self.stats = stats;
        self
    }

    /// Sends the request `build` makes (called once per attempt) and
    /// returns the last answer, whatever its status; `Unavailable` when no
    /// attempt got an answer. `what` names the call in errors.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> PortResult<Answer> {
        self.send_paced(what, None, build).await
    }

    /// [`Rest::send`], each attempt within room in `window`, if any.
    pub async fn send_paced(
        &self,
        what: &str,
        window: Option<&Arc<Window>>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> PortResult<Answer> {
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            let permit = match window {
                Some(w) => Some(w.acquire().await),
                None => None,
            };
            let started = Instant::now();
            let result = build(&self.client).send().await;
            let result = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match response.text().await {
                        Ok(body) => Ok((Answer { status, body }, retry_after)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats
                .busy_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let last = attempt >= ATTEMPTS;
            if let (Some(w), Some(p), Ok((answer, _))) = (window, &permit, &result) {
                match answer.status {
                    429 => w.throttled(p.epoch()),
                    s if s < 500 => w.succeeded(),
                    _ => {}
                }
            }
            drop(permit);
            match result {
                Ok((answer, retry_after)) => {
                    let wait = match answer.status {
                        429 => {
                            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                            retry_after.unwrap_or_else(|| backoff(attempt))
                        }
                        500 | 502 | 503 | 504 => backoff(attempt),
                        _ => return Ok(answer),
                    };
                    if last || waited + wait > MAX_WAIT {
                        return Ok(answer);
                    }
                    waited += wait;
                    tracing::debug!(
                        what,
                        status = answer.status,
                        wait_ms = wait.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    if last {
                        // reqwest's error names the URL; ours carry no secret
                        // in URLs (tokens go in headers and bodies).
                        return Err(StepError::unavailable(format!(
                            "{what}: no answer after {ATTEMPTS} attempts: {e}"
                        )));
                    }
                    let wait = backoff(attempt);
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// [`Rest::send`], then the answer's JSON when it is a 2xx, else the
    /// error `refused` makes of it.
    pub async fn get_json(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        refused: impl FnOnce(&Answer) -> StepError,
    ) -> PortResult<serde_json::Value> {
        self.get_json_paced(what, None, build, refused).await
    }

    /// [`Rest::get_json`], paced by `window`, if any.
    pub async fn get_json_paced(
        &self,
        what: &str,
        window: Option<&Arc<Window>>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        refused: impl FnOnce(&Answer) -> StepError,
    ) -> PortResult<serde_json::Value> {
        let answer = self.send_paced(what, window, build).await?;
        if !answer.ok() {
            return Err(refused(&answer));
        }
        serde_json::from_str(&answer.body)
            .map_err(|e| StepError::internal(format!("{what}: unreadable answer: {e}")))
    }
}

/// Full-jitter exponential back-off.
fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF * 2u32.pow(attempt.min(6));
    let ms = rand::rng().random_range(0..=cap.as_millis() as u64);
    Duration::from_millis(ms.max(50))
}
