//! Retry and Catch: backoff delays, MaxDelaySeconds, defaults, jitter,
//! MaxAttempts 0, retriers before catchers, and States.TaskFailed as a
//! wildcard.
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

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sfn_local::integrations::lambda::function;

use common::{Harness, flaky, function_error, lambdas, sleeps_then_sets};

/// Spec "Retrying after an error": delay before retry n = IntervalSeconds ×
/// BackoffRate^(n−1); `$$.State.RetryCount` counts the retries (AWS
/// "Context object"). Interval 1, rate 2, three failures → the gaps between
/// TaskScheduled events are exactly 1, 2 and 4 s of virtual time.
#[tokio::test(start_paused = true)]
async fn retry_backs_off_exponentially() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(3, calls.clone()))]));
    let run = h.run("retry_backoff", json!({})).await;
    assert_eq!(run.output()["Payload"], json!({"retry": 3}));
    assert_eq!(run.gaps_ms("TaskScheduled"), [1000, 2000, 4000]);
    assert_eq!(
        *calls.lock().unwrap(),
        [
            json!({"retry": 0}),
            json!({"retry": 1}),
            json!({"retry": 2}),
            json!({"retry": 3})
        ]
    );
    assert_eq!(run.count("TaskFailed"), 3);
    assert_eq!(
        run.count("TaskStateEntered"),
        1,
        "retries stay in the state"
    );
}

/// AWS "Handling errors" (Retrier fields): MaxDelaySeconds caps the delay:
/// interval 1, rate 3, cap 5 → 1, 3, 5, 5; after MaxAttempts (4) the error
/// fails the execution.
#[tokio::test(start_paused = true)]
async fn retry_delay_is_capped_by_max_delay_seconds() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(usize::MAX, calls.clone()))]));
    let run = h.run("retry_max_delay", json!({})).await;
    assert_eq!(run.error(), "Custom.Flaky");
    assert_eq!(run.gaps_ms("TaskScheduled"), [1000, 3000, 5000, 5000]);
    assert_eq!(calls.lock().unwrap().len(), 5);
}

/// Spec "Retrying after an error": defaults IntervalSeconds 1, MaxAttempts
/// 3, BackoffRate 2.0.
#[tokio::test(start_paused = true)]
async fn retry_defaults() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(usize::MAX, calls.clone()))]));
    let run = h.run("retry_defaults", json!({})).await;
    assert_eq!(run.error(), "Custom.Flaky");
    assert_eq!(run.gaps_ms("TaskScheduled"), [1000, 2000, 4000]);
}

/// AWS "Handling errors" (JitterStrategy): FULL randomises each delay in
/// [0, IntervalSeconds × BackoffRate^(n−1)].
#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_the_backoff_bounds() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(usize::MAX, calls.clone()))]));
    let run = h.run("retry_jitter", json!({})).await;
    assert_eq!(run.error(), "Custom.Flaky");
    let gaps = run.gaps_ms("TaskScheduled");
    assert_eq!(gaps.len(), 3);
    for (gap, bound) in gaps.iter().zip([10_000, 20_000, 40_000]) {
        assert!(
            (0..=bound + 1).contains(gap),
            "gap {gap} ms outside [0, {bound}]"
        );
    }
    assert_ne!(gaps, [10_000, 20_000, 40_000], "the delays are randomised");
}

/// Spec "Retrying after an error": "A MaxAttempts value of zero is legal,
/// meaning the error should never be retried"; only the first retrier whose
/// ErrorEquals matches applies.
#[tokio::test(start_paused = true)]
async fn max_attempts_zero_never_retries() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(usize::MAX, calls.clone()))]));
    let run = h.run("retry_zero", json!({})).await;
    assert_eq!(run.error(), "Custom.Flaky");
    assert_eq!(calls.lock().unwrap().len(), 1);
}

/// Spec "Fallback states": retriers are used up before catchers; the first
/// catcher whose ErrorEquals matches wins; its ResultPath places
/// {"Error", "Cause"} on the state's raw input. AWS "Lambda": Cause is the
/// function's error document.
#[tokio::test(start_paused = true)]
async fn retriers_are_tried_before_catchers() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("flaky", flaky(usize::MAX, calls.clone()))]));
    let run = h.run("retry_then_catch", json!({"in": 1})).await;
    let out = run.output();
    assert_eq!(
        calls.lock().unwrap().len(),
        3,
        "1 attempt + 2 retries, then Catch"
    );
    assert_eq!(out["in"], json!(1));
    assert_eq!(out["error"]["Error"], json!("Custom.Flaky"));
    let cause: Value = serde_json::from_str(out["error"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(
        cause,
        json!({"errorType": "Custom.Flaky", "errorMessage": "try again"})
    );
    assert_eq!(run.entered_states(), ["Flaky", "Recovered"]);
}

/// Spec "Errors": States.TaskFailed in a catcher "acts as a wildcard that
/// matches any known error name except for States.Timeout".
#[tokio::test(start_paused = true)]
async fn task_failed_is_a_wildcard_except_for_timeouts() {
    let never = Arc::new(AtomicBool::new(false));
    let h = Harness::new(lambdas(vec![
        (
            "fails",
            function(|_p: Value| async move { Err(function_error("Any.Custom", "boom")) }),
        ),
        ("sleepy", sleeps_then_sets(never.clone())),
    ]));
    let run = h.run("catch_task_failed", json!({"fn": "fails"})).await;
    let out = run.output();
    assert_eq!(
        out["Error"],
        json!("Any.Custom"),
        "default ResultPath $ replaces the input"
    );
    assert_eq!(run.entered_states(), ["Call", "Caught"]);
    let run = h.run("catch_task_failed", json!({"fn": "sleepy"})).await;
    assert_eq!(run.error(), "States.Timeout");
}
