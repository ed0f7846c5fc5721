//! Executions as the service runs them: StopExecution, StartExecution's
//! name idempotency, waiting for an execution that already ended, and
//! loading every testdata definition.
//!
//! Through the public API, with the harness of `common`: definitions from
//! `testdata/*.asl.json` (which asl-validator checks), executions awaited and
//! their histories inspected. Tests that involve time run with Tokio's paused
//! clock (`start_paused = true`), so nothing sleeps in real time and history
//! timestamps follow the virtual clock. Each test cites where its expected
//! values come from: "spec" is the Amazon States Language specification
//! (states-language.net), "AWS" the Step Functions developer guide or API
//! reference.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use sfn_local::service::Status;

use common::{Harness, ROLE_ARN, details, lambdas, sleeps_then_sets, testdata};

/// AWS API reference, StopExecution: the execution ends ABORTED with the
/// request's error and cause, recorded in ExecutionAborted; a running task's
/// handler is cancelled.
#[tokio::test(start_paused = true)]
async fn stop_execution_aborts_with_error_and_cause() {
    let flag = Arc::new(AtomicBool::new(false));
    let h = Harness::new(lambdas(vec![("sleepy", sleeps_then_sets(flag.clone()))]));
    let machine = h.create("long", &testdata("long_wait"));
    let arn = h.start(&machine, None, &json!({})).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    h.service
        .stop_execution(
            &json!({"executionArn": arn, "error": "Operator.Stop", "cause": "no longer needed"}),
        )
        .await
        .unwrap();
    let run = h.finish(&arn).await;
    assert_eq!(run.state.status, Status::Aborted);
    assert_eq!(run.state.error.as_deref(), Some("Operator.Stop"));
    assert_eq!(run.state.cause.as_deref(), Some("no longer needed"));
    assert_eq!(
        run.types(),
        ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    );
    let last = run.last();
    assert_eq!(details(last)["error"], json!("Operator.Stop"));
    assert_eq!(details(last)["cause"], json!("no longer needed"));
    assert_eq!(run.at(last), 10.0);

    // Stopping while a Lambda handler runs cancels the handler.
    let machine = h.create("slow-task", &testdata("task_timeout"));
    let arn = h.start(&machine, None, &json!({})).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.service
        .stop_execution(&json!({"executionArn": arn}))
        .await
        .unwrap();
    assert_eq!(h.finish(&arn).await.state.status, Status::Aborted);
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(!flag.load(Ordering::SeqCst), "the handler was cancelled");
}

/// AWS API reference, StartExecution: "If StartExecution is called with the
/// same name and input as a running execution, the call succeeds and return
/// the same response as the original request. If the execution is closed or
/// if the input is different, it returns a 400 ExecutionAlreadyExists error."
#[tokio::test(start_paused = true)]
async fn start_execution_name_idempotency() {
    let h = Harness::plain();
    let machine = h.create("idem", &testdata("long_wait"));
    let input = json!({"a": 1});
    let first = h.start(&machine, Some("job-1"), &input).unwrap();
    let again = h.start(&machine, Some("job-1"), &input).unwrap();
    assert_eq!(first, again);
    let err = h
        .start(&machine, Some("job-1"), &json!({"a": 2}))
        .unwrap_err();
    assert_eq!(err.code(), "ExecutionAlreadyExists");
    h.service
        .stop_execution(&json!({"executionArn": first}))
        .await
        .unwrap();
    let err = h.start(&machine, Some("job-1"), &input).unwrap_err();
    assert_eq!(
        err.code(),
        "ExecutionAlreadyExists",
        "closed executions keep their name"
    );
    assert_eq!(
        h.start(&machine, Some("bad name"), &input)
            .unwrap_err()
            .code(),
        "InvalidName"
    );
}

/// Waiting for an execution that already finished, with nobody waiting
/// while it ran, answers at once (the service's `wait`, used by
/// StopExecution and by the local stack, must not miss the end).
#[tokio::test(start_paused = true)]
async fn waiting_for_an_execution_that_already_ended_returns_at_once() {
    let h = Harness::plain();
    let machine = h.create("hello", &testdata("hello"));
    let arn = h.start(&machine, None, &json!({"who": "nobody"})).unwrap();
    let exec = h.service.execution(&arn).unwrap();
    // Let it run to its end with no one subscribed.
    while exec.state().status == Status::Running {
        tokio::task::yield_now().await;
    }
    let state = tokio::time::timeout(Duration::from_secs(60), exec.wait())
        .await
        .expect("wait() returns for a finished execution");
    assert_eq!(state.status, Status::Succeeded);
    let stopped = tokio::time::timeout(
        Duration::from_secs(60),
        h.service.stop_execution(&json!({"executionArn": arn})),
    )
    .await
    .expect("stopping a finished execution returns");
    assert!(stopped.is_ok());
}

/// Every definition in testdata (the files asl-validator checks) is also
/// accepted by the engine's own CreateStateMachine validation, and
/// `load_definitions` names each machine after its file.
#[tokio::test(start_paused = true)]
async fn every_testdata_definition_loads() {
    let h = Harness::plain();
    let names = sfn_local::load_definitions(&h.service, &common::testdata_dir(), ROLE_ARN).unwrap();
    assert!(names.len() >= 40, "{names:?}");
    assert!(names.contains(&"io_order".to_string()));
    let listed = h
        .service
        .list_state_machines(&json!({"maxResults": 1000}))
        .unwrap();
    assert_eq!(
        listed["stateMachines"].as_array().unwrap().len(),
        names.len()
    );
}
