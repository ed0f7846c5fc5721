//! The API load benchmark (`local-stack bench-api`): concurrent clients
//! drive the local stack's HTTP API with a realistic mix (job submissions
//! with Idempotency-Keys, job reads, job listings, Runner heartbeats and
//! claims with their completions) for a fixed time, and it prints the
//! throughput, p50 and p99 per operation and overall, and the count of
//! 5xx answers. To show how much of the time is the emulator's, it also
//! times the DynamoDB calls alone at the same concurrency. It prints
//! figures; it asserts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::stack::LocalStack;
use crate::{LocalError, Result};

/// One operation of the mix and its share of the requests (percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Submit,
    GetJob,
    ListJobs,
    Heartbeat,
    Claim,
    Complete,
}

const MIX: [(Op, u32); 5] = [
    (Op::Submit, 20),
    (Op::GetJob, 30),
    (Op::ListJobs, 10),
    (Op::Heartbeat, 25),
    (Op::Claim, 15),
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Submit => "POST /api/jobs (with a key)",
            Op::GetJob => "GET /api/jobs/{id}",
            Op::ListJobs => "GET /api/jobs?type=&limit=20",
            Op::Heartbeat => "POST /api/runners/{id}/heartbeat",
            Op::Claim => "POST /api/runners/{id}/claim",
            Op::Complete => "POST …/jobs/{job}/complete",
        }
    }

    fn pick(roll: u32) -> Op {
        let mut acc = 0;
        for (op, share) in MIX {
            acc += share;
            if roll < acc {
                return op;
            }
        }
        Op::GetJob
    }
}

struct Sample {
    op: Op,
    status: u16,
    micros: u64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn timed(req: reqwest::RequestBuilder) -> (u16, Value, u64) {
    let started = Instant::now();
    let result = async {
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    let micros = started.elapsed().as_micros() as u64;
    match result {
        Ok((status, body)) => (status, body, micros),
        // No answer counts as a server failure.
        Err(_) => (599, Value::Null, micros),
    }
}

/// Runs the mix against the stack's API, then against the same API over
/// in-memory ports (its own share of the time: routing, validation, token
/// hashing, JSON, HTTP), then times the emulator alone.
pub async fn api(stack: &LocalStack, clients: usize, seconds: u64) -> Result<()> {
    println!("\n== The local stack's API (DynamoDB in moto) ==");
    drive(&stack.api_url, stack.admin_token.expose(), clients, seconds).await?;
    println!("\n== The same API over in-memory ports (no emulator): its own share ==");
    let memory = memory_api().await?;
    let result = drive(
        &format!("http://{}", memory.addr),
        MEMORY_ADMIN,
        clients,
        seconds,
    )
    .await;
    memory.stop().await;
    result?;
    dynamo_share(stack, clients, seconds.min(5)).await
}

const MEMORY_ADMIN: &str = "load-benchmark-admin-token";
/// The organization the benchmark's clients act for.
const LOAD_OWNER: &str = "org-load";

/// The HTTP API on 127.0.0.1 over the in-memory ports of `jobs-memory`.
async fn memory_api() -> Result<crate::http_api::HttpApi> {
    use jobs_memory::*;
    let jobs = jobs_handlers::JobService::new(
        Arc::new(MemoryJobStore::new()),
        Arc::new(MemoryRunQueues::new()),
        Arc::new(jobs_domain::ports::SystemClock),
    );
    let job_deps = jobs_handlers::JobApiDeps {
        jobs: jobs.clone(),
        identities: Arc::new(MemoryIdentityStore::new()),
        identity_secrets: Arc::new(MemoryIdentitySecrets::new()),
        workers: Arc::new(MemoryWorkerStore::new()),
        starter: Arc::new(MemoryStarter::new()),
        defaults: jobs_domain::params::Defaults::default(),
        start_grace: chrono::Duration::seconds(120),
        build_reports: Arc::new(MemoryArtifacts::new()),
        build_logs: Arc::new(MemoryBuildLogs::new()),
        refresh_batch: 100,
        owner_source: Default::default(),
    };
    let runner_deps = jobs_handlers::RunnersApiDeps {
        runners: Arc::new(MemoryRunnerStore::new()),
        jobs,
        admin_token: jobs_domain::SecretString::new(MEMORY_ADMIN),
        heartbeat_ttl: chrono::Duration::seconds(90),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| LocalError::Setup(format!("binding the in-memory API: {e}")))?;
    crate::http_api::HttpApi::start_on(listener, job_deps, runner_deps).await
}

/// Runs the mix with `clients` concurrent clients for `seconds`.
async fn drive(base: &str, admin: &str, clients: usize, seconds: u64) -> Result<()> {
    let base = base.to_string();
    let mut owner = reqwest::header::HeaderMap::new();
    owner.insert(
        crate::api_client::OWNER_HEADER,
        reqwest::header::HeaderValue::from_static(LOAD_OWNER),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .default_headers(owner)
        .build()
        .map_err(|e| LocalError::Setup(e.to_string()))?;
    // One Runner per client, each with its token.
    let mut runners = Vec::new();
    for i in 0..clients {
        let (status, reg, _) = timed(
            http.post(format!("{base}/api/runners/register"))
                .bearer_auth(admin)
                .json(&json!({"name": format!("load-runner-{i}"), "owner": LOAD_OWNER, "pool": "load"})),
        )
        .await;
        if status != 201 {
            return Err(LocalError::Http(format!(
                "registering a runner answered {status}: {reg}"
            )));
        }
        runners.push((
            reg["id"].as_str().unwrap_or_default().to_string(),
            reg["token"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let jobs: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let keys = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    println!(
        "Driving the API at {base} with {clients} concurrent clients for {seconds} s (mix: 20% submissions with keys, 30% job reads, 10% listings, 25% heartbeats, 15% claims and their completions) ..."
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (runner_id, token) in runners {
        let (http, base, jobs, keys) = (http.clone(), base.clone(), jobs.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let op = Op::pick(rand::rng().random_range(0..100));
                let req = match op {
                    Op::Submit => {
                        let n = keys.fetch_add(1, Ordering::Relaxed);
                        http.post(format!("{base}/api/jobs"))
                            .header("Idempotency-Key", format!("load-{n}"))
                            .json(&json!({"type": "RUNNER_JOB", "params": {"payload": {"n": n}, "pool": "load"}}))
                    }
                    Op::GetJob => {
                        let id = {
                            let known = jobs.lock().await;
                            if known.is_empty() {
                                continue;
                            }
                            known[rand::rng().random_range(0..known.len())].clone()
                        };
                        http.get(format!("{base}/api/jobs/{id}"))
                    }
                    Op::ListJobs => http.get(format!("{base}/api/jobs?type=RUNNER_JOB&limit=20")),
                    Op::Heartbeat => http
                        .post(format!("{base}/api/runners/{runner_id}/heartbeat"))
                        .bearer_auth(&token),
                    Op::Claim | Op::Complete => http
                        .post(format!("{base}/api/runners/{runner_id}/claim"))
                        .bearer_auth(&token),
                };
                let (status, body, micros) = timed(req).await;
                samples.push(Sample { op, status, micros });
                if op == Op::Submit && status == 202
                    && let Some(id) = body["id"].as_str()
                {
                    jobs.lock().await.push(id.to_string());
                }
                if op == Op::Claim
                    && status == 200
                    && let Some(job) = body["job"]["id"].as_str().or(body["id"].as_str())
                {
                    let req = http
                        .post(format!("{base}/api/runners/{runner_id}/jobs/{job}/complete"))
                        .bearer_auth(&token)
                        .json(&json!({"status": "SUCCESS", "result": {"ok": true}}));
                    let (status, _, micros) = timed(req).await;
                    samples.push(Sample { op: Op::Complete, status, micros });
                }
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.map_err(|e| LocalError::Setup(e.to_string()))?);
    }
    let wall = started.elapsed().as_secs_f64();
    report(&samples, wall);
    Ok(())
}

fn report(samples: &[Sample], wall: f64) {
    let mut all: Vec<u64> = samples.iter().map(|s| s.micros).collect();
    all.sort_unstable();
    let errors = samples.iter().filter(|s| s.status >= 500).count();
    println!(
        "\n  {} requests in {wall:.1} s: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, 5xx: {errors}",
        samples.len(),
        samples.len() as f64 / wall,
        percentile(&all, 0.50),
        percentile(&all, 0.99)
    );
    let mut ops: Vec<Op> = samples.iter().map(|s| s.op).collect();
    ops.sort();
    ops.dedup();
    for op in ops {
        let mut t: Vec<u64> = samples
            .iter()
            .filter(|s| s.op == op)
            .map(|s| s.micros)
            .collect();
        t.sort_unstable();
        let mut statuses: Vec<u16> = samples
            .iter()
            .filter(|s| s.op == op)
            .map(|s| s.status)
            .collect();
        statuses.sort_unstable();
        statuses.dedup();
        println!(
            "  {:<36} {:>6} requests  p50 {:>6.1} ms  p99 {:>6.1} ms  statuses {statuses:?}",
            op.name(),
            t.len(),
            percentile(&t, 0.50),
            percentile(&t, 0.99)
        );
    }
}

/// The emulator's own pace: DynamoDB GetItem calls alone, at the same
/// concurrency (each API request makes one to four such calls).
async fn dynamo_share(stack: &LocalStack, clients: usize, seconds: u64) -> Result<()> {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.names.jobs();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (dynamo, table) = (dynamo.clone(), table.clone());
        tasks.push(tokio::spawn(async move {
            let mut t = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                let _ = dynamo
                    .get_item()
                    .table_name(&table)
                    .key(
                        "id",
                        aws_sdk_dynamodb::types::AttributeValue::S("job-load-probe".into()),
                    )
                    .send()
                    .await;
                t.push(s.elapsed().as_micros() as u64);
            }
            t
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| LocalError::Setup(e.to_string()))?);
    }
    all.sort_unstable();
    println!(
        "\n  The emulator alone (DynamoDB GetItem, {clients} concurrent callers): {:.0} calls/s, p50 {:.1} ms, p99 {:.1} ms.",
        all.len() as f64 / started.elapsed().as_secs_f64(),
        percentile(&all, 0.50),
        percentile(&all, 0.99)
    );
    println!(
        "  Every API request makes one to four DynamoDB calls: where the API's throughput is near the emulator's\n  calls/s divided by that, moto (a single Python process) is the bottleneck, not the API."
    );
    Ok(())
}
