//! The event-driven handlers alone: the scheduled refresh starts one
//! FETCH_RESOURCES per identity and tick, and the reconciler fails a job
//! whose execution ended without reporting it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::{Job, JobStatus, JobType};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Clock, JobStore};
use jobs_handlers::schedule::{reconcile, refresh_all, start_unstarted};
use serde_json::json;

#[tokio::test]
async fn one_refresh_per_identity_and_tick() {
    let w = World::new();
    w.identity("acme").await;
    w.identity("globex").await;
    let tick = json!({"time": "2030-01-01T06:00:00Z"});
    let out = refresh_all(&w.job_api(), tick.clone()).await.unwrap();
    assert_eq!(out["jobs"].as_array().unwrap().len(), 2);
    refresh_all(&w.job_api(), tick).await.unwrap();
    assert_eq!(
        w.starter.started().len(),
        2,
        "the same tick again starts nothing"
    );
    refresh_all(&w.job_api(), json!({"time": "2030-01-01T07:00:00Z"}))
        .await
        .unwrap();
    assert_eq!(w.starter.started().len(), 4);
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
    let out = reconcile(&w.job_api(), event.clone()).await.unwrap();
    assert_eq!(out["changed"], true);
    let failed = w.job(&job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.unwrap().code, "EXECUTION_ABORTED");
    assert!(failed.steps.iter().all(|s| s.ended_at.is_some()));
    let out = reconcile(&w.job_api(), event).await.unwrap();
    assert_eq!(out["changed"], false, "a job already ended is left alone");
    let missing = jobs_domain::job::new_job_id();
    let out = reconcile(
        &w.job_api(),
        json!({"detail": {"name": missing, "status": "FAILED"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["changed"].clone(), out["reason"].clone()),
        (json!(false), json!("no such job"))
    );
    let out = reconcile(
        &w.job_api(),
        json!({"detail": {"name": "not-a-job", "status": "FAILED"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["changed"], false);
    let out = reconcile(
        &w.job_api(),
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
    let mut job = Job::new(job_type, params, w.clock.now());
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
    let out = start_unstarted(&w.job_api(), json!({})).await.unwrap();
    assert_eq!(
        out["started"],
        json!([]),
        "within the grace period it may still be starting"
    );

    w.clock.advance(chrono::Duration::seconds(121));
    let out = start_unstarted(&w.job_api(), json!({})).await.unwrap();
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
    let out = start_unstarted(&w.job_api(), json!({})).await.unwrap();
    assert_eq!(out["started"], json!([]));
}
