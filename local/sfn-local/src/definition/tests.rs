//! Tests of definition validation: what CreateStateMachine rejects, and
//! that each problem names its location.

use serde_json::{Value, json};

use super::parse_value;

fn problems(def: Value) -> String {
    match parse_value(&def) {
        Ok(_) => panic!("definition should be rejected: {def}"),
        Err(e) => e,
    }
}

#[test]
fn a_minimal_definition_is_accepted() {
    let d = parse_value(&json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}))
        .unwrap();
    assert_eq!(d.root.states.len(), 1);
}

// AWS CreateStateMachine rejects these with InvalidDefinition; the
// messages name the state and the problem.
#[test]
fn next_pointing_nowhere_names_the_state() {
    let e = problems(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}));
    assert!(e.contains("MISSING_TRANSITION_TARGET"), "{e}");
    assert!(e.contains("/States/A/Next"), "{e}");
    assert!(e.contains("Nowhere"), "{e}");
}

#[test]
fn unreachable_states_are_rejected() {
    let e = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true},
        "Orphan": {"Type": "Pass", "End": true}
    }}));
    assert!(e.contains("UNREACHABLE_STATE"), "{e}");
    assert!(e.contains("Orphan"), "{e}");
}

#[test]
fn unknown_fields_are_rejected() {
    let e = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Nxt": "B"}}}),
    );
    assert!(e.contains("'Nxt'") && e.contains("/States/A/Nxt"), "{e}");
    let e = problems(
        json!({"StartAt": "A", "Extra": 1, "States": {"A": {"Type": "Pass", "End": true}}}),
    );
    assert!(e.contains("Extra"), "{e}");
    // Choice states have no ResultPath (specification, field table).
    let e = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "ResultPath": "$.x", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "E"}], "Default": "E"},
        "E": {"Type": "Succeed"}
    }}));
    assert!(e.contains("ResultPath"), "{e}");
}

#[test]
fn bad_paths_and_intrinsics_are_rejected() {
    let e = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$.a[", "End": true}}}),
    );
    assert!(
        e.contains("INVALID_JSON_PATH") && e.contains("/States/A/InputPath"),
        "{e}"
    );
    let e = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}}),
    );
    assert!(e.contains("/States/A/ResultPath"), "{e}");
    let e = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "States.Nope(1)"}, "End": true}}}),
    );
    assert!(
        e.contains("INVALID_INTRINSIC_FUNCTION") && e.contains("/States/A/Parameters"),
        "{e}"
    );
    let e = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "ResultPath": "$$.x", "End": true}}}),
    );
    assert!(e.contains("context object"), "{e}");
}

#[test]
fn retry_and_catch_rules() {
    // Specification "Retrying after an error": States.ALL must be alone and last.
    let e = problems(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}),
    );
    assert!(e.contains("must be the last"), "{e}");
    let e = problems(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}}),
    );
    assert!(e.contains("alone"), "{e}");
    let e = problems(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
        "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}}}),
    );
    assert!(e.contains("BackoffRate"), "{e}");
    let e = problems(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
        "Catch": [{"ErrorEquals": ["X"], "Next": "Missing"}]}}}),
    );
    assert!(e.contains("/States/T/Catch[0]/Next"), "{e}");
}

#[test]
fn choice_rules_are_checked() {
    let e = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": "one", "Next": "E"}]},
        "E": {"Type": "Succeed"}
    }}));
    assert!(e.contains("NumericEquals takes a number"), "{e}");
    let e = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "StringEquals": "x", "Next": "E"}]},
        "E": {"Type": "Succeed"}
    }}));
    assert!(e.contains("exactly one"), "{e}");
    let e = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsNull": true, "Next": "E"}, "Next": "E"}]},
        "E": {"Type": "Succeed"}
    }}));
    assert!(e.contains("only top-level"), "{e}");
}

#[test]
fn wait_needs_exactly_one_duration() {
    let e = problems(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": true}}}),
    );
    assert!(e.contains("exactly one"), "{e}");
}

#[test]
fn nested_states_are_validated_and_names_are_unique() {
    let e = problems(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Gone"}}}
        ]}}}),
    );
    assert!(e.contains("DUPLICATE_STATE_NAME"), "{e}");
    assert!(e.contains("/States/P/Branches[0]/States/P/Next"), "{e}");
}

#[test]
fn jsonata_and_distributed_map_are_reported_as_unsupported() {
    let e = problems(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
    );
    assert!(e.contains("UNSUPPORTED_FEATURE"), "{e}");
    let e = problems(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}}}}),
    );
    assert!(e.contains("INLINE"), "{e}");
}
