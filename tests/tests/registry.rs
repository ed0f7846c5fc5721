//! The runner registry: tokens, claims racing for jobs, and the requeue of
//! a destroyed runner's jobs to the others.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::{HashMap, HashSet};

use e2e::{api, finish, stack};
use local_stack::api_client::Api;
use local_stack::stack::LocalStack;
use reqwest::Method;
use serde_json::{Value, json};

/// Registers a runner through the API; answers (id, token).
async fn register(s: &LocalStack, name: &str) -> (String, String) {
    let r = api(s)
        .expect(
            201,
            Method::POST,
            "/api/runners/register",
            Some(json!({"name": name, "owner": local_stack::api_client::DEMO_OWNER})),
            Some(s.admin_token.expose()),
        )
        .await
        .unwrap();
    (
        r["id"].as_str().unwrap().to_string(),
        r["token"].as_str().unwrap().to_string(),
    )
}

async fn claim(a: &Api, id: &str, token: &str) -> Option<String> {
    let (status, job) = a
        .call(
            Method::POST,
            &format!("/api/runners/{id}/claim"),
            None,
            Some(token),
        )
        .await
        .unwrap();
    match status {
        200 => Some(job["id"].as_str().unwrap().to_string()),
        204 => None,
        other => panic!("claim answered {other}: {job}"),
    }
}

async fn queue(s: &LocalStack, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let j = api(s)
            .submit("RUNNER_JOB", json!({"payload": {"n": i}}))
            .await
            .unwrap();
        ids.push(j["id"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_hashed_and_rotated_on_re_registration() {
    let s = stack().await;
    let a = api(&s);
    let (status, _) = a
        .call(
            Method::POST,
            "/api/runners/register",
            Some(json!({"name": "runner-x", "owner": local_stack::api_client::DEMO_OWNER})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 401, "no admin token");
    let (status, _) = a
        .call(
            Method::POST,
            "/api/runners/register",
            Some(json!({"name": "runner-x", "owner": local_stack::api_client::DEMO_OWNER})),
            Some("guess"),
        )
        .await
        .unwrap();
    assert_eq!(status, 403, "wrong admin token");
    let (id, token) = register(&s, "runner-x").await;
    assert!(token.len() >= 48, "at least 256 bits");
    let (status, _) = a
        .call(
            Method::POST,
            &format!("/api/runners/{id}/heartbeat"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = a
        .call(
            Method::POST,
            &format!("/api/runners/{id}/heartbeat"),
            None,
            Some("wjrt_wrong"),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    a.expect(
        200,
        Method::POST,
        &format!("/api/runners/{id}/heartbeat"),
        None,
        Some(&token),
    )
    .await
    .unwrap();

    // The same runner registering again: same id, new token, old one dead.
    let again = a
        .expect(
            200,
            Method::POST,
            "/api/runners/register",
            Some(json!({"name": "runner-x", "owner": local_stack::api_client::DEMO_OWNER})),
            Some(s.admin_token.expose()),
        )
        .await
        .unwrap();
    assert_eq!(again["id"], id.as_str());
    let new_token = again["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    let (status, _) = a
        .call(
            Method::POST,
            &format!("/api/runners/{id}/heartbeat"),
            None,
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(status, 403, "the rotated-out token no longer works");
    a.expect(
        200,
        Method::POST,
        &format!("/api/runners/{id}/heartbeat"),
        None,
        Some(new_token),
    )
    .await
    .unwrap();
    assert_eq!(
        e2e::item_count(&s, "runners").await,
        1,
        "never a second registration"
    );

    let listed = a
        .expect(
            200,
            Method::GET,
            "/api/runners",
            None,
            Some(s.admin_token.expose()),
        )
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains("token"),
        "no token or hash in listings: {listed}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claims_for_ten_jobs_give_each_job_to_exactly_one_runner() {
    let s = stack().await;
    let mut runners = Vec::new();
    for i in 0..5 {
        runners.push(register(&s, &format!("runner-race-{i}")).await);
    }
    let jobs: HashSet<String> = queue(&s, 10).await.into_iter().collect();
    let a = std::sync::Arc::new(api(&s));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (id, token) = runners[i % runners.len()].clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            (id.clone(), claim(&a, &id, &token).await)
        }));
    }
    let mut claimed: Vec<(String, String)> = Vec::new();
    for t in tasks {
        let (runner, job) = t.await.unwrap();
        if let Some(job) = job {
            claimed.push((job, runner));
        }
    }
    let ids: Vec<&String> = claimed.iter().map(|(j, _)| j).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 10, "every job claimed once: {claimed:?}");
    assert_eq!(unique.len(), 10, "no job claimed twice: {claimed:?}");
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<String>>(),
        jobs
    );
    for (job, runner) in &claimed {
        let j = a
            .expect(200, Method::GET, &format!("/api/jobs/{job}"), None, None)
            .await
            .unwrap();
        assert_eq!(j["status"], "RUNNING");
        assert_eq!(
            j["runner_id"],
            runner.as_str(),
            "the stored owner is the runner that got it"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_a_runner_requeues_its_jobs_to_the_others_exactly_once() {
    let s = stack().await;
    let a = api(&s);
    let deployed = a
        .submit(
            "DEPLOY_WORKER",
            json!({"name": "runner-a", "region": "us-east-1"}),
        )
        .await
        .unwrap();
    let deployed = finish(&s, deployed["id"].as_str().unwrap()).await;
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    let w = &deployed["result"]["worker"];
    let runner_a = local_stack::standin::boot(
        &s.sdk,
        "us-east-1",
        w["cluster_arn"].as_str().unwrap(),
        w["service_name"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let b = register(&s, "runner-b").await;
    let c = register(&s, "runner-c").await;

    let queued = queue(&s, 3).await;
    let mut held = Vec::new();
    while let Some(j) = runner_a.claim().await.unwrap() {
        held.push(j["id"].as_str().unwrap().to_string());
    }
    assert_eq!(held.len(), 3);
    // One of A's jobs finishes before A goes away: it must stay finished.
    let done = held[0].clone();
    a.expect(
        200,
        Method::POST,
        &format!("/api/runners/{}/jobs/{done}/complete", runner_a.worker_id),
        Some(json!({"status": "SUCCESS"})),
        Some(runner_a.token.expose()),
    )
    .await
    .unwrap();

    let destroyed = a
        .submit("DESTROY_WORKER", json!({"name": "runner-a"}))
        .await
        .unwrap();
    let destroyed = finish(&s, destroyed["id"].as_str().unwrap()).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let requeued: HashSet<String> = destroyed["result"]["requeued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = held[1..].iter().cloned().collect();
    // Removing the registration (Deregister, through this registry) already
    // released them; RequeueJobs releases whatever is left (a registry that
    // does not): together, the two unfinished jobs, each exactly once.
    assert!(requeued.is_subset(&expected), "{requeued:?}");
    for id in &expected {
        let job = a
            .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
            .await
            .unwrap();
        assert_eq!(
            (job["status"].clone(), job["requeues"].clone()),
            (json!("QUEUED"), json!(1)),
            "{job}"
        );
    }
    let finished = a
        .expect(200, Method::GET, &format!("/api/jobs/{done}"), None, None)
        .await
        .unwrap();
    assert_eq!(
        finished["status"], "SUCCESS",
        "a finished job is left alone"
    );

    // B and C take them over, each exactly once; A is gone.
    let mut owners: HashMap<String, String> = HashMap::new();
    for (id, token) in [&b, &c, &b, &c] {
        if let Some(job) = claim(&a, id, token).await {
            assert!(
                owners.insert(job.clone(), id.clone()).is_none(),
                "{job} claimed twice"
            );
        }
    }
    assert_eq!(owners.keys().cloned().collect::<HashSet<_>>(), expected);
    let (status, _) = a
        .call(
            Method::POST,
            &format!("/api/runners/{}/claim", runner_a.worker_id),
            None,
            Some(runner_a.token.expose()),
        )
        .await
        .unwrap();
    assert_eq!(status, 403, "the destroyed runner's token no longer works");
    for id in &queued {
        let j: Value = a
            .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
            .await
            .unwrap();
        assert!(j["status"] == "RUNNING" || j["status"] == "SUCCESS", "{j}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_stops_heartbeating_loses_its_job_to_another_exactly_once() {
    let s = e2e::stack_with(local_stack::stack::StackOptions {
        clock_speedup: 200.0,
        heartbeat_ttl_seconds: 2,
        sweep_every: std::time::Duration::from_millis(300),
        ..local_stack::stack::StackOptions::default()
    })
    .await;
    let a = api(&s);
    let ids = queue(&s, 1).await;
    let (dead, dead_token) = register(&s, "runner-dead").await;
    let (live, live_token) = register(&s, "runner-live").await;
    assert_eq!(claim(&a, &dead, &dead_token).await, Some(ids[0].clone()));

    // The dead runner says nothing more; the live one keeps heartbeating
    // and asks for work until the sweeper hands the job back to the queue.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let taken = loop {
        a.call(
            Method::POST,
            &format!("/api/runners/{live}/heartbeat"),
            None,
            Some(&live_token),
        )
        .await
        .unwrap();
        if let Some(job) = claim(&a, &live, &live_token).await {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(taken, ids[0]);
    let job = a
        .expect(200, Method::GET, &format!("/api/jobs/{taken}"), None, None)
        .await
        .unwrap();
    assert_eq!(
        (job["requeues"].clone(), job["runner_id"].clone()),
        (json!(1), json!(live))
    );

    // The dead runner comes back: the job is not its any more.
    let (status, _) = a
        .call(
            Method::POST,
            &format!("/api/runners/{dead}/jobs/{taken}/complete"),
            Some(json!({"status": "SUCCESS"})),
            Some(&dead_token),
        )
        .await
        .unwrap();
    assert_eq!(status, 409);
    for _ in 0..2 {
        let (status, done) = a
            .call(
                Method::POST,
                &format!("/api/runners/{live}/jobs/{taken}/complete"),
                Some(json!({"status": "SUCCESS"})),
                Some(&live_token),
            )
            .await
            .unwrap();
        assert_eq!((status, done["status"].clone()), (200, json!("SUCCESS")));
    }
    s.stop().await;
}
