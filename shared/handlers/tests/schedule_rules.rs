//! The event-driven handlers alone: the scheduled refresh starts a bounded
//! batch of FETCH_RESOURCES, oldest first, one per identity and window,
//! none for an identity still being refreshed; the reconciler fails a job
//! whose execution ended without reporting it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::{Job, JobStatus, JobType};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Clock, IdentityStore, JobStore};
use jobs_handlers::schedule::{reconcile, refresh_all, start_unstarted};
use serde_json::json;

/// Ends every unfinished job SUCCESS, as their executions would.
async fn finish_all(w: &World) {
    for mut job in w.jobs.all() {
        if !job.status.is_terminal() {
            let v = job.version;
            job.status = JobStatus::Success;
            w.jobs.update(&job, v).await.unwrap();
        }
    }
}

fn identities_of(w: &World) -> Vec<String> {
    let jobs = w.jobs.all();
    w.starter
        .started()
        .iter()
        .map(|s| {
            let job = jobs.iter().find(|j| j.id == s.name).unwrap();
            job.params["cloud_identity_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn scheduled_refreshes_are_bounded_oldest_first_and_never_twice_at_once() {
    let w = World::new();
    // One identity of each provider: the scheduler treats them alike.
    w.identity("acme").await;
    for (id, body) in [
        (
            "globex",
            json!({"provider": "gcp", "project_id": "globex-prod", "project_number": "123456789012", "workload_identity_pool_id": "alethia-pool", "workload_identity_provider_id": "aws-platform", "regions": "all"}),
        ),
        (
            "initech",
            json!({"provider": "azure", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "00000000-1111-2222-3333-444444444444", "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "client_secret": "Xy8Q~a.client-secret_value0123456789abcdef"}),
        ),
    ] {
        let (status, _, _) = w
            .call_jobs(event(
                "PUT",
                &format!("/api/cloud-identities/{id}"),
                &[],
                Some(&body.to_string()),
            ))
            .await;
        assert_eq!(status, 201);
    }
    // globex was fetched long ago, initech recently, acme never.
    let fetched = |h: u32| {
        let mut inv = jobs_domain::inventory::Inventory {
            fetched_at: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2029, 12, 31, h, 0, 0)
                .unwrap(),
            account_id: "111122223333".into(),
            regions: vec![],
            resources: Default::default(),
            outcomes: vec![],
        };
        inv.regions.clear();
        inv
    };
    w.identities
        .save_inventory(OWNER, "globex", &fetched(1))
        .await
        .unwrap();
    w.identities
        .save_inventory(OWNER, "initech", &fetched(9))
        .await
        .unwrap();
    let mut deps = w.job_api().schedule();
    deps.refresh_batch = 2;

    let tick = json!({"time": "2030-01-01T06:00:00Z"});
    let first = refresh_all(&deps, tick.clone()).await.unwrap();
    assert_eq!(
        identities_of(&w),
        ["acme", "globex"],
        "never-fetched, then oldest"
    );
    // The same window again gives the same jobs and starts nothing.
    let again = refresh_all(&deps, tick.clone()).await.unwrap();
    assert_eq!(again["jobs"], first["jobs"]);
    assert_eq!(w.starter.started().len(), 2);

    // The next window skips what is still running and takes the rest.
    let next = refresh_all(&deps, json!({"time": "2030-01-01T07:00:00Z"}))
        .await
        .unwrap();
    assert_eq!(next["skipped_in_flight"], 2);
    assert_eq!(identities_of(&w), ["acme", "globex", "initech"]);

    // Once they finish (fetched in the 06:00 window), that window repeated
    // still answers its own two jobs.
    finish_all(&w).await;
    let mut late = fetched(0);
    late.fetched_at =
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2030, 1, 1, 6, 5, 0).unwrap();
    w.identities
        .save_inventory(OWNER, "acme", &late)
        .await
        .unwrap();
    w.identities
        .save_inventory(OWNER, "globex", &late)
        .await
        .unwrap();
    let replay = refresh_all(&deps, tick).await.unwrap();
    assert_eq!(replay["jobs"], first["jobs"]);
    assert_eq!(w.starter.started().len(), 3);
    assert!(
        w.starter
            .started()
            .iter()
            .all(|s| s.state_machine == "fetch_resources")
    );
}

#[tokio::test]
async fn an_execution_that_ended_unreported_fails_its_job_once() {
    let w = World::new();
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    w.service()
        .begin(&job.id, "DiscoverResources")
        .await
        .unwrap();
    let event = json!({"detail": {"name": job.id, "status": "ABORTED", "error": "", "cause": ""}});
    let out = reconcile(&w.job_api().schedule(), event.clone())
        .await
        .unwrap();
    assert_eq!(out["changed"], true);
    let failed = w.job(&job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.unwrap().code, "EXECUTION_ABORTED");
    assert!(failed.steps.iter().all(|s| s.ended_at.is_some()));
    let out = reconcile(&w.job_api().schedule(), event).await.unwrap();
    assert_eq!(out["changed"], false, "a job already ended is left alone");
    let missing = jobs_domain::job::new_job_id();
    let out = reconcile(
        &w.job_api().schedule(),
        json!({"detail": {"name": missing, "status": "FAILED"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["changed"].clone(), out["reason"].clone()),
        (json!(false), json!("no such job"))
    );
    let out = reconcile(
        &w.job_api().schedule(),
        json!({"detail": {"name": "not-a-job", "status": "FAILED"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["changed"], false);
    let out = reconcile(
        &w.job_api().schedule(),
        json!({"detail": {"name": job.id, "status": "SUCCEEDED"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["changed"], false);
}

/// A job written, then its StartExecution lost (the process died between).
async fn lost_start(w: &World, job_type: JobType) -> Job {
    let params = match job_type {
        JobType::RunnerJob => json!({"pool": "default", "payload": {}}),
        _ => json!({"cloud_identity_id": "acme"}),
    };
    let mut job = Job::new(OWNER, job_type, params, w.clock.now());
    if job_type == JobType::RunnerJob {
        job.pool = Some("default".into());
    }
    w.jobs.create(&job, None).await.unwrap();
    job
}

#[tokio::test]
async fn the_sweeper_starts_a_job_whose_start_was_lost_once_it_waited_long_enough() {
    let w = World::new();
    let lost = lost_start(&w, JobType::FetchResources).await;
    let runner_job = lost_start(&w, JobType::RunnerJob).await;
    let out = start_unstarted(&w.job_api().schedule(), json!({}))
        .await
        .unwrap();
    assert_eq!(
        out["started"],
        json!([]),
        "within the grace period it may still be starting"
    );

    w.clock.advance(chrono::Duration::seconds(121));
    let out = start_unstarted(&w.job_api().schedule(), json!({}))
        .await
        .unwrap();
    assert_eq!(out["started"], json!([lost.id]));
    let started = w.starter.started();
    assert_eq!(
        (started.len(), started[0].state_machine.as_str()),
        (1, "fetch_resources")
    );
    assert_eq!(started[0].input, json!({"job_id": lost.id}));
    assert_eq!(
        w.job(&runner_job.id).await.status,
        JobStatus::Queued,
        "runners claim runner jobs"
    );

    // Once its execution marked it RUNNING the sweeper leaves it alone.
    let svc = w.service();
    svc.modify(&lost.id, |j| {
        j.status = JobStatus::Running;
        j.execution_arn = Some("arn:x".into());
        Ok(jobs_handlers::job_service::Write::Yes)
    })
    .await
    .unwrap();
    let out = start_unstarted(&w.job_api().schedule(), json!({}))
        .await
        .unwrap();
    assert_eq!(out["started"], json!([]));
}
