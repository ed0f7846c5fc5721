//! Tests of intrinsic functions: each expected value is an example of the
//! AWS developer guide, plus the parse-time and run-time errors.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{MAX_ENCODE_INPUT, evaluate, parse};
use crate::context::{Context, ExecutionFacts};
use crate::error::StatesError;

fn ctx() -> Context {
    Context {
        facts: Arc::new(ExecutionFacts::new(
            "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1",
            "exec-1",
            json!({}),
            "arn:aws:iam::123456789012:role/r",
            "2024-01-01T00:00:00Z",
            "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
            "sm",
        )),
        state_name: Arc::from("S"),
        entered_time: Arc::from("2024-01-01T00:00:00Z"),
        retry_count: 0,
        map_item: None,
    }
}

fn eval(expr: &str, input: Value) -> Result<Value, StatesError> {
    evaluate(&parse(expr).unwrap(), &input, &ctx())
}

// Each expected value below is the example of the AWS developer guide
// page "Intrinsic functions for JSONPath states in Step Functions".

#[test]
fn format_interpolates_positionally() {
    let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
    assert_eq!(
        eval(
            "States.Format('Hello, my name is {}.', $.name)",
            input.clone()
        )
        .unwrap(),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(
        eval("States.Format($.template, $.name)", input).unwrap(),
        json!("Hello, my name is Arnav.")
    );
}

#[test]
fn escapes_are_literal_characters() {
    // "Reserved characters in intrinsic functions": \' \{ \} \\
    assert_eq!(
        eval(r"States.Format('it\'s \{\} {} \\', $.x)", json!({"x": 1})).unwrap(),
        json!(r"it's {} 1 \")
    );
    assert!(parse(r"States.Format('bad \n')").is_err(), "open escape");
}

#[test]
fn format_checks_placeholder_count() {
    assert!(parse("States.Format('{} {}', $.a)").is_err());
    assert!(eval("States.Format($.t, $.a)", json!({"t": "{}{}", "a": 1})).is_err());
}

#[test]
fn json_string_round_trip() {
    let input = json!({"escapedJsonString": "{\"foo\": \"bar\"}", "unescapedJson": {"foo": "bar"}});
    assert_eq!(
        eval("States.StringToJson($.escapedJsonString)", input.clone()).unwrap(),
        json!({"foo": "bar"})
    );
    assert_eq!(
        eval("States.JsonToString($.unescapedJson)", input).unwrap(),
        json!("{\"foo\":\"bar\"}")
    );
}

#[test]
fn array_functions() {
    assert_eq!(
        eval("States.Array($.Id)", json!({"Id": 123456})).unwrap(),
        json!([123456])
    );
    assert_eq!(
        eval(
            "States.ArrayPartition($.inputArray, 4)",
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
        )
        .unwrap(),
        json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
    );
    assert_eq!(
        eval(
            "States.ArrayContains($.inputArray, $.lookingFor)",
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5})
        )
        .unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        eval(
            "States.ArrayGetItem($.inputArray, $.index)",
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5})
        )
        .unwrap(),
        json!(6)
    );
    assert_eq!(
        eval(
            "States.ArrayLength($.inputArray)",
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
        )
        .unwrap(),
        json!(9)
    );
    assert_eq!(
        eval(
            "States.ArrayUnique($.inputArray)",
            json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]})
        )
        .unwrap(),
        json!([1, 2, 3, 4])
    );
}

#[test]
fn array_range_is_limited_to_1000_items() {
    assert_eq!(
        eval("States.ArrayRange(1, 1000, 1)", json!({}))
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(1000)
    );
    let err = eval("States.ArrayRange(0, 1000, 1)", json!({})).unwrap_err();
    assert_eq!(err.error, "States.IntrinsicFailure");
    assert!(eval("States.ArrayRange(0, 10, 0)", json!({})).is_err());
}

#[test]
fn base64_and_hash() {
    let input = json!({"input": "Data to encode"});
    assert_eq!(
        eval("States.Base64Encode($.input)", input).unwrap(),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        eval(
            "States.Base64Decode($.base64)",
            json!({"base64": "RGF0YSB0byBlbmNvZGU="})
        )
        .unwrap(),
        json!("Data to encode")
    );
    assert_eq!(
        eval(
            "States.Hash($.Data, $.Algorithm)",
            json!({"Data": "input data", "Algorithm": "SHA-1"})
        )
        .unwrap(),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    assert!(eval("States.Hash('x', 'SHA-3')", json!({})).is_err());
    let long = "a".repeat(MAX_ENCODE_INPUT + 1);
    assert!(eval("States.Base64Encode($.s)", json!({ "s": long })).is_err());
}

#[test]
fn json_merge_is_shallow_only() {
    let input = json!({
        "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
        "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}
    });
    assert_eq!(
        eval("States.JsonMerge($.json1, $.json2, false)", input.clone()).unwrap(),
        json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
    );
    assert!(eval("States.JsonMerge($.json1, $.json2, true)", input).is_err());
}

#[test]
fn math_functions() {
    assert_eq!(
        eval(
            "States.MathAdd($.value1, $.step)",
            json!({"value1": 111, "step": -1})
        )
        .unwrap(),
        json!(110)
    );
    for _ in 0..50 {
        let v = eval("States.MathRandom(1, 999)", json!({})).unwrap();
        let n = v.as_i64().unwrap();
        assert!((1..999).contains(&n));
    }
    let seeded_a = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
    let seeded_b = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
    assert_eq!(seeded_a, seeded_b, "a seed makes the value repeatable");
}

#[test]
fn string_split_uses_each_delimiter_character() {
    assert_eq!(
        eval(
            "States.StringSplit($.inputString, $.splitter)",
            json!({"inputString": "1,2,3,4,5", "splitter": ","})
        )
        .unwrap(),
        json!(["1", "2", "3", "4", "5"])
    );
    assert_eq!(
        eval(
            "States.StringSplit($.inputString, $.splitter)",
            json!({"inputString": "This.is+a,test=string", "splitter": ".+,="})
        )
        .unwrap(),
        json!(["This", "is", "a", "test", "string"])
    );
}

#[test]
fn uuid_is_v4() {
    let v = eval("States.UUID()", json!({})).unwrap();
    let parsed = uuid::Uuid::parse_str(v.as_str().unwrap()).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
}

#[test]
fn nesting_and_context_arguments() {
    let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/sample-recipe/1.0.0"}});
    let expr = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 2))";
    assert_eq!(eval(expr, input).unwrap(), json!("1.0.0"));
    assert_eq!(
        eval("States.Format('{}', $$.Execution.Name)", json!({})).unwrap(),
        json!("exec-1")
    );
    let deep = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
    assert!(parse(&deep).is_err(), "more than 10 nested calls");
}

#[test]
fn bad_expressions_are_rejected_at_parse_time() {
    for expr in [
        "States.Nope(1)",
        "States.UUID(1)",
        "States.ArrayLength()",
        "States.Format('x'",
        "States.Array($.a b)",
        "States.Array('unterminated)",
    ] {
        assert!(parse(expr).is_err(), "{expr}");
    }
}

#[test]
fn missing_path_argument_is_a_runtime_error() {
    let err = eval("States.Array($.missing)", json!({})).unwrap_err();
    assert_eq!(err.error, "States.Runtime");
}

#[test]
fn wrong_argument_type_is_an_intrinsic_failure() {
    let err = eval("States.ArrayLength($.s)", json!({"s": "text"})).unwrap_err();
    assert_eq!(err.error, "States.IntrinsicFailure");
}
