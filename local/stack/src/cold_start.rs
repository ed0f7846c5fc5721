//! The cold-start and package-size benchmark (`local-stack bench-cold-start`).
//!
//! For every function, the release `bootstrap` that `local/build-lambdas.sh`
//! zipped is started again and again against a runtime API of our own on
//! loopback, which holds one event. It records when the process called
//! `GET /2018-06-01/runtime/invocation/next` (its initialisation is over:
//! what Lambda reports as Init Duration) and when it posted the answer,
//! both from the moment the process was spawned. The runtime API is the one
//! the AWS Lambda developer guide documents ("Using the Lambda runtime API
//! for custom runtimes"); `cargo lambda watch` serves it too, but cannot say
//! when a process first polled it, and a killed process's pending poll can
//! swallow the next run's event, so each run here gets a server of its own.
//!
//! The events are ones each function answers without calling AWS where it
//! can (a step's payload without its job, an API request without
//! credentials), so that the figure is the function's own start, not the
//! emulator's latency. The functions still load their configuration and
//! build their clients; `runners-api` reads the registry's admin token at
//! start, as on AWS, and the scheduled functions query the tables. Their
//! calls reach the emulator through a proxy that counts the time one is
//! there, and that time is taken out of the "own" figure the goal is judged
//! on. It prints figures; it asserts nothing.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::functions::StepSettings;
use crate::latency::LatencyProxy;
use crate::stack::{
    ACCOUNT, ADMIN_SECRET, CONFIG_BUCKET, LocalStack, RELEASE_IMAGE, STATE_BUCKET, StackOptions,
};
use crate::{LocalError, Result, aws_env};

/// Goals: published Rust cold starts on `provided.al2023` are about 14–18 ms;
/// Lambda takes zips of up to 50 MB, ours should stay far below.
const GOAL_MS: f64 = 20.0;
const GOAL_ZIP_BYTES: u64 = 5 * 1024 * 1024;
/// How long one run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// What one process did, from its spawn.
#[derive(Debug, Clone, Copy, Default)]
struct Timings {
    ready: Option<Duration>,
    answered: Option<Duration>,
}

/// A runtime API holding one event.
struct OneEvent {
    port: u16,
    spawned: Arc<Mutex<Option<Instant>>>,
    timings: Arc<Mutex<Timings>>,
    answer: Arc<Mutex<Option<(String, String)>>>,
    stop: CancellationToken,
}

impl OneEvent {
    async fn start(function: &str, event: Value) -> Result<OneEvent> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LocalError::Setup(format!("runtime API: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| LocalError::Setup(e.to_string()))?
            .port();
        let server = OneEvent {
            port,
            spawned: Arc::default(),
            timings: Arc::default(),
            answer: Arc::default(),
            stop: CancellationToken::new(),
        };
        let shared = Shared {
            function: function.to_string(),
            event: Arc::new(event.to_string()),
            served: Arc::default(),
            spawned: server.spawned.clone(),
            timings: server.timings.clone(),
            answer: server.answer.clone(),
        };
        let stop = server.stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop.cancelled() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let (shared, stop) = (shared.clone(), stop.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (shared, stop) = (shared.clone(), stop.clone());
                        async move { Ok::<_, Infallible>(shared.handle(req, stop).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(server)
    }
}

impl Drop for OneEvent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Clone)]
struct Shared {
    function: String,
    event: Arc<String>,
    served: Arc<Mutex<bool>>,
    spawned: Arc<Mutex<Option<Instant>>>,
    timings: Arc<Mutex<Timings>>,
    answer: Arc<Mutex<Option<(String, String)>>>,
}

fn since(spawned: &Mutex<Option<Instant>>) -> Option<Duration> {
    spawned.lock().ok()?.map(|t| t.elapsed())
}

impl Shared {
    async fn handle(
        &self,
        req: Request<Incoming>,
        stop: CancellationToken,
    ) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        if path.ends_with("/runtime/invocation/next") {
            let first = self
                .served
                .lock()
                .map(|mut s| !std::mem::replace(&mut *s, true));
            if first.unwrap_or(false) {
                if let Ok(mut t) = self.timings.lock() {
                    t.ready = since(&self.spawned);
                }
                let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                return Response::builder()
                    .header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        format!(
                            "arn:aws:lambda:us-east-1:{ACCOUNT}:function:{}",
                            self.function
                        ),
                    )
                    .header(
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-00000000-000000000000000000000000",
                    )
                    .body(Full::new(Bytes::from(self.event.to_string())))
                    .unwrap_or_default();
            }
            // The next event never comes: the process is ended.
            stop.cancelled().await;
            return Response::default();
        }
        let kind = if path.ends_with("/response") {
            "response"
        } else {
            "error"
        };
        let at = since(&self.spawned);
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).to_string())
            .unwrap_or_default();
        if let Ok(mut t) = self.timings.lock() {
            t.answered = at;
        }
        if let Ok(mut a) = self.answer.lock() {
            *a = Some((kind.to_string(), body));
        }
        Response::builder()
            .status(202)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap_or_default()
    }
}

/// An API Gateway HTTP API (payload 2.0) request without credentials.
fn api_request(path: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "bench",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
}

/// The event each function gets, and what answering it involves.
fn event_for(function: &str) -> Value {
    match function {
        "job-api" => api_request("/api/jobs"),
        "runners-api" => api_request("/api/runners"),
        // A step payload without its job: refused before any call.
        _ => json!({}),
    }
}

/// Every function's environment: the union of what `infra/platform/lambda.tf`
/// sets for the three families (each parses only its own).
fn environment(stack: &LocalStack, aws_endpoint: &str) -> Vec<(String, String)> {
    let mut env = aws_env::child_env(aws_endpoint);
    let (gcp, azure) = (Default::default(), Default::default());
    env.extend(
        StepSettings {
            table_prefix: &stack.names.prefix,
            api_url: &stack.api_url,
            state_bucket: STATE_BUCKET,
            state_region: aws_env::REGION,
            config_bucket: CONFIG_BUCKET,
            admin_secret: ADMIN_SECRET,
            release_image: RELEASE_IMAGE,
            gcp: &gcp,
            azure: &azure,
        }
        .environment(),
    );
    env.push((
        "STATE_MACHINE_ARN_PREFIX".into(),
        format!("arn:aws:states:{}:{ACCOUNT}:stateMachine:", aws_env::REGION),
    ));
    env
}

/// Starts `binary` against a fresh runtime API holding `event` and waits
/// for its answer; ends the process (by its PID) either way.
async fn one_run(
    binary: &Path,
    function: &str,
    event: Value,
    env: &[(String, String)],
) -> Result<(Timings, Option<(String, String)>)> {
    let api = OneEvent::start(function, event).await?;
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}", api.port),
        )
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("worker-jobs-{function}"),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Ok(mut s) = api.spawned.lock() {
        *s = Some(Instant::now());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| LocalError::Setup(format!("cannot start {}: {e}", binary.display())))?;
    let started = Instant::now();
    loop {
        let answered = api
            .timings
            .lock()
            .map(|t| t.answered.is_some())
            .unwrap_or(true);
        if answered || started.elapsed() > RUN_TIMEOUT {
            break;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let _ = child.kill().await;
    let timings = api.timings.lock().map(|t| *t).unwrap_or_default();
    let answer = api.answer.lock().ok().and_then(|a| a.clone());
    Ok((timings, answer))
}

fn median_ms(mut v: Vec<Duration>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    Some(v[v.len() / 2].as_secs_f64() * 1000.0)
}

/// Where `local/build-lambdas.sh` leaves the zips:
/// `$LAMBDA_TARGET_DIR/lambda/<fn>/` (`local/env.sh` sets it).
fn lambda_dir() -> Result<PathBuf> {
    std::env::var_os("LAMBDA_TARGET_DIR")
        .map(|d| PathBuf::from(d).join("lambda"))
        .ok_or_else(|| {
            LocalError::Setup(
                "LAMBDA_TARGET_DIR is not set: run the benchmark as local/demo.sh bench-cold-start"
                    .into(),
            )
        })
}

/// The Cargo profile `local/build-lambdas.sh` builds the zips with.
const PROFILE: &str = "lambda-release";

/// The release binary of `function` (what its `bootstrap.zip` holds) and
/// the zip, where `local/build-lambdas.sh` leaves them.
fn artifacts(function: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = lambda_dir()?;
    let zip = dir.join(function).join("bootstrap.zip");
    let target = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let binary = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
        .iter()
        .map(|t| target.join(t).join(PROFILE).join(function))
        .find(|p| p.exists())
        .unwrap_or_else(|| target.join(PROFILE).join(function));
    Ok((binary, zip))
}

/// Runs the benchmark over every function in `functions/` that has a
/// release build (the others are listed as missing).
pub async fn run(runs: usize) -> Result<()> {
    let mut functions: Vec<String> = std::fs::read_dir(crate::paths::root().join("functions"))
        .map_err(|e| LocalError::Setup(format!("reading functions/: {e}")))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    functions.sort();
    let mut missing = Vec::new();
    functions.retain(|f| match artifacts(f) {
        Ok((binary, _)) if binary.exists() => true,
        _ => {
            missing.push(f.clone());
            false
        }
    });
    if functions.is_empty() {
        return Err(LocalError::Setup(
            "no release build of any function: run local/build-lambdas.sh first".into(),
        ));
    }
    println!("Starting the stack (moto, tables, the registry's admin token) ...");
    let stack = LocalStack::start(StackOptions::default()).await?;
    // The functions reach the emulator through a proxy that adds nothing
    // but counts the time a call of theirs is at the emulator: that time is
    // moto's (a Python process), not the function's.
    let proxy = LatencyProxy::start(&stack.aws_endpoint, Duration::ZERO).await?;
    let env = environment(&stack, &proxy.endpoint);
    println!(
        "\nCold start of each function's release bootstrap against a runtime API on loopback, median of {runs} starts;\nzip = bootstrap.zip as built by local/build-lambdas.sh (goals: median <= {GOAL_MS} ms, zip <= 5 MB)\n"
    );
    println!(
        "  {:<22} {:>9} {:>12} {:>9} {:>8} {:>8}   answer",
        "function", "ready ms", "answered ms", "AWS ms", "own ms", "zip MB"
    );
    let (mut worst, mut biggest) = (0.0f64, 0u64);
    for f in &functions {
        let (binary, zip) = artifacts(f)?;
        let zip = std::fs::metadata(zip).map(|m| m.len()).ok();
        let (mut ready, mut answered, mut answer) = (Vec::new(), Vec::new(), None);
        let (mut aws, mut own, mut calls) = (Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            let (calls_before, _, before) = proxy.stats.get();
            let (t, a) = one_run(&binary, f, event_for(f), &env).await?;
            let (calls_after, _, after) = proxy.stats.get();
            let at_emulator = after.saturating_sub(before);
            calls = calls_after - calls_before;
            ready.extend(t.ready);
            answered.extend(t.answered);
            aws.push(at_emulator);
            own.extend(t.answered.map(|d| d.saturating_sub(at_emulator)));
            answer = a.or(answer);
        }
        let what = match &answer {
            Some((kind, body)) => {
                let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                let detail = v["errorType"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| v["statusCode"].as_u64().map(|c| format!("HTTP {c}")))
                    .unwrap_or_else(|| "ok".into());
                format!("{kind}: {detail}")
            }
            None => "no answer (see the function's log)".into(),
        };
        let (r, a) = (median_ms(ready), median_ms(answered));
        let (e, o) = (median_ms(aws), median_ms(own));
        worst = worst.max(o.unwrap_or(f64::INFINITY));
        biggest = biggest.max(zip.unwrap_or(0));
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        println!(
            "  {:<22} {:>9} {:>12} {:>9} {:>8} {:>8}   {}",
            f,
            fmt(r),
            fmt(a),
            format!("{} ({calls})", fmt(e)),
            fmt(o),
            zip.map_or("-".to_string(), |z| format!(
                "{:.2}",
                z as f64 / 1_048_576.0
            )),
            what
        );
    }
    println!(
        "\n  AWS ms (calls): the time the function's calls (how many) were at the emulator (the scheduled functions query the \
         tables; runners-api reads its admin token); own ms: answered less that, the function's own start"
    );
    println!(
        "  slowest median own time: {worst:.1} ms (goal <= {GOAL_MS} ms: {})",
        if worst <= GOAL_MS { "met" } else { "NOT met" }
    );
    println!(
        "  largest zip: {:.2} MB (goal <= 5 MB: {})",
        biggest as f64 / 1_048_576.0,
        if biggest <= GOAL_ZIP_BYTES {
            "met"
        } else {
            "NOT met"
        }
    );
    if !missing.is_empty() {
        println!("  not measured (no release build yet): {missing:?}");
    }
    proxy.stop();
    stack.stop().await;
    Ok(())
}
