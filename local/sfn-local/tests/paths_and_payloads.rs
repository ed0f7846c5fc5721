//! Input and output processing: InputPath, Parameters, ResultSelector,
//! ResultPath and OutputPath in AWS's order, `null` paths, payload templates
//! with the context object, the errors of paths that match nothing, and the
//! 256 KiB payload limit.
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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sfn_local::integrations::lambda::function;

use common::{Harness, flaky, json_field, lambdas, ok, testdata};

/// Spec "Input and Output Processing" and AWS "Processing input and output
/// in Step Functions": InputPath → Parameters → task → ResultSelector (on the
/// raw result) → ResultPath (merged into the state's *raw* input) → OutputPath.
#[tokio::test(start_paused = true)]
async fn a_task_applies_the_six_processing_fields_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let h = Harness::new(lambdas(vec![(
        "double",
        function(move |p: Value| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(p.clone());
                ok(json!({"doubled": p["n"].as_i64().unwrap() * 2, "id": p["id"], "noise": "raw"}))
            }
        }),
    )]));
    let run = h
        .run(
            "io_order",
            json!({"job": {"id": "j-1", "size": 21}, "meta": {"keep": true}}),
        )
        .await;
    // OutputPath $.meta of the raw input with the selected result at $.meta.result.
    assert_eq!(
        run.output(),
        json!({"keep": true, "result": {"value": 42, "status": 200, "echo": "j-1"}})
    );
    // Parameters were evaluated against the InputPath selection ($.job).
    assert_eq!(
        *seen.lock().unwrap(),
        vec![json!({"n": 21, "id": "j-1", "fixed": "yes"})]
    );
    let scheduled = run.of_type("TaskScheduled")[0];
    assert_eq!(
        json_field(scheduled, "parameters"),
        json!({"FunctionName": "double", "Payload": {"n": 21, "id": "j-1", "fixed": "yes"}})
    );
    // TaskSucceeded records the raw result, before ResultSelector.
    let raw = json_field(run.of_type("TaskSucceeded")[0], "output");
    assert_eq!(
        raw["Payload"],
        json!({"doubled": 42, "id": "j-1", "noise": "raw"})
    );
}

/// Spec "Input and Output Processing": InputPath null → the effective input
/// is {}; ResultPath null → the result is discarded and the raw input passes
/// on; OutputPath null → the output is {}.
#[tokio::test(start_paused = true)]
async fn null_paths_discard_input_result_and_output() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let h = Harness::new(lambdas(vec![(
        "double",
        function(move |p: Value| {
            let c = c.clone();
            async move {
                c.lock().unwrap().push(p);
                ok(json!({"doubled": 2}))
            }
        }),
    )]));
    let run = h.run("null_paths", json!({"a": 1})).await;
    assert_eq!(
        run.exited_output("NullInputPath"),
        json!({"a": 1, "seen": {}})
    );
    assert_eq!(
        run.exited_output("NullResultPath"),
        json!({"a": 1, "seen": {}})
    );
    assert_eq!(
        run.exited_output("NullResultPathTask"),
        json!({"a": 1, "seen": {}})
    );
    assert_eq!(
        *calls.lock().unwrap(),
        vec![json!({"n": 1})],
        "the task still ran"
    );
    assert_eq!(run.output(), json!({}));
}

/// Spec "ResultPath": "a new field is created in the state output, with
/// intervening fields constructed as necessary".
#[tokio::test(start_paused = true)]
async fn result_path_creates_missing_objects() {
    let run = Harness::plain()
        .run("result_path_create", json!({"x": 1}))
        .await;
    assert_eq!(run.output(), json!({"x": 1, "a": {"b": {"c": {"v": 1}}}}));
}

/// Spec "Errors": States.ResultPathMatchFailure — "A state's ResultPath field
/// cannot be applied to the input the state received".
#[tokio::test(start_paused = true)]
async fn result_path_onto_a_non_object_is_a_result_path_match_failure() {
    let run = Harness::plain()
        .run("result_path_non_object", json!({"text": "hello"}))
        .await;
    assert_eq!(run.error(), "States.ResultPathMatchFailure");
}

/// AWS "Handling errors" (States.Runtime: "attempting to apply InputPath or
/// OutputPath on a null JSON payload"); SEMANTICS.md §1: a path matching nothing
/// fails with States.Runtime.
#[tokio::test(start_paused = true)]
async fn paths_that_match_nothing_are_runtime_errors() {
    let h = Harness::plain();
    let run = h.run("missing_input_path", json!({"present": 1})).await;
    let (error, cause) = run.failure();
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
    let run = h.run("missing_output_path", json!({"present": 1})).await;
    assert_eq!(run.error(), "States.Runtime");
}

/// AWS "Handling errors": "A States.Runtime error isn't retriable, and will
/// always cause the execution to fail. A retry or catch on States.ALL won't
/// catch States.Runtime errors." A Parameters path that matches nothing is
/// such an error.
#[tokio::test(start_paused = true)]
async fn states_all_neither_retries_nor_catches_a_runtime_error() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let h = Harness::new(lambdas(vec![("double", flaky(0, calls.clone()))]));
    let run = h.run("missing_parameter_path", json!({"present": 1})).await;
    let (error, cause) = run.failure();
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");
    assert!(calls.lock().unwrap().is_empty(), "the task never ran");
    assert_eq!(run.entered_states(), ["Call"], "neither retried nor caught");
}

/// Spec "Payload Template" (`.$` keys take `$` paths of the effective input
/// and `$$` paths of the context object, and lose their `.$`) and AWS
/// "Accessing execution data from the Context object" (Execution.Id, Name,
/// Input, StartTime; State.Name, EnteredTime, RetryCount; StateMachine.Id,
/// Name).
#[tokio::test(start_paused = true)]
async fn payload_templates_read_the_input_and_the_context_object() {
    let h = Harness::plain();
    let machine = h.create("context", &testdata("context_object"));
    let input = json!({"list": [1, 2, 3]});
    let arn = h.start(&machine, Some("ctx-run"), &input).unwrap();
    let run = h.finish(&arn).await;
    let out = run.output();
    let entered = run.of_type("PassStateEntered")[0];
    let millis = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(
        out,
        json!({
            "literal": "kept",
            "whole": input,
            "first": 1,
            "nested": {"last": 3},
            "all": [1, 2, 3],
            "executionId": arn,
            "executionName": "ctx-run",
            "executionInput": input,
            "executionStart": millis(&run.start),
            "stateName": "Collect",
            "enteredTime": millis(&entered.timestamp),
            "retryCount": 0,
            "machineId": machine,
            "machineName": machine.rsplit(':').next().unwrap(),
        })
    );
    assert_eq!(out["executionStart"], json!("2030-01-01T00:00:00.000Z"));
    assert_eq!(run.arn, arn);
}

/// AWS "Step Functions service quotas" (256 KiB task result) and "Handling
/// errors" (States.DataLimitExceeded "is a terminal error that can't be
/// caught by the States.ALL error type"); only an explicit catcher sees it.
#[tokio::test(start_paused = true)]
async fn results_over_256_kib_are_data_limit_exceeded() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let h = Harness::new(lambdas(vec![(
        "big",
        function(move |_p: Value| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                ok(json!("x".repeat(300_000)))
            }
        }),
    )]));
    let run = h.run("data_limit", json!({})).await;
    assert_eq!(run.error(), "States.DataLimitExceeded");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "States.ALL does not retry it"
    );
    assert_eq!(
        run.entered_states(),
        ["Big"],
        "States.ALL does not catch it"
    );

    let run = h.run("data_limit_caught_explicitly", json!({})).await;
    assert_eq!(run.output(), json!("caught"));
}
