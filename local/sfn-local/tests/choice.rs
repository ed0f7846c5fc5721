//! Choice states: every comparison operator and its `*Path` variant, the
//! type tests, StringMatches, And/Or/Not, rule order, Default and
//! States.NoChoiceMatched.
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
use sfn_local::service::Status;

use common::{Harness, testdata};

/// Runs the one-rule Choice template with `rule` in place of its rule:
/// `Ok(true)` when the rule matched, `Ok(false)` when Default was taken,
/// `Err(error)` when the execution failed.
async fn choose(h: &Harness, rule: Value, input: &Value) -> Result<bool, String> {
    let mut def: Value = serde_json::from_str(&testdata("choice_single_rule")).unwrap();
    let mut rule = rule;
    rule["Next"] = json!("Matched");
    def["States"]["Decide"]["Choices"][0] = rule;
    let run = h.run_text("choice", &def.to_string(), input.clone()).await;
    match run.state.status {
        Status::Succeeded => Ok(run.output() == json!("matched")),
        _ => Err(run.state.error.clone().unwrap_or_default()),
    }
}

fn choice_input() -> Value {
    json!({
        "s": "b", "s_same": "b", "s_low": "a", "s_high": "c",
        "n": 5, "n_float": 5.0, "n_low": 1, "n_high": 10,
        "t": true, "f": false,
        "ts": "2030-01-01T12:00:00Z",
        "ts_same_instant": "2030-01-01T13:00:00+01:00",
        "ts_early": "2030-01-01T00:00:00Z",
        "ts_late": "2030-12-31T00:00:00Z",
        "nil": null,
        "text_num": "5",
        "file": "log-2030-01.txt",
        "star": "a*b",
        "bs": "c:\\dir"
    })
}

/// Spec "Choice Rules": every comparison operator and its `*Path` variant
/// (AWS "Choice workflow state"); a comparison against a value of another
/// type is false (spec: "…if the values are of different types, the
/// comparison is false"); timestamps compare as instants.
#[tokio::test(start_paused = true)]
async fn every_comparison_operator_and_its_path_variant() {
    let h = Harness::plain();
    let input = choice_input();
    let cases: Vec<(Value, bool)> = vec![
        (json!({"Variable": "$.s", "StringEquals": "b"}), true),
        (json!({"Variable": "$.s", "StringEquals": "c"}), false),
        (json!({"Variable": "$.s", "StringLessThan": "c"}), true),
        (json!({"Variable": "$.s", "StringLessThan": "b"}), false),
        (json!({"Variable": "$.s", "StringGreaterThan": "a"}), true),
        (json!({"Variable": "$.s", "StringGreaterThan": "b"}), false),
        (
            json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanEquals": "a"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEquals": "c"}),
            false,
        ),
        (json!({"Variable": "$.n", "NumericEquals": 5}), true),
        (json!({"Variable": "$.n_float", "NumericEquals": 5}), true),
        (json!({"Variable": "$.n", "NumericEquals": 6}), false),
        (json!({"Variable": "$.text_num", "NumericEquals": 5}), false),
        (json!({"Variable": "$.n", "NumericLessThan": 6}), true),
        (json!({"Variable": "$.n", "NumericLessThan": 5}), false),
        (json!({"Variable": "$.n", "NumericGreaterThan": 4.5}), true),
        (json!({"Variable": "$.n", "NumericGreaterThan": 5}), false),
        (json!({"Variable": "$.n", "NumericLessThanEquals": 5}), true),
        (
            json!({"Variable": "$.n", "NumericLessThanEquals": 4}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 6}),
            false,
        ),
        (json!({"Variable": "$.t", "BooleanEquals": true}), true),
        (json!({"Variable": "$.f", "BooleanEquals": true}), false),
        (
            json!({"Variable": "$.text_num", "BooleanEquals": true}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampEquals": "2030-01-01T13:00:00+01:00"}),
            true,
        ),
        (
            json!({"Variable": "$.ts", "TimestampEquals": "2030-01-01T12:00:01Z"}),
            false,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampLessThan": "2030-01-01T12:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampLessThan": "2030-01-01T12:00:00Z"}),
            false,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampGreaterThan": "2030-01-01T12:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampGreaterThan": "2030-01-01T12:00:00Z"}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampLessThanEquals": "2030-01-01T12:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampLessThanEquals": "2030-01-01T12:00:00Z"}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampGreaterThanEquals": "2030-01-01T12:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampGreaterThanEquals": "2030-01-01T12:00:00Z"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "TimestampEquals": "2030-01-01T12:00:00Z"}),
            false,
        ),
        // *Path variants compare with another value of the input.
        (
            json!({"Variable": "$.s", "StringEqualsPath": "$.s_same"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringEqualsPath": "$.s_low"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanPath": "$.s_high"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanPath": "$.s_low"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanPath": "$.s_low"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanPath": "$.s_high"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s_same"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s_low"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s_same"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s_high"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericEqualsPath": "$.n_float"}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericEqualsPath": "$.n_low"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanPath": "$.n_high"}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanPath": "$.n_low"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanPath": "$.n_low"}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanPath": "$.n_high"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.n_float"}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.n_low"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n_float"}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n_high"}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericEqualsPath": "$.text_num"}),
            false,
        ),
        (json!({"Variable": "$.f", "BooleanEqualsPath": "$.f"}), true),
        (
            json!({"Variable": "$.t", "BooleanEqualsPath": "$.f"}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampEqualsPath": "$.ts_same_instant"}),
            true,
        ),
        (
            json!({"Variable": "$.ts", "TimestampEqualsPath": "$.ts_late"}),
            false,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampLessThanPath": "$.ts"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampLessThanPath": "$.ts"}),
            false,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampGreaterThanPath": "$.ts"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampGreaterThanPath": "$.ts"}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampLessThanEqualsPath": "$.ts_same_instant"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_late", "TimestampLessThanEqualsPath": "$.ts"}),
            false,
        ),
        (
            json!({"Variable": "$.ts", "TimestampGreaterThanEqualsPath": "$.ts_same_instant"}),
            true,
        ),
        (
            json!({"Variable": "$.ts_early", "TimestampGreaterThanEqualsPath": "$.ts"}),
            false,
        ),
        // The context object is a valid Variable too.
        (
            json!({"Variable": "$$.State.Name", "StringEquals": "Decide"}),
            true,
        ),
    ];
    for (rule, expected) in cases {
        assert_eq!(
            choose(&h, rule.clone(), &input).await,
            Ok(expected),
            "{rule}"
        );
    }
}

/// Spec "Choice Rules": the type tests IsNull, IsPresent, IsNumeric,
/// IsString, IsBoolean, IsTimestamp (IsPresent on a missing field is false,
/// not an error), StringMatches (only `*` is special; `\*` and `\\` escape),
/// And/Or/Not (And/Or evaluate lazily, AWS "Choice workflow state").
#[tokio::test(start_paused = true)]
async fn type_tests_string_matches_and_boolean_logic() {
    let h = Harness::plain();
    let input = choice_input();
    let cases: Vec<(Value, bool)> = vec![
        (json!({"Variable": "$.nil", "IsNull": true}), true),
        (json!({"Variable": "$.s", "IsNull": true}), false),
        (json!({"Variable": "$.s", "IsNull": false}), true),
        (json!({"Variable": "$.missing", "IsPresent": true}), false),
        (json!({"Variable": "$.missing", "IsPresent": false}), true),
        (json!({"Variable": "$.nil", "IsPresent": true}), true),
        (json!({"Variable": "$.n", "IsNumeric": true}), true),
        (json!({"Variable": "$.text_num", "IsNumeric": true}), false),
        (json!({"Variable": "$.s", "IsString": true}), true),
        (json!({"Variable": "$.n", "IsString": true}), false),
        (json!({"Variable": "$.t", "IsBoolean": true}), true),
        (json!({"Variable": "$.s", "IsBoolean": true}), false),
        (json!({"Variable": "$.ts", "IsTimestamp": true}), true),
        (json!({"Variable": "$.s", "IsTimestamp": true}), false),
        (
            json!({"Variable": "$.file", "StringMatches": "log-*.txt"}),
            true,
        ),
        (
            json!({"Variable": "$.file", "StringMatches": "log-*.csv"}),
            false,
        ),
        (json!({"Variable": "$.file", "StringMatches": "*"}), true),
        (
            json!({"Variable": "$.star", "StringMatches": "a\\*b"}),
            true,
        ),
        (
            json!({"Variable": "$.file", "StringMatches": "log-\\*.txt"}),
            false,
        ),
        (
            json!({"Variable": "$.bs", "StringMatches": "c:\\\\*"}),
            true,
        ),
        (json!({"Variable": "$.n", "StringMatches": "*"}), false),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 1}, {"Variable": "$.s", "StringEquals": "b"}]}),
            true,
        ),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 1}, {"Variable": "$.s", "StringEquals": "x"}]}),
            false,
        ),
        (
            json!({"Or": [{"Variable": "$.s", "StringEquals": "x"}, {"Variable": "$.n", "NumericEquals": 5}]}),
            true,
        ),
        (
            json!({"Or": [{"Variable": "$.s", "StringEquals": "x"}, {"Variable": "$.n", "NumericEquals": 6}]}),
            false,
        ),
        (
            json!({"Not": {"Variable": "$.s", "StringEquals": "x"}}),
            true,
        ),
        (
            json!({"Not": {"Variable": "$.s", "StringEquals": "b"}}),
            false,
        ),
        (
            json!({"Not": {"And": [{"Variable": "$.t", "BooleanEquals": true}, {"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.s", "StringEquals": "b"}]}]}}),
            false,
        ),
        // Short-circuit: the missing variable is never looked at.
        (
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 5}, {"Variable": "$.missing", "NumericEquals": 1}]}),
            true,
        ),
        (
            json!({"And": [{"Variable": "$.n", "NumericEquals": 6}, {"Variable": "$.missing", "NumericEquals": 1}]}),
            false,
        ),
    ];
    for (rule, expected) in cases {
        assert_eq!(
            choose(&h, rule.clone(), &input).await,
            Ok(expected),
            "{rule}"
        );
    }
}

/// SEMANTICS.md §7 and AWS "Choice workflow state": a Variable (or *Path
/// operand) that is not in the input is States.Runtime, except for IsPresent.
#[tokio::test(start_paused = true)]
async fn a_missing_choice_variable_is_a_runtime_error() {
    let h = Harness::plain();
    let input = choice_input();
    for rule in [
        json!({"Variable": "$.missing", "StringEquals": "x"}),
        json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
        json!({"Variable": "$.missing", "IsNull": true}),
        json!({"Variable": "$.missing", "StringMatches": "*"}),
    ] {
        assert_eq!(
            choose(&h, rule.clone(), &input).await,
            Err("States.Runtime".to_string()),
            "{rule}"
        );
    }
}

/// Spec "Choice State": the first matching rule wins, Default is taken when
/// none matches, no match without Default fails with States.NoChoiceMatched;
/// InputPath and OutputPath apply.
#[tokio::test(start_paused = true)]
async fn choice_order_default_and_no_choice_matched() {
    let h = Harness::plain();
    let run = h
        .run(
            "choice_first_match",
            json!({"data": {"n": 50, "keep": {"k": 1}}}),
        )
        .await;
    assert_eq!(run.output(), json!({"k": 1, "size": "big"}));
    let run = h
        .run(
            "choice_first_match",
            json!({"data": {"n": 0, "keep": {"k": 2}}}),
        )
        .await;
    assert_eq!(run.output(), json!({"k": 2, "size": "small"}), "Default");
    assert_eq!(
        choose(
            &h,
            json!({"Variable": "$.s", "StringEquals": "nope"}),
            &choice_input()
        )
        .await,
        Ok(false),
        "Default"
    );
    let run = h.run("choice_no_default", json!({"value": 1})).await;
    assert_eq!(run.error(), "States.NoChoiceMatched");
    let run = h.run("choice_no_default", json!({"value": 11})).await;
    assert_eq!(run.output(), json!({"value": 11}));
}
