//! Parallel and Map states: result order, failure stopping the other
//! branches or iterations, ItemsPath and ItemSelector, MaxConcurrency and
//! tolerated failures.
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sfn_local::LambdaFunction;
use sfn_local::integrations::lambda::function;

use common::{Harness, details, function_error, lambdas, ok, sleeps_then_sets};

/// Spec "Parallel State": every branch gets the input; the result is an
/// array in branch order, whatever order the branches finish in.
#[tokio::test(start_paused = true)]
async fn parallel_results_are_in_branch_order() {
    let run = Harness::plain()
        .run("parallel_order", json!({"x": 7}))
        .await;
    assert_eq!(
        run.output(),
        json!({"first": {"branch": 0, "input": 7}, "second": {"branch": 1, "input": 7}})
    );
    let types = run.types();
    assert_eq!(
        types[1..3],
        ["ParallelStateEntered", "ParallelStateStarted"]
    );
    assert_eq!(
        types[types.len() - 3..],
        [
            "ParallelStateSucceeded",
            "ParallelStateExited",
            "ExecutionSucceeded"
        ]
    );
}

/// Spec "Parallel State": "If any branch fails … the entire Parallel state
/// is considered to have failed and all its branches are stopped." The slow
/// branch's handler would set a flag after an hour; it never does, and the
/// execution fails at once.
#[tokio::test(start_paused = true)]
async fn a_failing_branch_fails_the_parallel_state_and_stops_the_others() {
    let flag = Arc::new(AtomicBool::new(false));
    let h = Harness::new(lambdas(vec![
        ("slow", sleeps_then_sets(flag.clone())),
        (
            "boom",
            function(
                |_p: Value| async move { Err(function_error("Custom.Boom", "branch 1 failed")) },
            ),
        ),
    ]));
    let run = h.run("parallel_failure", json!({})).await;
    assert_eq!(run.error(), "Custom.Boom");
    assert!(
        run.at(run.last()) < 1.0,
        "the failure is reported at once:\n{}",
        run.dump()
    );
    assert_eq!(run.count("ParallelStateFailed"), 1);
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(!flag.load(Ordering::SeqCst), "the other branch was stopped");
}

/// Spec "Map State" and AWS "Map state" (ItemsPath, ItemSelector with
/// `$$.Map.Item.Index`/`Value`, ItemProcessor) and the older names
/// Parameters/Iterator, which behave the same.
#[tokio::test(start_paused = true)]
async fn map_items_path_and_item_selector_in_both_spellings() {
    let h = Harness::plain();
    let input = json!({"tag": "t", "detail": {"items": ["a", "b", "c"]}});
    let expected = json!([
        {"index": 0, "value": "a", "tag": "t"},
        {"index": 1, "value": "b", "tag": "t"},
        {"index": 2, "value": "c", "tag": "t"}
    ]);
    for name in ["map_item_selector", "map_legacy_names"] {
        let run = h.run(name, input.clone()).await;
        assert_eq!(run.output(), expected, "{name}");
        let started = run.of_type("MapStateStarted")[0];
        assert_eq!(details(started)["length"], json!(3));
        let indices: Vec<Value> = run
            .of_type("MapIterationStarted")
            .iter()
            .map(|e| details(e)["index"].clone())
            .collect();
        assert_eq!(indices, [json!(0), json!(1), json!(2)]);
        assert_eq!(run.count("MapIterationSucceeded"), 3);
        assert_eq!(run.count("MapStateSucceeded"), 1);
    }
}

/// A handler that counts calls in flight; it sleeps `10 − item` seconds, so
/// later items finish first.
fn tracker(in_flight: Arc<AtomicUsize>, max_seen: Arc<AtomicUsize>) -> Arc<dyn LambdaFunction> {
    function(move |p: Value| {
        let in_flight = in_flight.clone();
        let max_seen = max_seen.clone();
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_seen.fetch_max(now, Ordering::SeqCst);
            let n = p.as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(10 - n)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            ok(json!(n * 10))
        }
    })
}

/// Spec "Map State": MaxConcurrency bounds the iterations in flight (0 means
/// no limit) and the output array is in input order.
#[tokio::test(start_paused = true)]
async fn map_respects_max_concurrency_and_keeps_input_order() {
    for (name, expected_max) in [("map_max_concurrency_2", 2), ("map_unlimited", 6)] {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let h = Harness::new(lambdas(vec![(
            "track",
            tracker(in_flight, max_seen.clone()),
        )]));
        let run = h.run(name, json!({"items": [0, 1, 2, 3, 4, 5]})).await;
        assert_eq!(run.output(), json!([0, 10, 20, 30, 40, 50]), "{name}");
        assert_eq!(max_seen.load(Ordering::SeqCst), expected_max, "{name}");
    }
}

fn failing_items(total: usize, failing: usize) -> Value {
    let items: Vec<Value> = (0..total)
        .map(|i| json!({"i": i, "fail": i < failing}))
        .collect();
    json!({"items": items})
}

/// AWS "Map state" (ToleratedFailureCount, ToleratedFailurePercentage) and
/// "Handling errors" (States.ExceedToleratedFailureThreshold): up to the
/// threshold the Map succeeds; beyond it the Map fails with
/// States.ExceedToleratedFailureThreshold. Without a threshold, one failed
/// item fails the Map with that item's error.
#[tokio::test(start_paused = true)]
async fn map_tolerated_failures() {
    let h = Harness::plain();
    for name in ["map_tolerated_count", "map_tolerated_percentage"] {
        let run = h.run(name, failing_items(10, 3)).await;
        let out = run.output();
        assert_eq!(out.as_array().unwrap().len(), 10, "{name}");
        assert_eq!(out[9], json!({"i": 9, "fail": false}), "{name}");
        let run = h.run(name, failing_items(10, 4)).await;
        assert_eq!(
            run.error(),
            "States.ExceedToleratedFailureThreshold",
            "{name}"
        );
    }
    let run = h.run("map_no_tolerance", failing_items(10, 1)).await;
    assert_eq!(run.error(), "Item.Broken");
}

/// Spec "Map State": the Map fails when an iteration fails (without a
/// tolerated-failure threshold), and the iterations still running stop: the
/// slow item's handler never sets its flag, and the failure is reported at
/// once even though the failing item comes second.
#[tokio::test(start_paused = true)]
async fn a_failing_iteration_fails_the_map_at_once_and_stops_the_others() {
    let flag = Arc::new(AtomicBool::new(false));
    let h = Harness::new(lambdas(vec![
        ("slow", sleeps_then_sets(flag.clone())),
        (
            "boom",
            function(
                |_p: Value| async move { Err(function_error("Custom.Boom", "item 1 failed")) },
            ),
        ),
    ]));
    let run = h
        .run(
            "map_failure",
            json!({"items": [{"fn": "slow"}, {"fn": "boom"}]}),
        )
        .await;
    assert_eq!(run.error(), "Custom.Boom");
    assert!(
        run.at(run.last()) < 1.0,
        "the failure is reported at once:\n{}",
        run.dump()
    );
    assert_eq!(run.count("MapIterationFailed"), 1);
    assert_eq!(run.count("MapStateFailed"), 1);
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(
        !flag.load(Ordering::SeqCst),
        "the other iteration was stopped"
    );
}
