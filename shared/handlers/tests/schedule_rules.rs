//! The event-driven handlers alone: the scheduled refresh starts one
//! FETCH_RESOURCES per identity and tick, and the reconciler fails a job
//! whose execution ended without reporting it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::JobStatus;
use jobs_domain::params::JobParams;
use jobs_handlers::schedule::{reconcile, refresh_all};
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
