//! One lifecycle job per worker at a time, in submission order, on
//! in-memory ports: jobs join their worker's line when created, AwaitTurn
//! lets the first one through when the worker is free, and a job gives the
//! worker up when it ends, however it ends.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::JobStatus;
use jobs_handlers::schedule::reconcile;
use jobs_handlers::steps::{AwaitTurn, MarkRunning, ReportFailure, ReportSuccess};
use serde_json::{Value, json};

async fn submit(w: &World, job_type: &str, params: Value) -> (u16, Value) {
    let body = json!({"type": job_type, "params": params}).to_string();
    let (status, job, _) = w
        .call_jobs(event("POST", "/api/jobs", &[], Some(&body)))
        .await;
    (status, job)
}

async fn mark_running(w: &World, id: &str) {
    w.run::<MarkRunning>(json!({"job_id": id, "execution_arn": format!("arn:aws:states:us-east-1:123456789012:execution:m:{id}")}))
        .await
        .unwrap();
}

async fn turn(w: &World, id: &str) -> Value {
    w.run::<AwaitTurn>(json!({"job_id": id, "step": "AwaitTurn"}))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_later_job_of_the_same_worker_waits_for_the_earlier_and_runs_in_order() {
    let w = World::new();
    let (status, deploy) = submit(
        &w,
        "DEPLOY_WORKER",
        json!({"name": "runner-1", "region": "eu-west-1"}),
    )
    .await;
    assert_eq!(status, 202);
    // DESTROY submitted before the DEPLOY created the worker: accepted, it
    // waits its turn (and then destroys what the DEPLOY created).
    let (status, destroy) = submit(&w, "DESTROY_WORKER", json!({"name": "runner-1"})).await;
    assert_eq!(status, 202, "{destroy}");
    let (status, update) = submit(&w, "UPDATE_WORKER", json!({"name": "runner-1"})).await;
    assert_eq!(status, 202, "{update}");
    let (deploy, destroy, update) = (
        deploy["id"].as_str().unwrap().to_string(),
        destroy["id"].as_str().unwrap().to_string(),
        update["id"].as_str().unwrap().to_string(),
    );
    for id in [&destroy, &update, &deploy] {
        mark_running(&w, id).await;
    }
    // The executions started out of order; the line is the submission order.
    assert_eq!(turn(&w, &destroy).await, json!({"turn": false, "ahead": 1}));
    assert_eq!(turn(&w, &deploy).await, json!({"turn": true, "ahead": 0}));
    assert_eq!(
        turn(&w, &destroy).await,
        json!({"turn": false, "ahead": 1}),
        "only the DEPLOY is ahead now"
    );
    assert_eq!(
        turn(&w, &deploy).await["turn"],
        true,
        "asking again keeps the worker"
    );

    // The DEPLOY ends: the DESTROY goes next, then the UPDATE.
    w.run::<ReportSuccess>(json!({"job_id": deploy}))
        .await
        .unwrap();
    assert_eq!(turn(&w, &update).await["turn"], false);
    assert_eq!(turn(&w, &destroy).await["turn"], true);
    w.run::<ReportFailure>(
        json!({"job_id": destroy, "error": {"Error": "Fatal.Terraform", "Cause": "x"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        turn(&w, &update).await["turn"],
        true,
        "a failed job gives the worker up too"
    );
}

#[tokio::test]
async fn a_job_whose_execution_died_gives_its_worker_up() {
    let w = World::new();
    let (_, first) = submit(
        &w,
        "DEPLOY_WORKER",
        json!({"name": "runner-1", "region": "eu-west-1"}),
    )
    .await;
    let (_, second) = submit(&w, "DESTROY_WORKER", json!({"name": "runner-1"})).await;
    let (first, second) = (
        first["id"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    );
    mark_running(&w, &first).await;
    mark_running(&w, &second).await;
    assert_eq!(turn(&w, &first).await["turn"], true);
    assert_eq!(turn(&w, &second).await["turn"], false);
    reconcile(
        &w.job_api().schedule(),
        json!({"detail": {"name": first, "status": "ABORTED"}}),
    )
    .await
    .unwrap();
    assert_eq!(w.job(&first).await.status, JobStatus::Failed);
    assert_eq!(turn(&w, &second).await["turn"], true);
}

#[tokio::test]
async fn a_job_that_could_not_start_leaves_the_line() {
    let w = World::new();
    w.starter
        .faults
        .fail_next("start", jobs_domain::StepError::unavailable("503"));
    let (status, _) = submit(
        &w,
        "DEPLOY_WORKER",
        json!({"name": "runner-1", "region": "eu-west-1"}),
    )
    .await;
    assert_eq!(status, 503);
    let (status, next) = submit(
        &w,
        "DEPLOY_WORKER",
        json!({"name": "runner-1", "region": "eu-west-1"}),
    )
    .await;
    assert_eq!(status, 202);
    let next = next["id"].as_str().unwrap().to_string();
    mark_running(&w, &next).await;
    assert_eq!(turn(&w, &next).await["turn"], true);
}
