//! A pool of runners working through a queue while a random third of them
//! die in the middle of a job: every job still ends SUCCESS exactly once.
//! Prints the figure (set RUNNER_POOL_SEED to replay a run's choice of
//! victims and timings).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{api, stack_with};
use local_stack::api_client::Api;
use local_stack::stack::StackOptions;
use reqwest::Method;
use serde_json::{Value, json};

const JOBS: usize = 60;
const RUNNERS: usize = 9;

/// A small xorshift generator: the test needs no crate for randomness, and
/// a printed seed replays a run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What the runners saw: successful completions per job (runner ids), and
/// completions the API refused.
#[derive(Default)]
struct Ledger {
    completed: HashMap<String, Vec<String>>,
    refused: Vec<(String, String, u16)>,
    abandoned: Vec<String>,
}

struct Runner {
    id: String,
    token: String,
    /// Dies after this many claims, in the middle of that job (never
    /// completing it, never heartbeating again); `None`: lives.
    dies_on_claim: Option<usize>,
    /// How long each job takes, in ms.
    work_ms: Vec<u64>,
}

async fn post(a: &Api, path: &str, body: Option<Value>, token: &str) -> (u16, Value) {
    a.call(Method::POST, path, body, Some(token)).await.unwrap()
}

async fn run(
    a: Api,
    r: Runner,
    ledger: Arc<Mutex<Ledger>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut claims = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        post(
            &a,
            &format!("/api/runners/{}/heartbeat", r.id),
            None,
            &r.token,
        )
        .await;
        let (status, job) = post(&a, &format!("/api/runners/{}/claim", r.id), None, &r.token).await;
        if status == 204 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            continue;
        }
        assert_eq!(status, 200, "claim: {job}");
        let job_id = job["id"].as_str().unwrap().to_string();
        claims += 1;
        let work = Duration::from_millis(r.work_ms[claims % r.work_ms.len()]);
        if r.dies_on_claim == Some(claims) {
            // Midway through the job, the runner is gone.
            tokio::time::sleep(work / 2).await;
            ledger.lock().unwrap().abandoned.push(job_id);
            return;
        }
        // Work, heartbeating so that the lease holds.
        let started = Instant::now();
        while started.elapsed() < work {
            tokio::time::sleep(Duration::from_millis(100).min(work)).await;
            post(
                &a,
                &format!("/api/runners/{}/heartbeat", r.id),
                None,
                &r.token,
            )
            .await;
        }
        let (status, body) = post(
            &a,
            &format!("/api/runners/{}/jobs/{job_id}/complete", r.id),
            Some(json!({"status": "SUCCESS", "result": {"by": r.id}})),
            &r.token,
        )
        .await;
        let mut l = ledger.lock().unwrap();
        if status == 200 && body["status"] == "SUCCESS" {
            l.completed.entry(job_id).or_default().push(r.id.clone());
        } else {
            l.refused.push((job_id, r.id.clone(), status));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_of_the_runners_die_midway_and_every_job_succeeds_exactly_once() {
    let seed = std::env::var("RUNNER_POOL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let mut rng = Rng(seed);
    let s = stack_with(StackOptions {
        clock_speedup: 200.0,
        heartbeat_ttl_seconds: 2,
        sweep_every: Duration::from_millis(300),
        ..StackOptions::default()
    })
    .await;
    let a = api(&s);
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let j = a
            .submit("RUNNER_JOB", json!({"payload": {"n": i}}))
            .await
            .unwrap();
        ids.push(j["id"].as_str().unwrap().to_string());
    }

    // A random third of the runners die, each on a random one of its
    // first three claims.
    let mut victims: Vec<usize> = (0..RUNNERS).collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.below(i as u64 + 1) as usize);
    }
    victims.truncate(RUNNERS / 3);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..RUNNERS {
        let r = a
            .expect(
                201,
                Method::POST,
                "/api/runners/register",
                Some(json!({"name": format!("pool-runner-{i}"), "owner": local_stack::api_client::DEMO_OWNER})),
                Some(s.admin_token.expose()),
            )
            .await
            .unwrap();
        let runner = Runner {
            id: r["id"].as_str().unwrap().to_string(),
            token: r["token"].as_str().unwrap().to_string(),
            dies_on_claim: victims.contains(&i).then(|| 1 + rng.below(3) as usize),
            work_ms: (0..5).map(|_| 100 + rng.below(400)).collect(),
        };
        tasks.push(tokio::spawn(run(
            api(&s),
            runner,
            ledger.clone(),
            done.clone(),
        )));
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    let statuses = loop {
        let mut statuses = HashMap::new();
        for id in &ids {
            let job = a
                .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
                .await
                .unwrap();
            statuses.insert(id.clone(), job);
        }
        if statuses
            .values()
            .all(|j| j["status"] == "SUCCESS" || j["status"] == "FAILED")
        {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still open: {:?}",
            statuses
                .values()
                .filter(|j| j["status"] != "SUCCESS")
                .map(|j| (&j["id"], &j["status"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    check(
        &ledger.lock().unwrap(),
        &ids,
        &statuses,
        &victims,
        took,
        seed,
    );
    s.stop().await;
}

fn check(
    l: &Ledger,
    ids: &[String],
    statuses: &HashMap<String, Value>,
    victims: &[usize],
    took: Duration,
    seed: u64,
) {
    let succeeded = statuses
        .values()
        .filter(|j| j["status"] == "SUCCESS")
        .count();
    let requeued: u64 = statuses
        .values()
        .map(|j| j["requeues"].as_u64().unwrap_or(0))
        .sum();
    let twice: Vec<_> = l.completed.iter().filter(|(_, by)| by.len() > 1).collect();
    let lost: Vec<_> = ids
        .iter()
        .filter(|id| !l.completed.contains_key(*id))
        .collect();
    println!(
        "{JOBS} runner jobs, {RUNNERS} runners, {} killed midway (holding {} jobs) -> {succeeded} SUCCESS, {} completed exactly once, {} lost, {} completed twice, {requeued} requeues, {} completions refused, in {:.1} s (seed {seed})",
        victims.len(),
        l.abandoned.len(),
        l.completed.values().filter(|by| by.len() == 1).count(),
        lost.len(),
        twice.len(),
        l.refused.len(),
        took.as_secs_f64(),
    );
    assert_eq!(succeeded, JOBS, "seed {seed}");
    assert!(lost.is_empty(), "never completed: {lost:?} (seed {seed})");
    assert!(twice.is_empty(), "completed twice: {twice:?} (seed {seed})");
    assert!(
        l.refused.is_empty(),
        "a live runner's lease was taken from it: {:?} (seed {seed})",
        l.refused
    );
    // Each job went back to the queue once per victim that died holding
    // it, and was done by a live runner, who is the one the job records.
    for id in &l.abandoned {
        let job = &statuses[id];
        let deaths = l.abandoned.iter().filter(|a| *a == id).count();
        assert_eq!(job["requeues"], json!(deaths), "{job} (seed {seed})");
        assert_eq!(job["result"]["by"], json!(l.completed[id][0]), "{job}");
        assert_eq!(job["runner_id"], json!(l.completed[id][0]), "{job}");
    }
    assert_eq!(requeued as usize, l.abandoned.len(), "seed {seed}");
}
