//! The contract between the state machines and the steps, checked without
//! running anything: every `FunctionName` is a step served by its own
//! `functions/` crate; every path a state names (`Payload` and `Parameters`
//! paths, `ResultSelector`s reading `$.Payload.*` or a CodeBuild `$.Build.*`,
//! Choice variables, `ErrorPath`/`CausePath`) exists in the data that reaches
//! that state; and every payload is what the step's `Input` accepts (no
//! unknown field, every required one).
//!
//! The data reaching each state is computed from the types: the execution
//! input (`ExecutionInput`), each step's `Output` schema, CodeBuild's
//! documented `Build` fields and each state's `ResultSelector` /
//! `ResultPath` (ASL specification, "Input and Output Processing"); where
//! several transitions lead to a state, only the fields present on every
//! one of them count.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use jobs_handlers::job_service::ExecutionInput;
use jobs_handlers::steps::{self, StepEntry};
use serde_json::{Map, Value, json};

/// What is known about a value's structure.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Anything (a `serde_json::Value`, or a service's answer we do not model).
    Any,
    /// A string, number, boolean, null or array: it has no fields.
    Leaf,
    Object(BTreeMap<String, Shape>),
}

fn root() -> PathBuf {
    manifest_dir().join("../..")
}

/// The shape of a JSON Schema (as schemars writes them: `$ref`s into
/// `$defs`, `Option<T>` as `anyOf [T, null]` or `type: [t, "null"]`).
fn shape_of(schema: &Value, doc: &Value) -> Shape {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return shape_of(&doc["$defs"][name], doc);
    }
    if schema == &Value::Bool(true) || schema.as_object().is_some_and(Map::is_empty) {
        return Shape::Any;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let real: Vec<&Value> = options
                .iter()
                .filter(|o| o.get("type") != Some(&json!("null")))
                .collect();
            return match real.as_slice() {
                [one] => shape_of(one, doc),
                _ => Shape::Any,
            };
        }
    }
    match schema.get("properties").and_then(Value::as_object) {
        Some(props) => Shape::Object(
            props
                .iter()
                .map(|(k, s)| (k.clone(), shape_of(s, doc)))
                .collect(),
        ),
        None if schema.get("type") == Some(&json!("object")) => Shape::Any,
        None => Shape::Leaf,
    }
}

fn object(fields: &[(&str, Shape)]) -> Shape {
    Shape::Object(
        fields
            .iter()
            .map(|(k, s)| (k.to_string(), s.clone()))
            .collect(),
    )
}

/// What `arn:aws:states:::codebuild:startBuild.sync` answers: `{Build: …}`
/// with CodeBuild's documented `Build` fields (CodeBuild API reference, "Build").
fn codebuild_result() -> Shape {
    let build = [
        "Arn",
        "BuildComplete",
        "BuildNumber",
        "BuildStatus",
        "CurrentPhase",
        "EndTime",
        "Environment",
        "ExportedEnvironmentVariables",
        "Id",
        "Initiator",
        "Logs",
        "Phases",
        "ProjectName",
        "QueuedTimeoutInMinutes",
        "ResolvedSourceVersion",
        "Source",
        "SourceVersion",
        "StartTime",
        "TimeoutInMinutes",
    ];
    object(&[(
        "Build",
        Shape::Object(build.iter().map(|f| (f.to_string(), Shape::Any)).collect()),
    )])
}

/// What `arn:aws:states:::lambda:invoke` answers around the function's output.
fn lambda_result(output: Shape) -> Shape {
    object(&[
        ("Payload", output),
        ("StatusCode", Shape::Leaf),
        ("ExecutedVersion", Shape::Leaf),
        ("SdkHttpMetadata", Shape::Any),
        ("SdkResponseMetadata", Shape::Any),
    ])
}

const CONTEXT_PATHS: &[&str] = &[
    "$$.Execution.Id",
    "$$.Execution.Name",
    "$$.Execution.Input",
    "$$.Execution.StartTime",
    "$$.Execution.RoleArn",
    "$$.State.Name",
    "$$.State.EnteredTime",
    "$$.State.RetryCount",
    "$$.StateMachine.Id",
    "$$.StateMachine.Name",
];

/// The shape at a reference path (`$`, `$.a.b`), or why there is none.
fn at(shape: &Shape, path: &str) -> Result<Shape, String> {
    if path.starts_with("$$") {
        return if CONTEXT_PATHS.contains(&path) {
            Ok(Shape::Leaf)
        } else {
            Err(format!("{path} is not a context object field"))
        };
    }
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("{path} is not a path"))?;
    let mut current = shape.clone();
    for field in rest.split('.').skip(1) {
        current = match current {
            Shape::Any => return Ok(Shape::Any),
            Shape::Leaf => return Err(format!("{path}: nothing to read {field:?} from")),
            Shape::Object(fields) => fields.get(field).cloned().ok_or_else(|| {
                format!(
                    "{path}: no field {field:?} (there are: {})",
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?,
        };
    }
    Ok(current)
}

/// The shape a payload template (Parameters, ResultSelector) produces.
fn template(t: &Value, input: &Shape, errors: &mut Vec<String>, state: &str) -> Shape {
    match t {
        Value::Object(map) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                match (k.strip_suffix(".$"), v) {
                    (Some(key), Value::String(path)) if path.starts_with("States.") => {
                        out.insert(key.to_string(), Shape::Any);
                    }
                    (Some(key), Value::String(path)) => match at(input, path) {
                        Ok(s) => {
                            out.insert(key.to_string(), s);
                        }
                        Err(e) => errors.push(format!("{state}: {key}.$: {e}")),
                    },
                    _ => {
                        out.insert(k.clone(), template(v, input, errors, state));
                    }
                }
            }
            Shape::Object(out)
        }
        Value::Array(items) => {
            for item in items {
                template(item, input, errors, state);
            }
            Shape::Leaf
        }
        _ => Shape::Leaf,
    }
}

/// `ResultPath` applied: the state's output before `OutputPath`.
fn with_result(input: &Shape, result_path: Option<&Value>, result: Shape) -> Shape {
    match result_path {
        Some(Value::Null) => input.clone(),
        None => result,
        Some(Value::String(p)) if p == "$" => result,
        Some(Value::String(p)) => {
            let fields: Vec<&str> = p.trim_start_matches("$.").split('.').collect();
            set(input, &fields, result)
        }
        Some(other) => panic!("unexpected ResultPath {other}"),
    }
}

fn set(shape: &Shape, fields: &[&str], value: Shape) -> Shape {
    let Some((first, rest)) = fields.split_first() else {
        return value;
    };
    let mut map = match shape {
        Shape::Object(m) => m.clone(),
        _ => BTreeMap::new(),
    };
    let inner = map
        .get(*first)
        .cloned()
        .unwrap_or(Shape::Object(BTreeMap::new()));
    map.insert(first.to_string(), set(&inner, rest, value));
    Shape::Object(map)
}

/// What is known on every one of two paths.
fn meet(a: &Shape, b: &Shape) -> Shape {
    match (a, b) {
        (Shape::Any, x) | (x, Shape::Any) => x.clone(),
        (Shape::Object(x), Shape::Object(y)) => Shape::Object(
            x.iter()
                .filter_map(|(k, v)| y.get(k).map(|w| (k.clone(), meet(v, w))))
                .collect(),
        ),
        _ => Shape::Leaf,
    }
}

/// Checks a Lambda payload against the step's `Input` schema.
fn check_input(state: &str, payload: &Shape, entry: &StepEntry, errors: &mut Vec<String>) {
    let doc = (entry.input_schema)().to_value();
    let props: BTreeSet<String> = doc["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let required: Vec<&str> = doc["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let closed = doc["additionalProperties"] == json!(false);
    let Shape::Object(fields) = payload else {
        return;
    };
    for f in fields.keys() {
        if closed && !props.contains(f) {
            errors.push(format!(
                "{state}: the payload field {f:?} is not in {}'s Input ({})",
                entry.function,
                props.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for r in required {
        if !fields.contains_key(r) {
            errors.push(format!(
                "{state}: {}'s Input requires {r:?}, which the payload lacks",
                entry.function
            ));
        }
    }
}

/// Where a state goes, with the data it passes.
fn successors(
    name: &str,
    s: &Value,
    input: &Shape,
    entries: &BTreeMap<&str, StepEntry>,
    errors: &mut Vec<String>,
) -> Vec<(String, Shape)> {
    let mut out = Vec::new();
    let effective = match s.get("InputPath").and_then(Value::as_str) {
        Some(p) => at(input, p).unwrap_or_else(|e| {
            errors.push(format!("{name}: InputPath {e}"));
            Shape::Any
        }),
        None => input.clone(),
    };
    let finish = |result: Shape, errors: &mut Vec<String>| -> Shape {
        let selected = match s.get("ResultSelector") {
            Some(sel) => template(sel, &result, errors, name),
            None => result,
        };
        let output = with_result(input, s.get("ResultPath"), selected);
        match s.get("OutputPath").and_then(Value::as_str) {
            Some(p) => at(&output, p).unwrap_or(Shape::Any),
            None => output,
        }
    };
    let next = |out: &mut Vec<(String, Shape)>, shape: Shape| {
        if let Some(n) = s.get("Next").and_then(Value::as_str) {
            out.push((n.to_string(), shape));
        }
    };
    match s["Type"].as_str().unwrap() {
        "Task" => {
            let resource = s["Resource"].as_str().unwrap();
            let params = s.get("Parameters").cloned().unwrap_or(Value::Null);
            let result = if resource == "arn:aws:states:::lambda:invoke" {
                let function = params["FunctionName"].as_str().unwrap();
                let entry = entries
                    .get(function)
                    .unwrap_or_else(|| panic!("{name}: no step is the function {function}"));
                let payload = match (params.get("Payload"), params.get("Payload.$")) {
                    (Some(p), _) => template(p, &effective, errors, name),
                    (None, Some(Value::String(path))) => at(&effective, path).unwrap_or_else(|e| {
                        errors.push(format!("{name}: Payload.$: {e}"));
                        Shape::Any
                    }),
                    _ => Shape::Object(BTreeMap::new()),
                };
                check_input(name, &payload, entry, errors);
                let doc = (entry.output_schema)().to_value();
                lambda_result(shape_of(&doc, &doc))
            } else if resource == "arn:aws:states:::codebuild:startBuild.sync" {
                template(&params, &effective, errors, name);
                codebuild_result()
            } else {
                panic!("{name}: extend the contract test to the integration {resource}");
            };
            next(&mut out, finish(result, errors));
        }
        "Pass" => {
            let result = match (s.get("Result"), s.get("Parameters")) {
                (Some(r), _) => template(r, &Shape::Object(BTreeMap::new()), errors, name),
                (None, Some(p)) => template(p, &effective, errors, name),
                (None, None) => effective.clone(),
            };
            next(&mut out, finish(result, errors));
        }
        "Choice" => {
            fn variables(rule: &Value, acc: &mut Vec<String>) {
                if let Some(v) = rule.get("Variable").and_then(Value::as_str) {
                    acc.push(v.to_string());
                }
                for k in ["And", "Or"] {
                    for r in rule.get(k).and_then(Value::as_array).into_iter().flatten() {
                        variables(r, acc);
                    }
                }
                if let Some(r) = rule.get("Not") {
                    variables(r, acc);
                }
            }
            for choice in s["Choices"].as_array().unwrap() {
                let mut vars = Vec::new();
                variables(choice, &mut vars);
                for v in vars {
                    if let Err(e) = at(&effective, &v) {
                        errors.push(format!("{name}: Variable {e}"));
                    }
                }
                out.push((choice["Next"].as_str().unwrap().to_string(), input.clone()));
            }
            if let Some(d) = s.get("Default").and_then(Value::as_str) {
                out.push((d.to_string(), input.clone()));
            }
        }
        "Wait" => {
            for k in ["SecondsPath", "TimestampPath"] {
                if let Some(p) = s.get(k).and_then(Value::as_str)
                    && let Err(e) = at(&effective, p)
                {
                    errors.push(format!("{name}: {k} {e}"));
                }
            }
            next(&mut out, input.clone());
        }
        "Fail" => {
            for k in ["ErrorPath", "CausePath"] {
                if let Some(p) = s.get(k).and_then(Value::as_str)
                    && let Err(e) = at(input, p)
                {
                    errors.push(format!("{name}: {k} {e}"));
                }
            }
        }
        "Succeed" => {}
        other => panic!("{name}: extend the contract test to {other} states"),
    }
    for c in s
        .get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let caught = object(&[("Error", Shape::Leaf), ("Cause", Shape::Leaf)]);
        out.push((
            c["Next"].as_str().unwrap().to_string(),
            with_result(input, c.get("ResultPath"), caught),
        ));
    }
    out
}

/// Every problem in one state machine definition.
fn check_machine(def: &Value, entries: &BTreeMap<&str, StepEntry>) -> Vec<String> {
    let states = def["States"].as_object().unwrap();
    let start = schemars::schema_for!(ExecutionInput).to_value();
    let mut shapes: BTreeMap<String, Shape> = BTreeMap::new();
    let mut queue = VecDeque::from([(
        def["StartAt"].as_str().unwrap().to_string(),
        shape_of(&start, &start),
    )]);
    let mut scratch = Vec::new();
    // The data reaching each state: a fixpoint (shapes only lose fields).
    while let Some((name, incoming)) = queue.pop_front() {
        let merged = match shapes.get(&name) {
            Some(old) => meet(old, &incoming),
            None => incoming,
        };
        if shapes.get(&name) == Some(&merged) {
            continue;
        }
        shapes.insert(name.clone(), merged.clone());
        let state = states
            .get(&name)
            .unwrap_or_else(|| panic!("no state {name}"));
        queue.extend(successors(&name, state, &merged, entries, &mut scratch));
    }
    let mut errors = Vec::new();
    for (name, shape) in &shapes {
        successors(name, &states[name], shape, entries, &mut errors);
    }
    errors.sort();
    errors.dedup();
    errors
}

fn machines() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(root().join("statemachines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 5, "one state machine per job type");
    out
}

fn entries() -> BTreeMap<&'static str, StepEntry> {
    steps::all().into_iter().map(|e| (e.function, e)).collect()
}

#[test]
fn every_path_the_state_machines_name_exists_in_the_step_types() {
    let entries = entries();
    let mut problems = Vec::new();
    for (file, def) in machines() {
        problems.extend(
            check_machine(&def, &entries)
                .into_iter()
                .map(|e| format!("{file}: {e}")),
        );
    }
    assert!(
        problems.is_empty(),
        "the state machines and the step types disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_a_result_selector_naming_a_field_the_output_lacks() {
    let entries = entries();
    let (_, mut def) = machines()
        .into_iter()
        .find(|(f, _)| f == "deploy_worker.asl.json")
        .unwrap();
    def["States"]["RegisterWorker"]["ResultSelector"]["cluster.$"] = json!("$.Payload.cluster");
    def["States"]["TerraformApply"]["Parameters"]["EnvironmentVariablesOverride"][1]["Value.$"] =
        json!("$.config.uri");
    def["States"]["RegisterWorker"]["Parameters"]["Payload"]["colour"] = json!("red");
    let problems = check_machine(&def, &entries).join("\n");
    assert!(
        problems.contains("RegisterWorker: cluster.$: $.Payload.cluster: no field \"cluster\""),
        "{problems}"
    );
    assert!(
        problems.contains("TerraformApply: Value.$: $.config.uri: no field \"uri\""),
        "{problems}"
    );
    assert!(
        problems.contains("\"colour\" is not in worker-jobs-register-worker's Input"),
        "{problems}"
    );
    // A field that only some paths provide does not count.
    let (_, mut def) = machines()
        .into_iter()
        .find(|(f, _)| f == "destroy_worker.asl.json")
        .unwrap();
    def["States"]["Deregister"]["Parameters"]["Payload"]["terraform.$"] =
        json!("$.config.terraform.build_id");
    let problems = check_machine(&def, &entries).join("\n");
    assert!(problems.contains("Deregister: terraform.$"), "{problems}");
}

#[test]
fn every_function_is_a_step_served_by_its_own_crate() {
    let named: BTreeSet<String> = machines()
        .iter()
        .flat_map(|(_, def)| {
            def["States"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(|s| s["Parameters"]["FunctionName"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    let steps: BTreeSet<String> = steps::all()
        .iter()
        .map(|e| e.function.to_string())
        .collect();
    assert_eq!(
        named, steps,
        "the state machines call exactly the steps there are"
    );
    for entry in steps::all() {
        let krate = entry.function.trim_start_matches("worker-jobs-");
        let main = root().join("functions").join(krate).join("src/main.rs");
        let text = std::fs::read_to_string(&main)
            .unwrap_or_else(|_| panic!("{} is missing", main.display()));
        let type_name = entry.type_name.rsplit("::").next().unwrap();
        assert!(
            text.contains(&format!("serve_step::<{type_name}>()")),
            "{} serves {type_name} ({})",
            main.display(),
            entry.function
        );
    }
}

/// This package's directory, as cargo or nextest says at run time (a test
/// binary built in another clone sharing the target directory still reads
/// this clone's files).
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
