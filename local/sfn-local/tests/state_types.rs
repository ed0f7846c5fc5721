//! Every state type on the happy path, and the Fail and Succeed states.
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

use serde_json::json;

use common::{Harness, double, lambdas};

/// Spec "State Types": one run through Pass, Choice, Wait, Task, Parallel,
/// Map and Succeed with each state's documented output.
#[tokio::test(start_paused = true)]
async fn every_state_type_on_the_happy_path() {
    let h = Harness::new(lambdas(vec![("double", double())]));
    let run = h
        .run("all_state_types", json!({"n": 4, "items": [1, 2, 3]}))
        .await;
    assert_eq!(
        run.output(),
        json!([1, 2, 3]),
        "Succeed applies its OutputPath"
    );
    assert_eq!(
        run.exited_output("Start"),
        json!({"n": 4, "items": [1, 2, 3], "pass": {"go": true}})
    );
    assert_eq!(run.exited_output("Call")["task"], json!({"doubled": 8}));
    assert_eq!(run.exited_output("Both")["parallel"], json!([8, "right"]));
    assert_eq!(run.exited_output("Each")["map"], json!([1, 2, 3]));
    for t in [
        "PassStateEntered",
        "ChoiceStateEntered",
        "WaitStateEntered",
        "TaskStateEntered",
        "ParallelStateEntered",
        "MapStateEntered",
        "SucceedStateEntered",
    ] {
        assert!(run.count(t) >= 1, "{t} missing\n{}", run.dump());
    }
    let wait_entered = run.of_type("WaitStateEntered")[0];
    let wait_exited = run.exited("Pause");
    assert_eq!(
        (wait_exited.timestamp - wait_entered.timestamp).num_seconds(),
        5
    );
}

/// Spec "Fail State": Error and Cause; AWS "Fail workflow state": ErrorPath
/// and CausePath (a reference path or an intrinsic returning a string).
#[tokio::test(start_paused = true)]
async fn fail_states_report_their_error_and_cause() {
    let h = Harness::plain();
    let run = h.run("fail_literal", json!({})).await;
    assert_eq!(
        run.failure(),
        (
            "Custom.Stopped".to_string(),
            "stopped on purpose".to_string()
        )
    );
    assert_eq!(
        run.types(),
        ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    );
    let run = h
        .run(
            "fail_paths",
            json!({"error": "Custom.FromInput", "what": "thing"}),
        )
        .await;
    assert_eq!(
        run.failure(),
        ("Custom.FromInput".to_string(), "bad thing".to_string())
    );
}

/// Spec "Succeed State": InputPath and OutputPath apply.
#[tokio::test(start_paused = true)]
async fn succeed_applies_input_and_output_paths() {
    let run = Harness::plain()
        .run("succeed_paths", json!({"a": {"b": {"c": 1}}, "z": 0}))
        .await;
    assert_eq!(run.output(), json!({"c": 1}));
}
