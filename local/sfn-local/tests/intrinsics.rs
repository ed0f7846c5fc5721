//! Intrinsic functions inside payload templates, as a running execution
//! evaluates them, and States.IntrinsicFailure.
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

use common::{Harness, testdata};

/// AWS "Intrinsic functions for JSONPath states": the expected values are
/// the examples of that page (Format, StringToJson, JsonToString, Array,
/// ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength,
/// ArrayUnique, Base64Encode/Decode, Hash, JsonMerge, MathRandom, MathAdd,
/// StringSplit, UUID), plus nesting and the `\'` `\{` `\}` escapes.
#[tokio::test(start_paused = true)]
async fn intrinsic_functions_inside_parameters() {
    let input = json!({
        "name": "Arnav",
        "escapedJsonString": "{\"foo\": \"bar\"}",
        "unescapedJson": {"foo": "bar"},
        "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "lookingFor": 5,
        "index": 5,
        "duplicates": [1, 2, 3, 3, 3, 3, 3, 3, 4],
        "input": "Data to encode",
        "base64": "RGF0YSB0byBlbmNvZGU=",
        "Data": "input data",
        "Algorithm": "SHA-1",
        "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
        "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
        "start": 1,
        "end": 999,
        "value1": 111,
        "step": -1,
        "inputString": "1,2,3,4,5",
        "splitter": ","
    });
    let h = Harness::plain();
    let machine = h.create("intrinsics", &testdata("intrinsics"));
    let arn = h.start(&machine, Some("intrinsic-run"), &input).unwrap();
    let mut out = h.finish(&arn).await.output();
    let random = out["random"].as_i64().unwrap();
    assert!((1..=999).contains(&random), "MathRandom gave {random}");
    let uuid = out["uuid"].as_str().unwrap().to_string();
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(&uuid[14..15], "4", "a version 4 UUID: {uuid}");
    let obj = out.as_object_mut().unwrap();
    obj.remove("random");
    obj.remove("uuid");
    assert_eq!(
        out,
        json!({
            "format": "Hello, my name is Arnav.",
            "escaped": "it's {} Arnav",
            "fromJson": {"foo": "bar"},
            "toJson": "{\"foo\":\"bar\"}",
            "array": ["Foo", 2020, {"foo": "bar"}, null],
            "partition": [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
            "contains": true,
            "range": [1, 3, 5, 7, 9],
            "item": 6,
            "length": 9,
            "unique": [1, 2, 3, 4],
            "base64": "RGF0YSB0byBlbmNvZGU=",
            "decoded": "Data to encode",
            "hash": "aaff4a450a104cd177d28d18d74485e8cae074b7",
            "merged": {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3},
            "sum": 110,
            "split": ["1", "2", "3", "4", "5"],
            "nested": "5 items",
            "contextArg": "run intrinsic-run",
        })
    );
}

/// AWS "Handling errors" (States.IntrinsicFailure) and SEMANTICS.md §12: an
/// intrinsic that fails at run time raises States.IntrinsicFailure.
#[tokio::test(start_paused = true)]
async fn a_failing_intrinsic_is_an_intrinsic_failure() {
    let run = Harness::plain()
        .run("intrinsic_failure", json!({"text": "not json"}))
        .await;
    assert_eq!(run.error(), "States.IntrinsicFailure");
}
