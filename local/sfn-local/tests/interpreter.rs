//! The interpreter through the public API: a service built with
//! `sfn_local::Builder`, in-process Lambda handlers, definitions from
//! `testdata/*.asl.json` (which asl-validator checks), executions awaited
//! and their histories inspected.
//!
//! Every test that involves Wait, Retry or timeouts runs with Tokio's paused
//! clock (`start_paused = true`): virtual time advances as soon as every task
//! is idle, so nothing sleeps in real time, and history timestamps follow the
//! virtual clock. Each test cites where its expected values come from:
//! "spec" is the Amazon States Language specification (states-language.net),
//! "AWS" the Step Functions developer guide or API reference.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sfn_local::history::HistoryEvent;
use sfn_local::integrations::lambda::function;
use sfn_local::service::{ExecutionState, Status};
use sfn_local::{
    Builder, FunctionError, HttpLambdaInvoker, InProcessLambdas, LambdaFunction, SfnError,
    StepFunctions,
};

use common::{CLOCK_START, ROLE_ARN, TestClock, testdata};

// ---------------------------------------------------------------------------
// Harness

struct Harness {
    service: StepFunctions,
    seq: AtomicUsize,
}

impl Harness {
    fn new(lambdas: InProcessLambdas) -> Harness {
        let service = Builder::new()
            .clock(Arc::new(TestClock::new()))
            .lambda(Arc::new(lambdas))
            .build();
        Harness::with_service(service)
    }

    fn with_service(service: StepFunctions) -> Harness {
        Harness {
            service,
            seq: AtomicUsize::new(0),
        }
    }

    fn plain() -> Harness {
        Harness::new(InProcessLambdas::new())
    }

    /// Creates a state machine (named after `label`) and answers its ARN.
    fn create(&self, label: &str, definition: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let name = format!("{label}-{n}");
        let out = self
            .service
            .create_state_machine(
                &json!({"name": name, "definition": definition, "roleArn": ROLE_ARN}),
            )
            .unwrap_or_else(|e| panic!("creating {label}: {e}"));
        out["stateMachineArn"].as_str().unwrap().to_string()
    }

    fn start(&self, machine: &str, name: Option<&str>, input: &Value) -> Result<String, SfnError> {
        let mut req = json!({"stateMachineArn": machine, "input": input.to_string()});
        if let Some(n) = name {
            req["name"] = json!(n);
        }
        self.service
            .start_execution(&req)
            .map(|o| o["executionArn"].as_str().unwrap().to_string())
    }

    async fn finish(&self, execution_arn: &str) -> Finished {
        let exec = self.service.execution(execution_arn).unwrap();
        let state = exec.wait().await;
        Finished {
            arn: execution_arn.to_string(),
            state,
            events: exec.history.snapshot(),
            start: exec.start_date,
        }
    }

    async fn run_text(&self, label: &str, definition: &str, input: Value) -> Finished {
        let machine = self.create(label, definition);
        let arn = self.start(&machine, None, &input).unwrap();
        self.finish(&arn).await
    }

    /// Runs `testdata/<name>.asl.json` on `input` to its end.
    async fn run(&self, name: &str, input: Value) -> Finished {
        self.run_text(name, &testdata(name), input).await
    }
}

/// A finished execution.
struct Finished {
    arn: String,
    state: ExecutionState,
    events: Vec<HistoryEvent>,
    start: DateTime<Utc>,
}

fn details(ev: &HistoryEvent) -> Value {
    ev.details_json()
        .unwrap_or_else(|| panic!("{} has no details", ev.event_type))
}

fn json_field(ev: &HistoryEvent, field: &str) -> Value {
    let d = details(ev);
    let text = d[field]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no string field {field}", ev.event_type));
    serde_json::from_str(text).unwrap()
}

impl Finished {
    fn dump(&self) -> String {
        self.events
            .iter()
            .map(|e| {
                format!(
                    "{:>3} <-{:>3} {} {}",
                    e.id,
                    e.previous_event_id,
                    e.event_type,
                    e.to_json(true)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn output(&self) -> Value {
        assert_eq!(
            self.state.status,
            Status::Succeeded,
            "the execution did not succeed: {:?}\n{}",
            self.state,
            self.dump()
        );
        serde_json::from_str(self.state.output.as_deref().unwrap()).unwrap()
    }

    /// `(error, cause)` of a FAILED execution.
    fn failure(&self) -> (String, String) {
        assert_eq!(
            self.state.status,
            Status::Failed,
            "the execution did not fail: {:?}\n{}",
            self.state,
            self.dump()
        );
        (
            self.state.error.clone().unwrap_or_default(),
            self.state.cause.clone().unwrap_or_default(),
        )
    }

    fn error(&self) -> String {
        self.failure().0
    }

    fn types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type).collect()
    }

    fn of_type(&self, event_type: &str) -> Vec<&HistoryEvent> {
        self.events
            .iter()
            .filter(|e| e.event_type == event_type)
            .collect()
    }

    fn count(&self, event_type: &str) -> usize {
        self.of_type(event_type).len()
    }

    /// Names of the states entered, in order.
    fn entered_states(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.event_type.ends_with("StateEntered"))
            .map(|e| e.detail("name").unwrap_or_default().to_string())
            .collect()
    }

    /// The `*StateExited` event of the state called `name`.
    fn exited(&self, name: &str) -> &HistoryEvent {
        self.events
            .iter()
            .find(|e| e.event_type.ends_with("StateExited") && e.detail("name") == Some(name))
            .unwrap_or_else(|| panic!("no exit of {name}\n{}", self.dump()))
    }

    fn exited_output(&self, name: &str) -> Value {
        json_field(self.exited(name), "output")
    }

    /// Virtual seconds from the execution's start to an event.
    fn at(&self, ev: &HistoryEvent) -> f64 {
        (ev.timestamp - self.start).num_milliseconds() as f64 / 1000.0
    }

    /// Milliseconds between consecutive events of one type.
    fn gaps_ms(&self, event_type: &str) -> Vec<i64> {
        self.of_type(event_type)
            .windows(2)
            .map(|w| (w[1].timestamp - w[0].timestamp).num_milliseconds())
            .collect()
    }

    fn last(&self) -> &HistoryEvent {
        self.events.last().unwrap()
    }
}

fn ok(v: Value) -> Result<Value, FunctionError> {
    Ok(v)
}

fn function_error(error_type: &str, message: &str) -> FunctionError {
    FunctionError {
        error_type: error_type.to_string(),
        error_message: message.to_string(),
    }
}

/// `{"n": N, "id": …}` → `{"doubled": 2N, "id": …, "noise": …}`.
fn double() -> Arc<dyn LambdaFunction> {
    function(|p: Value| async move {
        ok(
            json!({"doubled": p["n"].as_i64().unwrap_or(0) * 2, "id": p["id"], "noise": "dropped by ResultSelector"}),
        )
    })
}

fn echo() -> Arc<dyn LambdaFunction> {
    function(|p: Value| async move { ok(p) })
}

/// Sleeps an hour (virtual time) and then sets `flag`.
fn sleeps_then_sets(flag: Arc<AtomicBool>) -> Arc<dyn LambdaFunction> {
    function(move |_p: Value| {
        let flag = flag.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            flag.store(true, Ordering::SeqCst);
            ok(json!("finished"))
        }
    })
}

/// Fails with `Custom.Flaky` for the first `failures` calls; records every
/// payload it was called with.
fn flaky(failures: usize, calls: Arc<Mutex<Vec<Value>>>) -> Arc<dyn LambdaFunction> {
    function(move |p: Value| {
        let calls = calls.clone();
        async move {
            let n = {
                let mut c = calls.lock().unwrap();
                c.push(p.clone());
                c.len()
            };
            if n <= failures {
                Err(function_error("Custom.Flaky", "try again"))
            } else {
                ok(p)
            }
        }
    })
}

fn lambdas(list: Vec<(&str, Arc<dyn LambdaFunction>)>) -> InProcessLambdas {
    let mut l = InProcessLambdas::new();
    for (name, f) in list {
        l.register(name, f);
    }
    l
}

// ---------------------------------------------------------------------------
// Input and output processing

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
/// OutputPath on a null JSON payload"); ASL-NOTES §1: a path matching nothing
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

/// AWS "Handling errors" (States.IntrinsicFailure) and ASL-NOTES §12: an
/// intrinsic that fails at run time raises States.IntrinsicFailure.
#[tokio::test(start_paused = true)]
async fn a_failing_intrinsic_is_an_intrinsic_failure() {
    let run = Harness::plain()
        .run("intrinsic_failure", json!({"text": "not json"}))
        .await;
    assert_eq!(run.error(), "States.IntrinsicFailure");
}

// ---------------------------------------------------------------------------
// State types

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

// ---------------------------------------------------------------------------
// Choice

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

/// ASL-NOTES §7 and AWS "Choice workflow state": a Variable (or *Path
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

// ---------------------------------------------------------------------------
// Wait

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

// ---------------------------------------------------------------------------
// Retry and Catch

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

// ---------------------------------------------------------------------------
// Parallel and Map

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

// ---------------------------------------------------------------------------
// Lambda

/// AWS "Invoke an AWS Lambda function with Step Functions": the
/// `lambda:invoke` result is {ExecutedVersion, Payload, SdkHttpMetadata,
/// SdkResponseMetadata, StatusCode}.
#[tokio::test(start_paused = true)]
async fn lambda_invoke_wraps_the_payload() {
    let h = Harness::new(lambdas(vec![("echo", echo())]));
    let run = h
        .run("lambda_invoke", json!({"fn": "echo", "payload": {"a": 1}}))
        .await;
    let out = run.output();
    let mut keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ExecutedVersion",
            "Payload",
            "SdkHttpMetadata",
            "SdkResponseMetadata",
            "StatusCode"
        ]
    );
    assert_eq!(out["Payload"], json!({"a": 1}));
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    assert!(
        out["SdkResponseMetadata"]["RequestId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    // A function ARN with a Qualifier reaches the function by name.
    let run = h.run("lambda_invoke_qualified", json!({})).await;
    assert_eq!(run.output()["Payload"], json!({"q": 1}));
}

/// AWS "Invoke an AWS Lambda function with Step Functions": a plain function
/// ARN as Resource passes the effective input and returns the bare output,
/// recorded as LambdaFunction* events (API reference, HistoryEvent).
#[tokio::test(start_paused = true)]
async fn a_function_arn_returns_the_bare_output() {
    let h = Harness::new(lambdas(vec![("echo", echo())]));
    let run = h
        .run("lambda_function_arn", json!({"payload": {"x": 1}}))
        .await;
    assert_eq!(run.output(), json!({"x": 1}));
    assert_eq!(
        run.types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = run.of_type("LambdaFunctionScheduled")[0];
    assert_eq!(
        details(scheduled)["resource"],
        json!("arn:aws:lambda:us-east-1:123456789012:function:echo")
    );
    assert_eq!(json_field(scheduled, "input"), json!({"x": 1}));
    assert_eq!(
        json_field(run.of_type("LambdaFunctionSucceeded")[0], "output"),
        json!({"x": 1})
    );
}

/// AWS "Handling errors" (Lambda): a function error surfaces as Error =
/// errorType and Cause = the error document; a crashed function is
/// Lambda.Unknown; a Lambda service error is Lambda.<Exception>.
#[tokio::test(start_paused = true)]
async fn function_errors_crashes_and_service_errors() {
    let h = Harness::new(lambdas(vec![
        (
            "fails",
            function(|_p: Value| async move {
                Err(function_error("Fatal.BadInput", "field x is missing"))
            }),
        ),
        (
            "panics",
            function(|_p: Value| async move {
                if true {
                    panic!("handler bug");
                }
                ok(json!(null))
            }),
        ),
    ]));
    let run = h
        .run("lambda_invoke", json!({"fn": "fails", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Fatal.BadInput");
    let cause: Value = serde_json::from_str(&cause).unwrap();
    assert_eq!(
        cause,
        json!({"errorType": "Fatal.BadInput", "errorMessage": "field x is missing"})
    );
    let failed = run.of_type("TaskFailed")[0];
    assert_eq!(details(failed)["error"], json!("Fatal.BadInput"));
    assert_eq!(details(failed)["resourceType"], json!("lambda"));
    assert_eq!(details(failed)["resource"], json!("invoke"));

    let run = h
        .run("lambda_invoke", json!({"fn": "panics", "payload": {}}))
        .await;
    assert_eq!(run.error(), "Lambda.Unknown");

    let run = h
        .run("lambda_invoke", json!({"fn": "nope", "payload": {}}))
        .await;
    assert_eq!(run.error(), "Lambda.ResourceNotFoundException");
}

/// Issue 2 ("any other Resource: a clear error naming the unsupported
/// integration, never a silent success").
#[tokio::test(start_paused = true)]
async fn an_unsupported_resource_fails_naming_it() {
    let run = Harness::plain()
        .run("unsupported_resource", json!({}))
        .await;
    let (_, cause) = run.failure();
    assert!(
        cause.contains("arn:aws:states:::sqs:sendMessage"),
        "{cause}"
    );
    assert!(!run.entered_states().contains(&"Caught".to_string()));
}

// ---------------------------------------------------------------------------
// History

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

// ---------------------------------------------------------------------------
// StopExecution and StartExecution

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

// ---------------------------------------------------------------------------
// The HTTP Lambda dispatcher

/// A fake Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`),
/// answering as the Lambda API reference (Invoke) documents: the payload
/// for a success, `X-Amz-Function-Error: Unhandled` with the error document
/// for a function error, 404 ResourceNotFoundException for an unknown
/// function.
async fn fake_lambda_api(
    seen: Arc<Mutex<Vec<(String, Value)>>>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let target = req.uri().to_string();
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        seen.lock().unwrap().push((target, payload.clone()));
                        let response = match path.as_str() {
                            "/2015-03-31/functions/echo/invocations" => http::Response::builder()
                                .status(200)
                                .header("X-Amz-Executed-Version", "$LATEST")
                                .body(Full::new(bytes::Bytes::from(json!({"echo": payload}).to_string()))),
                            "/2015-03-31/functions/broken/invocations" => http::Response::builder()
                                .status(200)
                                .header("X-Amz-Function-Error", "Unhandled")
                                .body(Full::new(bytes::Bytes::from(
                                    json!({"errorType": "Fatal.Broken", "errorMessage": "it broke"}).to_string(),
                                ))),
                            _ => http::Response::builder()
                                .status(404)
                                .header("x-amzn-ErrorType", "ResourceNotFoundException")
                                .body(Full::new(bytes::Bytes::from(
                                    json!({"Type": "User", "message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing"}).to_string(),
                                ))),
                        };
                        Ok::<_, Infallible>(response.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

/// Lambda API reference, Invoke (request path, Qualifier query parameter,
/// X-Amz-Function-Error, ResourceNotFoundException), mapped as AWS "Handling
/// errors" describes (errorType → Error, the error document → Cause,
/// service errors → Lambda.<Exception>). Real network I/O: no paused time.
#[tokio::test]
async fn http_lambda_dispatcher_forwards_to_the_invoke_api() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (addr, server) = fake_lambda_api(seen.clone()).await;
    let service = Builder::new()
        .lambda(Arc::new(HttpLambdaInvoker::new(format!("http://{addr}"))))
        .build();
    let h = Harness::with_service(service);

    let run = h
        .run("lambda_invoke", json!({"fn": "echo", "payload": {"a": 1}}))
        .await;
    let out = run.output();
    assert_eq!(out["Payload"], json!({"echo": {"a": 1}}));
    assert_eq!(out["StatusCode"], json!(200));

    let run = h
        .run("lambda_function_arn", json!({"payload": {"b": 2}}))
        .await;
    assert_eq!(run.output(), json!({"echo": {"b": 2}}));

    let run = h.run("lambda_invoke_qualified", json!({})).await;
    assert_eq!(run.output()["Payload"], json!({"echo": {"q": 1}}));

    let run = h
        .run("lambda_invoke", json!({"fn": "broken", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Fatal.Broken");
    assert_eq!(
        serde_json::from_str::<Value>(&cause).unwrap(),
        json!({"errorType": "Fatal.Broken", "errorMessage": "it broke"})
    );

    let run = h
        .run("lambda_invoke", json!({"fn": "missing", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Lambda.ResourceNotFoundException");
    assert!(cause.contains("Function not found"), "{cause}");

    let seen = seen.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/2015-03-31/functions/echo/invocations",
            "/2015-03-31/functions/echo/invocations",
            "/2015-03-31/functions/echo/invocations?Qualifier=live",
            "/2015-03-31/functions/broken/invocations",
            "/2015-03-31/functions/missing/invocations",
        ]
    );
    assert_eq!(seen[0].1, json!({"a": 1}));
    assert_eq!(seen[1].1, json!({"b": 2}));
    server.abort();
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
