//! Time: Wait states, task TimeoutSeconds and the execution's
//! TimeoutSeconds, all in virtual time.
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

use chrono::{DateTime, Utc};
use serde_json::json;
use sfn_local::service::Status;

use common::{CLOCK_START, Harness, details, lambdas, sleeps_then_sets};

/// Spec "Wait State": Seconds, SecondsPath, Timestamp and TimestampPath. The
/// test clock starts at 2030-01-01T00:00:00Z (virtual time), so the waits
/// end 10 s, 30 s, 100 s (the literal timestamp 00:01:40) and 180 s (the
/// timestamp 00:03:00 from the input) after the start.
#[tokio::test(start_paused = true)]
async fn wait_states_wait_in_virtual_time() {
    let real = std::time::Instant::now();
    let run = Harness::plain()
        .run(
            "wait_states",
            json!({"seconds": 20, "until": "2030-01-01T00:03:00Z"}),
        )
        .await;
    assert_eq!(
        run.output(),
        json!({"seconds": 20, "until": "2030-01-01T00:03:00Z"})
    );
    assert_eq!(
        run.start.to_rfc3339(),
        CLOCK_START.parse::<DateTime<Utc>>().unwrap().to_rfc3339()
    );
    let ends: Vec<f64> = [
        "TenSeconds",
        "FromPath",
        "UntilTimestamp",
        "UntilTimestampPath",
    ]
    .iter()
    .map(|s| run.at(run.exited(s)))
    .collect();
    assert_eq!(ends, [10.0, 30.0, 100.0, 180.0]);
    assert!(real.elapsed() < Duration::from_secs(10), "no real sleeping");
}

/// Spec "Task State" (TimeoutSeconds, TimeoutSecondsPath) and "Errors"
/// (States.Timeout): a task running longer fails with States.Timeout after
/// exactly that many seconds, and the handler is cancelled (it never gets to
/// set its flag).
#[tokio::test(start_paused = true)]
async fn task_timeouts_raise_states_timeout() {
    let flag = Arc::new(AtomicBool::new(false));
    let h = Harness::new(lambdas(vec![("sleepy", sleeps_then_sets(flag.clone()))]));
    let run = h.run("task_timeout", json!({})).await;
    let (error, _) = run.failure();
    assert_eq!(error, "States.Timeout");
    let timed_out = run.of_type("TaskTimedOut");
    assert_eq!(timed_out.len(), 1, "{}", run.dump());
    assert_eq!(run.at(timed_out[0]), 5.0);
    assert_eq!(details(timed_out[0])["error"], json!("States.Timeout"));

    let run = h.run("task_timeout_path", json!({"timeout": 7})).await;
    let out = run.output();
    assert_eq!(out["timeout"], json!(7));
    assert_eq!(out["error"]["Error"], json!("States.Timeout"));
    assert_eq!(run.at(run.of_type("TaskTimedOut")[0]), 7.0);

    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(
        !flag.load(Ordering::SeqCst),
        "a timed-out handler is cancelled"
    );
}

/// Spec "Top-level fields" (TimeoutSeconds) and AWS DescribeExecution: an
/// execution that runs longer than its TimeoutSeconds ends TIMED_OUT with an
/// ExecutionTimedOut event.
#[tokio::test(start_paused = true)]
async fn execution_timeout_ends_timed_out() {
    let run = Harness::plain().run("execution_timeout", json!({})).await;
    assert_eq!(run.state.status, Status::TimedOut, "{}", run.dump());
    assert_eq!(run.state.error.as_deref(), Some("States.Timeout"));
    let last = run.last();
    assert_eq!(last.event_type, "ExecutionTimedOut");
    assert_eq!(run.at(last), 30.0);
    assert_eq!(details(last)["error"], json!("States.Timeout"));
}
