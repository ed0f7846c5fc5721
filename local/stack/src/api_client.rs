//! A small HTTP client for the stack's API, as a platform engineer's
//! script would call it: the demo, the Runner stand-in and the end-to-end
//! tests drive the system through it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{LocalError, Result};

/// An HTTP client whose every request carries the owner header.
pub fn owner_client(owner: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(value) = reqwest::header::HeaderValue::from_str(owner) {
        headers.insert(OWNER_HEADER, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// The organization the demo and the tests act for, unless they say.
pub const DEMO_OWNER: &str = "org-demo";
/// The header the local stack reads the owner from (IAM authorization's
/// way: the platform signs the call and names the organization).
pub const OWNER_HEADER: &str = "X-Organization-Id";

/// A small HTTP client for the stack's API, acting for one owner.
pub struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Self::for_owner(base, DEMO_OWNER)
    }

    /// A client whose every request names `owner`.
    pub fn for_owner(base: &str, owner: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            client: owner_client(owner),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<(u16, Value)> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| LocalError::Http(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| LocalError::Http(e.to_string()))?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// Calls and insists on `expected`.
    pub async fn expect(
        &self,
        expected: u16,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<Value> {
        let (status, value) = self.call(method.clone(), path, body, bearer).await?;
        if status != expected {
            return Err(LocalError::Http(format!(
                "{method} {path} answered {status} (expected {expected}): {value}"
            )));
        }
        Ok(value)
    }

    /// Submits a job.
    pub async fn submit(&self, job_type: &str, params: Value) -> Result<Value> {
        self.expect(
            202,
            reqwest::Method::POST,
            "/api/jobs",
            Some(json!({"type": job_type, "params": params})),
            None,
        )
        .await
    }

    /// Polls a job until it ends, printing each step as it moves (when `show`).
    pub async fn follow(&self, job_id: &str, show: bool, timeout: Duration) -> Result<Value> {
        let started = Instant::now();
        let mut printed: Vec<String> = Vec::new();
        loop {
            let job = self
                .expect(
                    200,
                    reqwest::Method::GET,
                    &format!("/api/jobs/{job_id}"),
                    None,
                    None,
                )
                .await?;
            if show {
                for step in job["steps"].as_array().cloned().unwrap_or_default() {
                    for line in progress_lines(&step, &mut printed) {
                        println!("  [{:>6.1}s] {line}", started.elapsed().as_secs_f64());
                    }
                }
            }
            match job["status"].as_str() {
                Some("SUCCESS") | Some("FAILED") => return Ok(job),
                _ => {}
            }
            if started.elapsed() > timeout {
                return Err(LocalError::Http(format!(
                    "job {job_id} did not finish within {timeout:?}: {job}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What is new about a job's step since `printed`: its status, the build it
/// runs (a Terraform step), the build's plan, and every 5 s that it still
/// runs with its elapsed time.
fn progress_lines(step: &Value, printed: &mut Vec<String>) -> Vec<String> {
    let name = step["name"].as_str().unwrap_or("?");
    let status = step["status"].as_str().unwrap_or("?");
    let mut lines = Vec::new();
    let mut once = |key: String, line: String| {
        if !printed.contains(&key) {
            printed.push(key);
            lines.push(line);
        }
    };
    let mark = match status {
        "SUCCEEDED" => "done",
        "FAILED" => "FAILED",
        _ => "...",
    };
    once(format!("{name}/{status}"), format!("{name:<22} {mark}"));
    let build = &step["build"];
    if let Some(id) = build["id"].as_str() {
        let log = match (build["log_group"].as_str(), build["log_stream"].as_str()) {
            (Some(g), Some(s)) => format!(", log {g} {s}"),
            _ => String::new(),
        };
        once(
            format!("{name}/build"),
            format!("{name:<22} build {id}{log}"),
        );
    }
    if let Some(plan) = build["plan"].as_object() {
        let n = |k: &str| plan.get(k).and_then(Value::as_u64).unwrap_or(0);
        once(
            format!("{name}/plan"),
            format!(
                "{name:<22} plan: {} to add, {} to change, {} to destroy",
                n("add"),
                n("change"),
                n("destroy")
            ),
        );
    }
    if status == "RUNNING"
        && let Some(since) = step["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        let secs = (chrono::Utc::now() - since.with_timezone(&chrono::Utc)).num_seconds();
        if secs >= 5 {
            let tick = secs / 5 * 5;
            once(
                format!("{name}/running/{tick}"),
                format!("{name:<22} running for {tick} s"),
            );
        }
    }
    lines
}
