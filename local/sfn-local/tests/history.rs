//! Execution histories: AWS event names and detail shapes, ids and
//! previousEventId chaining, including inside Map and Parallel.
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

use serde_json::{Value, json};
use sfn_local::history::HistoryEvent;
use sfn_local::integrations::lambda::function;

use common::{Harness, details, double, echo, function_error, lambdas};

/// AWS API reference, GetExecutionHistory / HistoryEvent: event type names,
/// ids from 1, previousEventId chaining and the `*EventDetails` shapes.
#[tokio::test(start_paused = true)]
async fn history_events_have_aws_names_shapes_and_chaining() {
    let h = Harness::new(lambdas(vec![("echo", echo())]));
    let input = json!({"fn": "echo", "payload": {"a": 1}});
    let run = h.run("lambda_invoke", input.clone()).await;
    assert_eq!(
        run.types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = run.events.iter().map(|e| e.id).collect();
    let prev: Vec<u64> = run.events.iter().map(|e| e.previous_event_id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(prev, [0, 1, 2, 3, 4, 5, 6]);

    let api: Vec<Value> = run.events.iter().map(|e| e.to_json(true)).collect();
    let keys = |v: &Value, field: &str| -> Vec<String> {
        let mut k: Vec<String> = v[field].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&api[0], "executionStartedEventDetails"),
        ["input", "inputDetails", "roleArn"]
    );
    assert_eq!(
        serde_json::from_str::<Value>(
            api[0]["executionStartedEventDetails"]["input"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        input
    );
    assert_eq!(
        api[0]["executionStartedEventDetails"]["roleArn"],
        json!(common::ROLE_ARN)
    );
    assert_eq!(
        keys(&api[1], "stateEnteredEventDetails"),
        ["input", "inputDetails", "name"]
    );
    assert_eq!(api[1]["stateEnteredEventDetails"]["name"], json!("Invoke"));
    assert_eq!(
        keys(&api[2], "taskScheduledEventDetails"),
        ["parameters", "region", "resource", "resourceType"]
    );
    assert_eq!(
        api[2]["taskScheduledEventDetails"]["resourceType"],
        json!("lambda")
    );
    assert_eq!(
        api[2]["taskScheduledEventDetails"]["resource"],
        json!("invoke")
    );
    assert_eq!(
        api[2]["taskScheduledEventDetails"]["region"],
        json!("us-east-1")
    );
    assert_eq!(
        keys(&api[3], "taskStartedEventDetails"),
        ["resource", "resourceType"]
    );
    assert_eq!(
        keys(&api[4], "taskSucceededEventDetails"),
        ["output", "outputDetails", "resource", "resourceType"]
    );
    assert_eq!(
        keys(&api[5], "stateExitedEventDetails"),
        ["name", "output", "outputDetails"]
    );
    assert_eq!(
        keys(&api[6], "executionSucceededEventDetails"),
        ["output", "outputDetails"]
    );
    for ev in &api {
        assert!(ev["timestamp"].is_f64(), "epoch seconds: {ev}");
        assert!(ev["type"].is_string());
    }
    // includeExecutionData = false drops the data fields.
    let bare = run.events[2].to_json(false);
    assert!(
        bare["taskScheduledEventDetails"]
            .get("parameters")
            .is_none()
    );
}

/// AWS API reference, HistoryEvent: a failing task ends with TaskFailed
/// (error, cause) and ExecutionFailed chained to it.
#[tokio::test(start_paused = true)]
async fn failure_history_is_chained() {
    let h = Harness::new(lambdas(vec![(
        "fails",
        function(|_p: Value| async move { Err(function_error("Custom.X", "bad")) }),
    )]));
    let run = h
        .run("lambda_invoke", json!({"fn": "fails", "payload": {}}))
        .await;
    assert_eq!(
        run.types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "ExecutionFailed"
        ]
    );
    let last = run.last();
    assert_eq!(last.previous_event_id, run.of_type("TaskFailed")[0].id);
    assert_eq!(details(last)["error"], json!("Custom.X"));
    let last_details = details(last);
    let mut keys: Vec<&String> = last_details.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["cause", "error"]);
}

/// AWS API reference, HistoryEvent (MapStateStarted, MapIteration*,
/// Parallel*): each event's previousEventId names an earlier event; the
/// first state of an iteration follows its MapIterationStarted.
#[tokio::test(start_paused = true)]
async fn map_and_parallel_history_chaining() {
    let h = Harness::new(lambdas(vec![("double", double())]));
    let run = h
        .run("all_state_types", json!({"n": 1, "items": [1, 2]}))
        .await;
    run.output();
    for (i, ev) in run.events.iter().enumerate() {
        assert_eq!(ev.id, i as u64 + 1);
        assert!(ev.previous_event_id < ev.id, "{}", run.dump());
    }
    for it in run.of_type("MapIterationStarted") {
        let started = run.of_type("MapStateStarted")[0];
        assert_eq!(it.previous_event_id, started.id);
        let first = run
            .events
            .iter()
            .find(|e| e.previous_event_id == it.id)
            .unwrap_or_else(|| panic!("nothing follows iteration {}\n{}", it.id, run.dump()));
        assert_eq!(first.event_type, "PassStateEntered");
    }
    for t in [
        "ParallelStateStarted",
        "ParallelStateSucceeded",
        "MapStateStarted",
        "MapIterationSucceeded",
        "MapStateSucceeded",
    ] {
        assert!(run.count(t) >= 1, "{t}\n{}", run.dump());
    }
    let branch_entries: Vec<&HistoryEvent> = run
        .events
        .iter()
        .filter(|e| e.detail("name") == Some("Left") || e.detail("name") == Some("Right"))
        .filter(|e| e.event_type == "PassStateEntered")
        .collect();
    let parallel_started = run.of_type("ParallelStateStarted")[0];
    for e in branch_entries {
        assert_eq!(e.previous_event_id, parallel_started.id);
    }
}
