//! The runner registry's rules alone: the admin token guards the platform's
//! calls; a runner's token is shown once and stored only as a hash; a claim
//! takes the oldest queued job of the runner's pool, each job once; only
//! the runner holding a job completes it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::JobStatus;
use jobs_domain::ports::RunnerStore;
use serde_json::{Value, json};

async fn register(w: &World, name: &str, pool: &str) -> (String, String) {
    register_for(w, OWNER, name, pool).await
}

async fn register_for(w: &World, owner: &str, name: &str, pool: &str) -> (String, String) {
    let admin = format!("Bearer {}", w.admin_token.expose());
    let (status, reg) = w
        .call_runners(event(
            "POST",
            "/api/runners/register",
            &[("Authorization", &admin)],
            Some(&json!({"name": name, "owner": owner, "pool": pool}).to_string()),
        ))
        .await;
    assert!(status == 201 || status == 200, "{reg}");
    (
        reg["id"].as_str().unwrap().into(),
        reg["token"].as_str().unwrap().into(),
    )
}

async fn runner_call(w: &World, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string());
    w.call_runners(event(
        "POST",
        path,
        &[("Authorization", &auth)],
        body.as_deref(),
    ))
    .await
}

#[tokio::test]
async fn the_platforms_calls_need_the_admin_token() {
    let w = World::new();
    let (status, _) = w
        .call_runners(event("GET", "/api/runners", &[], None))
        .await;
    assert_eq!(status, 401);
    let (status, _) = w
        .call_runners(event(
            "GET",
            "/api/runners",
            &[("Authorization", "Bearer guess")],
            None,
        ))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_token_is_stored_as_a_hash_and_registering_again_rotates_it() {
    let w = World::new();
    let (id, token) = register(&w, "runner-1", "default").await;
    let stored = w.runners.get(&id).await.unwrap().unwrap();
    assert_ne!(stored.token_hash, token);
    assert!(!stored.token_hash.contains(&token));
    let (status, beat) =
        runner_call(&w, &format!("/api/runners/{id}/heartbeat"), &token, None).await;
    assert_eq!((status, beat["status"].clone()), (200, json!("ONLINE")));

    let (again, new_token) = register(&w, "runner-1", "default").await;
    assert_eq!(again, id);
    let (status, _) = runner_call(&w, &format!("/api/runners/{id}/heartbeat"), &token, None).await;
    assert_eq!(status, 403, "the old token stopped working");
    let (status, _) = runner_call(
        &w,
        &format!("/api/runners/{id}/heartbeat"),
        &new_token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    w.clock.advance(chrono::Duration::seconds(91));
    let admin = format!("Bearer {}", w.admin_token.expose());
    let (_, listed) = w
        .call_runners(event(
            "GET",
            &format!("/api/runners/{id}"),
            &[("Authorization", &admin)],
            None,
        ))
        .await;
    assert_eq!(
        listed["status"], "OFFLINE",
        "no heartbeat for longer than the TTL"
    );
}

#[tokio::test]
async fn claims_take_the_oldest_job_of_the_pool_once_and_only_the_holder_completes_it() {
    let w = World::new();
    let mut ids = Vec::new();
    for (i, pool) in ["gpu", "default", "default"].into_iter().enumerate() {
        let body = json!({"type": "RUNNER_JOB", "params": {"pool": pool, "payload": {"n": i}}});
        let (status, job, _) = w
            .call_jobs(event("POST", "/api/jobs", &[], Some(&body.to_string())))
            .await;
        assert_eq!(status, 202);
        ids.push(job["id"].as_str().unwrap().to_string());
        w.clock.advance(chrono::Duration::seconds(1));
    }
    let (a, token_a) = register(&w, "runner-a", "default").await;
    let (b, token_b) = register(&w, "runner-b", "default").await;
    let (_, first) = runner_call(&w, &format!("/api/runners/{a}/claim"), &token_a, None).await;
    let (_, second) = runner_call(&w, &format!("/api/runners/{b}/claim"), &token_b, None).await;
    assert_eq!(
        (
            first["id"].as_str().unwrap(),
            second["id"].as_str().unwrap()
        ),
        (ids[1].as_str(), ids[2].as_str())
    );
    let (status, _) = runner_call(&w, &format!("/api/runners/{a}/claim"), &token_a, None).await;
    assert_eq!(status, 204, "the gpu pool's job is not for this pool");

    let path = format!("/api/runners/{b}/jobs/{}/complete", ids[1]);
    let (status, _) = runner_call(&w, &path, &token_b, Some(json!({"status": "SUCCESS"}))).await;
    assert_eq!(status, 409, "runner b does not hold that job");
    let path = format!("/api/runners/{a}/jobs/{}/complete", ids[1]);
    let (status, done) = runner_call(
        &w,
        &path,
        &token_a,
        Some(json!({"status": "FAILED", "error": "exit 2"})),
    )
    .await;
    assert_eq!((status, done["status"].clone()), (200, json!("FAILED")));
    assert_eq!(w.job(&ids[1]).await.error.unwrap().message, "exit 2");
    assert_eq!(w.job(&ids[2]).await.status, JobStatus::Running);
}

#[tokio::test]
async fn a_pool_belongs_to_its_owner_runners_of_another_claim_none_of_its_jobs() {
    let w = World::new();
    let body = json!({"type": "RUNNER_JOB", "params": {"pool": "default", "payload": {}}});
    let (_, theirs, _) = w
        .call_jobs(event(
            "POST",
            "/api/jobs",
            &[("X-Organization-Id", "org-2")],
            Some(&body.to_string()),
        ))
        .await;
    // The same runner name under two owners is two runners.
    let (mine, my_token) = register(&w, "runner-a", "default").await;
    let (other, other_token) = register_for(&w, "org-2", "runner-a", "default").await;
    assert_ne!(mine, other);
    let (status, _) = runner_call(&w, &format!("/api/runners/{mine}/claim"), &my_token, None).await;
    assert_eq!(status, 204, "org-2's job is not in org-1's pool");
    let (status, claimed) = runner_call(
        &w,
        &format!("/api/runners/{other}/claim"),
        &other_token,
        None,
    )
    .await;
    assert_eq!((status, claimed["id"].clone()), (200, theirs["id"].clone()));
    // An owner is required, and must be one.
    let admin = format!("Bearer {}", w.admin_token.expose());
    for body in [
        json!({"name": "runner-c"}),
        json!({"name": "runner-c", "owner": "a/b"}),
    ] {
        let (status, answer) = w
            .call_runners(event(
                "POST",
                "/api/runners/register",
                &[("Authorization", &admin)],
                Some(&body.to_string()),
            ))
            .await;
        assert_eq!(
            (status, answer["error"]["field"].clone()),
            (400, json!("owner"))
        );
    }
}

async fn submit_runner_job(w: &World) -> String {
    let body = json!({"type": "RUNNER_JOB", "params": {"payload": {"script": "make"}}});
    let (status, job, _) = w
        .call_jobs(event("POST", "/api/jobs", &[], Some(&body.to_string())))
        .await;
    assert_eq!(status, 202);
    job["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_runner_that_stops_heartbeating_loses_its_jobs_once_to_the_pools_other_runners() {
    let w = World::new();
    let job_id = submit_runner_job(&w).await;
    let (a, token_a) = register(&w, "runner-a", "default").await;
    let (b, token_b) = register(&w, "runner-b", "default").await;
    let (_, claimed) = runner_call(&w, &format!("/api/runners/{a}/claim"), &token_a, None).await;
    assert_eq!(claimed["id"], job_id.as_str());

    // Within the TTL nothing moves; B keeps heartbeating, A falls silent.
    w.clock.advance(chrono::Duration::seconds(60));
    runner_call(&w, &format!("/api/runners/{b}/heartbeat"), &token_b, None).await;
    let out = jobs_handlers::leases::expire(&w.runners_api().leases(), json!({}))
        .await
        .unwrap();
    assert_eq!(out["released"], json!([]));
    w.clock.advance(chrono::Duration::seconds(40));
    runner_call(&w, &format!("/api/runners/{b}/heartbeat"), &token_b, None).await;
    let out = jobs_handlers::leases::expire(&w.runners_api().leases(), json!({}))
        .await
        .unwrap();
    assert_eq!(out["released"], json!([job_id]));
    let again = jobs_handlers::leases::expire(&w.runners_api().leases(), json!({}))
        .await
        .unwrap();
    assert_eq!(again["released"], json!([]), "released exactly once");
    let job = w.job(&job_id).await;
    assert_eq!(
        (job.status, job.requeues, job.runner_id),
        (JobStatus::Queued, 1, None)
    );

    let (_, reclaimed) = runner_call(&w, &format!("/api/runners/{b}/claim"), &token_b, None).await;
    assert_eq!(reclaimed["id"], job_id.as_str());
    let late = runner_call(
        &w,
        &format!("/api/runners/{a}/jobs/{job_id}/complete"),
        &token_a,
        Some(json!({"status": "SUCCESS"})),
    )
    .await;
    assert_eq!(late.0, 409, "A no longer holds it");
    let path = format!("/api/runners/{b}/jobs/{job_id}/complete");
    let done = json!({"status": "SUCCESS", "result": {"exit": 0}});
    let (status, _) = runner_call(&w, &path, &token_b, Some(done.clone())).await;
    assert_eq!(status, 200);
    let version = w.job(&job_id).await.version;
    let (status, body) = runner_call(&w, &path, &token_b, Some(done)).await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("SUCCESS")),
        "the same outcome again answers 200"
    );
    assert_eq!(
        w.job(&job_id).await.version,
        version,
        "and is recorded once"
    );
    let (status, _) = runner_call(&w, &path, &token_b, Some(json!({"status": "FAILED"}))).await;
    assert_eq!(status, 409, "another outcome is refused");
}

#[tokio::test]
async fn a_job_claimed_within_the_ttl_stays_even_when_the_sweeper_saw_the_runner_silent() {
    let w = World::new();
    submit_runner_job(&w).await;
    submit_runner_job(&w).await;
    let (a, token_a) = register(&w, "runner-a", "default").await;
    let (_, claimed) = runner_call(&w, &format!("/api/runners/{a}/claim"), &token_a, None).await;
    let first = claimed["id"].as_str().unwrap().to_string();
    let silent_since = w.runners.get(&a).await.unwrap().unwrap().last_heartbeat_at;
    w.clock.advance(chrono::Duration::seconds(95));
    let (_, claimed) = runner_call(&w, &format!("/api/runners/{a}/claim"), &token_a, None).await;
    let second = claimed["id"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    // The sweeper read the runner before that claim touched it: to the
    // sweeper it is silent past the TTL. The claim itself is a sign of life.
    let mut stale = w.runners.get(&a).await.unwrap().unwrap();
    let version = stale.version;
    stale.last_heartbeat_at = silent_since;
    w.runners.update(&stale, version).await.unwrap();
    let out = jobs_handlers::leases::expire(&w.runners_api().leases(), json!({}))
        .await
        .unwrap();
    assert_eq!(
        out["released"],
        json!([first]),
        "only the job claimed before the TTL"
    );
    assert_eq!(w.job(&second).await.status, JobStatus::Running);
    // Silent for a whole TTL after its claim, the runner loses that one too.
    w.clock.advance(chrono::Duration::seconds(91));
    let out = jobs_handlers::leases::expire(&w.runners_api().leases(), json!({}))
        .await
        .unwrap();
    assert_eq!(out["released"], json!([second]));
}

#[tokio::test]
async fn removing_a_runner_releases_its_jobs_and_a_job_requeued_too_often_fails() {
    let w = World::new();
    let job_id = submit_runner_job(&w).await;
    let admin = format!("Bearer {}", w.admin_token.expose());
    for round in 0..=jobs_domain::runner::MAX_REQUEUES {
        let (id, token) = register(&w, &format!("runner-{round}"), "default").await;
        let (status, _) = runner_call(&w, &format!("/api/runners/{id}/claim"), &token, None).await;
        assert_eq!(status, 200, "round {round}");
        let (status, _) = w
            .call_runners(event(
                "DELETE",
                &format!("/api/runners/{id}"),
                &[("Authorization", &admin)],
                None,
            ))
            .await;
        assert_eq!(status, 204);
    }
    let job = w.job(&job_id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().code, "REQUEUE_LIMIT");
}
