//! State machine definitions: parsing Amazon States Language (JSONPath
//! mode) into a typed, index-linked model, and validating it the way
//! CreateStateMachine does. Every problem is reported with its location
//! (`/States/Name/Field`), and all problems are reported at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::choice::{self, COMPARISONS, Operand, PathRef, Rule, TYPE_TESTS};
use crate::error::names;
use crate::limits::MAX_STATE_NAME_CHARS;
use crate::path::Path;
use crate::payload::{Template, ValueRef};

/// A validated state machine.
#[derive(Debug)]
pub struct Definition {
    pub root: Arc<Block>,
    pub timeout_seconds: Option<u64>,
}

/// A set of states with a start: the top level, a Parallel branch or a Map
/// item processor.
#[derive(Debug)]
pub struct Block {
    pub start_at: usize,
    pub states: Vec<State>,
}

#[derive(Debug)]
pub struct State {
    pub name: Arc<str>,
    pub kind: Kind,
    pub input_path: Option<Path>,
    pub output_path: Option<Path>,
    /// `Parameters` (Pass, Task, Parallel) or `ItemSelector` (Map).
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: Option<Path>,
    pub next: Transition,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

/// Absent paths default to `$`; `null` is represented by `None` in the
/// fields above together with these flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Next(usize),
    End,
    /// Choice, Succeed and Fail decide themselves.
    None,
}

#[derive(Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<(Rule, usize)>,
        default: Option<usize>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<ErrorSource>,
        cause: Option<ErrorSource>,
    },
    Parallel {
        branches: Vec<Arc<Block>>,
    },
    Map(Box<MapSpec>),
}

#[derive(Debug)]
pub struct MapSpec {
    pub items_path: PathRef,
    pub processor: Arc<Block>,
    pub max_concurrency: Option<Count>,
    pub tolerated_count: Option<Count>,
    pub tolerated_percentage: Option<Count>,
}

/// A number given literally or read from the input.
#[derive(Debug, Clone)]
pub enum Count {
    Literal(f64),
    Path(PathRef),
}

/// A duration in seconds given literally or read from the input.
#[derive(Debug, Clone)]
pub enum Seconds {
    Literal(u64),
    Path(PathRef),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(Seconds),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    TimestampPath(PathRef),
}

#[derive(Debug, Clone)]
pub enum ErrorSource {
    Literal(String),
    Dynamic(ValueRef),
}

/// Fields, with the flags that say whether InputPath/OutputPath/ResultPath
/// were explicitly `null`.
#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter_full: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: usize,
    pub result_path: Option<Path>,
}

impl State {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Pass { .. } => "Pass",
            Kind::Task { .. } => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

/// Parses and validates a definition. The error lists every problem found.
pub fn parse(text: &str) -> Result<Definition, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: the definition is not valid JSON: {e}'"))?;
    parse_value(&value)
}

pub fn parse_value(value: &Value) -> Result<Definition, String> {
    let mut v = Validator::default();
    let definition = v.definition(value);
    if v.problems.is_empty()
        && let Some(d) = definition
    {
        return Ok(d);
    }
    if v.problems.is_empty() {
        v.problems
            .push("SCHEMA_VALIDATION_FAILED: the definition is invalid".to_string());
    }
    Err(format!(
        "Invalid State Machine Definition: '{}'",
        v.problems.join("', '")
    ))
}

#[derive(Default)]
struct Validator {
    problems: Vec<String>,
    all_names: HashSet<String>,
}

const COMMON: &[&str] = &["Type", "Comment"];
const PASS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Parameters",
    "ResultPath",
    "Result",
];
const TASK: &[&str] = &[
    "Resource",
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
];
const CHOICE: &[&str] = &["Choices", "Default", "InputPath", "OutputPath"];
const WAIT: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Seconds",
    "SecondsPath",
    "Timestamp",
    "TimestampPath",
];
const SUCCEED: &[&str] = &["InputPath", "OutputPath"];
const FAIL: &[&str] = &["Error", "ErrorPath", "Cause", "CausePath"];
const PARALLEL: &[&str] = &[
    "Branches",
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
];
const MAP: &[&str] = &[
    "ItemsPath",
    "ItemSelector",
    "Parameters",
    "ItemProcessor",
    "Iterator",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "Label",
];
/// Valid in AWS but outside what this engine runs: rejected with a message
/// that says so rather than "unknown field".
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "Assign",
        "workflow variables (Assign) are not supported by sfn-local",
    ),
    (
        "Arguments",
        "'Arguments' belongs to the JSONata query language, which sfn-local does not support",
    ),
    (
        "Output",
        "'Output' belongs to the JSONata query language, which sfn-local does not support",
    ),
    (
        "QueryLanguage",
        "only the JSONPath query language is supported by sfn-local",
    ),
    (
        "Credentials",
        "cross-account task credentials are not supported by sfn-local",
    ),
    (
        "ItemReader",
        "Distributed Map (ItemReader) is not supported by sfn-local",
    ),
    (
        "ItemBatcher",
        "Distributed Map (ItemBatcher) is not supported by sfn-local",
    ),
    (
        "ResultWriter",
        "Distributed Map (ResultWriter) is not supported by sfn-local",
    ),
];

/// Raw state with its location, before names are resolved to indices.
struct Pending<'a> {
    name: String,
    at: String,
    obj: &'a Map<String, Value>,
}

impl Validator {
    fn problem(&mut self, code: &str, message: impl AsRef<str>, at: &str) {
        self.problems
            .push(format!("{code}: {} at {at}", message.as_ref()));
    }

    fn definition(&mut self, value: &Value) -> Option<Definition> {
        let Some(obj) = value.as_object() else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "the definition must be a JSON object",
                "/",
            );
            return None;
        };
        for key in obj.keys() {
            match key.as_str() {
                "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds" => {}
                "QueryLanguage"
                    if obj.get("QueryLanguage") == Some(&Value::String("JSONPath".into())) => {}
                other => self.unknown_field(other, "/"),
            }
        }
        let timeout_seconds = match obj.get("TimeoutSeconds") {
            None => None,
            Some(v) => match v.as_u64().filter(|n| *n > 0) {
                Some(n) => Some(n),
                None => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        "TimeoutSeconds must be a positive integer",
                        "/TimeoutSeconds",
                    );
                    None
                }
            },
        };
        if let Some(version) = obj.get("Version")
            && version.as_str() != Some("1.0")
        {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "Version must be \"1.0\"",
                "/Version",
            );
        }
        let root = self.block(obj, "")?;
        Some(Definition {
            root,
            timeout_seconds,
        })
    }

    fn unknown_field(&mut self, field: &str, at: &str) {
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(f, _)| *f == field) {
            self.problem("UNSUPPORTED_FEATURE", *why, &format!("{at}{field}"));
        } else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                format!("The field '{field}' is not supported by Step Functions"),
                &format!("{at}{field}"),
            );
        }
    }

    /// Parses `{StartAt, States}` found at `prefix` (e.g. "" or
    /// "/States/P/Branches[0]").
    fn block(&mut self, obj: &Map<String, Value>, prefix: &str) -> Option<Arc<Block>> {
        let start_at = match obj.get("StartAt").and_then(Value::as_str) {
            Some(s) => Some(s.to_string()),
            None => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "StartAt is required and must be a string",
                    &format!("{prefix}/StartAt"),
                );
                None
            }
        };
        let Some(states) = obj.get("States").and_then(Value::as_object) else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "States is required and must be an object",
                &format!("{prefix}/States"),
            );
            return None;
        };
        if states.is_empty() {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "States must contain at least one state",
                &format!("{prefix}/States"),
            );
            return None;
        }
        let mut pending = Vec::with_capacity(states.len());
        let mut index = HashMap::with_capacity(states.len());
        for (name, state) in states {
            let at = format!("{prefix}/States/{name}");
            if name.is_empty() || name.chars().count() > MAX_STATE_NAME_CHARS {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("state names must be 1 to {MAX_STATE_NAME_CHARS} characters"),
                    &at,
                );
            }
            if !self.all_names.insert(name.clone()) {
                self.problem(
                    "DUPLICATE_STATE_NAME",
                    format!("Duplicate State name: {name}"),
                    &at,
                );
            }
            let Some(obj) = state.as_object() else {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a state must be a JSON object",
                    &at,
                );
                continue;
            };
            index.insert(name.clone(), pending.len());
            pending.push(Pending {
                name: name.clone(),
                at,
                obj,
            });
        }
        let start = start_at.as_ref().and_then(|s| {
            let found = index.get(s).copied();
            if found.is_none() {
                self.problem(
                    "MISSING_TRANSITION_TARGET",
                    format!("StartAt '{s}' does not name a state"),
                    &format!("{prefix}/StartAt"),
                );
            }
            found
        });
        let mut built = Vec::with_capacity(pending.len());
        for p in &pending {
            if let Some(state) = self.state(p, &index) {
                built.push(state);
            }
        }
        let start = start?;
        if built.len() != pending.len() {
            return None;
        }
        self.check_reachability(&built, start, prefix);
        Some(Arc::new(Block {
            start_at: start,
            states: built,
        }))
    }

    fn check_reachability(&mut self, states: &[State], start: usize, prefix: &str) {
        let mut seen = vec![false; states.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let state = &states[i];
            if let Transition::Next(n) = state.next {
                queue.push_back(n);
            }
            for c in &state.catch {
                queue.push_back(c.next);
            }
            if let Kind::Choice { choices, default } = &state.kind {
                queue.extend(choices.iter().map(|(_, n)| *n));
                queue.extend(default.iter().copied());
            }
        }
        for (i, state) in states.iter().enumerate() {
            if !seen[i] {
                self.problem(
                    "UNREACHABLE_STATE",
                    format!("State '{}' is not reachable", state.name),
                    &format!("{prefix}/States/{}", state.name),
                );
            }
        }
        let terminal = states.iter().any(|s| {
            matches!(s.next, Transition::End) || matches!(s.kind, Kind::Succeed | Kind::Fail { .. })
        });
        if !terminal {
            self.problem(
                "NO_TERMINAL_STATE",
                "the workflow has no terminal state (End, Succeed or Fail)",
                &format!("{prefix}/States"),
            );
        }
    }

    fn state(&mut self, p: &Pending<'_>, index: &HashMap<String, usize>) -> Option<State> {
        let obj = p.obj;
        let at = &p.at;
        let type_name = match obj.get("Type").and_then(Value::as_str) {
            Some(t) => t,
            None => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "Type is required",
                    &format!("{at}/Type"),
                );
                return None;
            }
        };
        let allowed: &[&str] = match type_name {
            "Pass" => PASS,
            "Task" => TASK,
            "Choice" => CHOICE,
            "Wait" => WAIT,
            "Succeed" => SUCCEED,
            "Fail" => FAIL,
            "Parallel" => PARALLEL,
            "Map" => MAP,
            other => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("unknown state Type '{other}'"),
                    &format!("{at}/Type"),
                );
                return None;
            }
        };
        let field_at = format!("{at}/");
        for key in obj.keys() {
            if !COMMON.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
                self.unknown_field(key, &field_at);
            }
        }
        if let Some(c) = obj.get("Comment")
            && !c.is_string()
        {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "Comment must be a string",
                &format!("{at}/Comment"),
            );
        }
        let problems_before = self.problems.len();

        let input_path = self.io_path(obj, "InputPath", at);
        let output_path = self.io_path(obj, "OutputPath", at);
        let result_path = self.result_path(obj.get("ResultPath"), &format!("{at}/ResultPath"));
        let parameters_key = if type_name == "Map" && obj.contains_key("ItemSelector") {
            if obj.contains_key("Parameters") {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "use either ItemSelector or Parameters, not both",
                    at,
                );
            }
            "ItemSelector"
        } else {
            "Parameters"
        };
        let parameters = self.template(obj, parameters_key, at);
        let result_selector = self.template(obj, "ResultSelector", at);

        let has_next_end = matches!(type_name, "Pass" | "Task" | "Wait" | "Parallel" | "Map");
        let next = if has_next_end {
            self.transition(obj, index, at)
        } else {
            Transition::None
        };
        let (retry, catch) = if matches!(type_name, "Task" | "Parallel" | "Map") {
            (self.retriers(obj, at), self.catchers(obj, index, at))
        } else {
            (Vec::new(), Vec::new())
        };

        let kind = match type_name {
            "Pass" => Kind::Pass {
                result: obj.get("Result").cloned(),
            },
            "Task" => self.task(obj, at),
            "Choice" => self.choice_state(obj, index, at),
            "Wait" => self.wait(obj, at),
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail_state(obj, at),
            "Parallel" => self.parallel(obj, at),
            "Map" => self.map(obj, at),
            _ => return None,
        };
        if self.problems.len() != problems_before {
            return None;
        }
        Some(State {
            name: Arc::from(p.name.as_str()),
            kind,
            input_path: input_path?,
            output_path: output_path?,
            parameters: parameters?,
            result_selector: result_selector?,
            result_path: result_path?,
            next,
            retry,
            catch,
        })
    }

    /// InputPath/OutputPath: absent → `$`; `null` → `None` (an empty object).
    fn io_path(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<Option<Path>> {
        match obj.get(field) {
            None => Some(Some(Path::root())),
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.problem("INVALID_JSON_PATH", e.to_string(), &format!("{at}/{field}"));
                    None
                }
            },
            Some(_) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("{field} must be a string or null"),
                    &format!("{at}/{field}"),
                );
                None
            }
        }
    }

    fn result_path(&mut self, value: Option<&Value>, at: &str) -> Option<Option<Path>> {
        match value {
            None => Some(Some(Path::root())),
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.starts_with("$$") => {
                self.problem(
                    "INVALID_JSON_PATH",
                    "ResultPath cannot refer to the context object ($$)",
                    at,
                );
                None
            }
            Some(Value::String(s)) => match Path::parse_reference(s) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    self.problem("INVALID_JSON_PATH", e.to_string(), at);
                    None
                }
            },
            Some(_) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "ResultPath must be a string or null",
                    at,
                );
                None
            }
        }
    }

    fn template(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<Option<Template>> {
        match obj.get(field) {
            None => Some(None),
            Some(value) => match Template::compile(value) {
                Ok(t) => Some(Some(t)),
                Err(e) => {
                    let code = if e.contains("intrinsic") {
                        "INVALID_INTRINSIC_FUNCTION"
                    } else {
                        "INVALID_JSON_PATH"
                    };
                    self.problem(code, e, &format!("{at}/{field}"));
                    None
                }
            },
        }
    }

    fn target(&mut self, name: &Value, index: &HashMap<String, usize>, at: &str) -> Option<usize> {
        let Some(name) = name.as_str() else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "a transition target must be a state name",
                at,
            );
            return None;
        };
        let found = index.get(name).copied();
        if found.is_none() {
            self.problem(
                "MISSING_TRANSITION_TARGET",
                format!("Missing 'Next' target: {name}"),
                at,
            );
        }
        found
    }

    fn transition(
        &mut self,
        obj: &Map<String, Value>,
        index: &HashMap<String, usize>,
        at: &str,
    ) -> Transition {
        match (obj.get("Next"), obj.get("End")) {
            (Some(_), Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a state cannot have both Next and End",
                    at,
                );
                Transition::None
            }
            (Some(next), None) => match self.target(next, index, &format!("{at}/Next")) {
                Some(i) => Transition::Next(i),
                None => Transition::None,
            },
            (None, Some(Value::Bool(true))) => Transition::End,
            (None, Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "End must be true when present",
                    &format!("{at}/End"),
                );
                Transition::None
            }
            (None, None) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "the state needs either Next or \"End\": true",
                    at,
                );
                Transition::None
            }
        }
    }

    fn error_equals(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<String> {
        let Some(list) = obj.get("ErrorEquals").and_then(Value::as_array) else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "ErrorEquals is required and must be a non-empty array of strings",
                &format!("{at}/ErrorEquals"),
            );
            return Vec::new();
        };
        let names: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if names.is_empty() || names.len() != list.len() {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "ErrorEquals must be a non-empty array of strings",
                &format!("{at}/ErrorEquals"),
            );
        }
        if names.iter().any(|n| n == names::ALL) && names.len() > 1 {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "States.ALL must appear alone in ErrorEquals",
                &format!("{at}/ErrorEquals"),
            );
        }
        names
    }

    fn check_all_last(&mut self, lists: &[Vec<String>], at: &str) {
        if let Some(pos) = lists.iter().position(|l| l.iter().any(|n| n == names::ALL))
            && pos + 1 != lists.len()
        {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "the entry with States.ALL must be the last one",
                at,
            );
        }
    }

    fn retriers(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<Retrier> {
        let Some(value) = obj.get("Retry") else {
            return Vec::new();
        };
        let at = format!("{at}/Retry");
        let Some(list) = value.as_array() else {
            self.problem("SCHEMA_VALIDATION_FAILED", "Retry must be an array", &at);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let rat = format!("{at}[{i}]");
            let Some(r) = r.as_object() else {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a retrier must be an object",
                    &rat,
                );
                continue;
            };
            for key in r.keys() {
                if !matches!(
                    key.as_str(),
                    "ErrorEquals"
                        | "IntervalSeconds"
                        | "MaxAttempts"
                        | "BackoffRate"
                        | "MaxDelaySeconds"
                        | "JitterStrategy"
                        | "Comment"
                ) {
                    self.unknown_field(key, &format!("{rat}/"));
                }
            }
            let error_equals = self.error_equals(r, &rat);
            let interval_seconds = match r.get("IntervalSeconds") {
                None => 1.0,
                Some(v) => match v.as_u64().filter(|n| *n >= 1 && *n <= 99_999_999) {
                    Some(n) => n as f64,
                    None => {
                        self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "IntervalSeconds must be a positive integer",
                            &format!("{rat}/IntervalSeconds"),
                        );
                        1.0
                    }
                },
            };
            let max_attempts = match r.get("MaxAttempts") {
                None => 3,
                Some(v) => match v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n <= 99_999_999)
                {
                    Some(n) => n,
                    None => {
                        self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "MaxAttempts must be a non-negative integer",
                            &format!("{rat}/MaxAttempts"),
                        );
                        0
                    }
                },
            };
            let backoff_rate = match r.get("BackoffRate") {
                None => 2.0,
                Some(v) => match v.as_f64().filter(|n| *n >= 1.0) {
                    Some(n) => n,
                    None => {
                        self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "BackoffRate must be a number greater than or equal to 1.0",
                            &format!("{rat}/BackoffRate"),
                        );
                        1.0
                    }
                },
            };
            let max_delay_seconds = match r.get("MaxDelaySeconds") {
                None => None,
                Some(v) => match v.as_u64().filter(|n| *n >= 1 && *n <= 31_622_400) {
                    Some(n) => Some(n as f64),
                    None => {
                        self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "MaxDelaySeconds must be a positive integer",
                            &format!("{rat}/MaxDelaySeconds"),
                        );
                        None
                    }
                },
            };
            let jitter_full = match r.get("JitterStrategy").map(|v| v.as_str()) {
                None | Some(Some("NONE")) => false,
                Some(Some("FULL")) => true,
                Some(_) => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        "JitterStrategy must be FULL or NONE",
                        &format!("{rat}/JitterStrategy"),
                    );
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                jitter_full,
            });
        }
        let lists: Vec<_> = out.iter().map(|r| r.error_equals.clone()).collect();
        self.check_all_last(&lists, &at);
        out
    }

    fn catchers(
        &mut self,
        obj: &Map<String, Value>,
        index: &HashMap<String, usize>,
        at: &str,
    ) -> Vec<Catcher> {
        let Some(value) = obj.get("Catch") else {
            return Vec::new();
        };
        let at = format!("{at}/Catch");
        let Some(list) = value.as_array() else {
            self.problem("SCHEMA_VALIDATION_FAILED", "Catch must be an array", &at);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let cat = format!("{at}[{i}]");
            let Some(c) = c.as_object() else {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a catcher must be an object",
                    &cat,
                );
                continue;
            };
            for key in c.keys() {
                if !matches!(
                    key.as_str(),
                    "ErrorEquals" | "Next" | "ResultPath" | "Comment"
                ) {
                    self.unknown_field(key, &format!("{cat}/"));
                }
            }
            let error_equals = self.error_equals(c, &cat);
            let next = match c.get("Next") {
                Some(n) => self.target(n, index, &format!("{cat}/Next")),
                None => {
                    self.problem("SCHEMA_VALIDATION_FAILED", "a catcher needs Next", &cat);
                    None
                }
            };
            let result_path = self.result_path(c.get("ResultPath"), &format!("{cat}/ResultPath"));
            if let (Some(next), Some(result_path)) = (next, result_path) {
                out.push(Catcher {
                    error_equals,
                    next,
                    result_path,
                });
            }
        }
        let lists: Vec<_> = out.iter().map(|c| c.error_equals.clone()).collect();
        self.check_all_last(&lists, &at);
        out
    }

    fn seconds(&mut self, obj: &Map<String, Value>, field: &str, at: &str) -> Option<Seconds> {
        let path_field = format!("{field}Path");
        match (obj.get(field), obj.get(&path_field)) {
            (Some(_), Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("use either {field} or {path_field}, not both"),
                    at,
                );
                None
            }
            (Some(v), None) => match v.as_u64().filter(|n| *n >= 1 && *n <= 99_999_999) {
                Some(n) => Some(Seconds::Literal(n)),
                None => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{field} must be a positive integer"),
                        &format!("{at}/{field}"),
                    );
                    None
                }
            },
            (None, Some(p)) => self
                .path_ref(p, true, &format!("{at}/{path_field}"))
                .map(Seconds::Path),
            (None, None) => None,
        }
    }

    fn path_ref(&mut self, value: &Value, reference: bool, at: &str) -> Option<PathRef> {
        let Some(text) = value.as_str() else {
            self.problem("SCHEMA_VALIDATION_FAILED", "a path must be a string", at);
            return None;
        };
        match PathRef::parse(text, reference) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem("INVALID_JSON_PATH", e, at);
                None
            }
        }
    }

    fn task(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let resource = match obj.get("Resource").and_then(Value::as_str) {
            Some(r) if r.starts_with("arn:") => r.to_string(),
            Some(r) => {
                self.problem(
                    "INVALID_RESOURCE",
                    format!("Resource '{r}' is not an ARN"),
                    &format!("{at}/Resource"),
                );
                String::new()
            }
            None => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "Resource is required",
                    &format!("{at}/Resource"),
                );
                String::new()
            }
        };
        let timeout = self.seconds(obj, "TimeoutSeconds", at);
        let heartbeat = self.seconds(obj, "HeartbeatSeconds", at);
        if let (Some(Seconds::Literal(t)), Some(Seconds::Literal(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                &format!("{at}/HeartbeatSeconds"),
            );
        }
        Kind::Task {
            resource,
            timeout,
            heartbeat,
        }
    }

    fn choice_state(
        &mut self,
        obj: &Map<String, Value>,
        index: &HashMap<String, usize>,
        at: &str,
    ) -> Kind {
        let mut choices = Vec::new();
        match obj.get("Choices").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for (i, rule) in list.iter().enumerate() {
                    let rat = format!("{at}/Choices[{i}]");
                    let next = match rule.get("Next") {
                        Some(n) => self.target(n, index, &format!("{rat}/Next")),
                        None => {
                            self.problem(
                                "SCHEMA_VALIDATION_FAILED",
                                "a top-level choice rule needs Next",
                                &rat,
                            );
                            None
                        }
                    };
                    let rule = self.rule(rule, &rat, true);
                    if let (Some(rule), Some(next)) = (rule, next) {
                        choices.push((rule, next));
                    }
                }
            }
            _ => self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "Choices is required and must be a non-empty array",
                &format!("{at}/Choices"),
            ),
        }
        let default = obj
            .get("Default")
            .and_then(|d| self.target(d, index, &format!("{at}/Default")));
        Kind::Choice { choices, default }
    }

    fn rule(&mut self, value: &Value, at: &str, top: bool) -> Option<Rule> {
        let Some(obj) = value.as_object() else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "a choice rule must be an object",
                at,
            );
            return None;
        };
        if !top && obj.contains_key("Next") {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "only top-level choice rules may have Next",
                at,
            );
        }
        let mut operators: Vec<&str> = Vec::new();
        for key in obj.keys() {
            let k = key.as_str();
            let is_operator = matches!(k, "And" | "Or" | "Not" | "StringMatches")
                || COMPARISONS
                    .iter()
                    .any(|(n, ..)| *n == k || format!("{n}Path") == k)
                || TYPE_TESTS.iter().any(|(n, _)| *n == k);
            if is_operator {
                operators.push(k);
            } else if !matches!(k, "Variable" | "Next" | "Comment") {
                self.unknown_field(k, &format!("{at}/"));
            }
        }
        let [op] = operators.as_slice() else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "a choice rule needs exactly one comparison operator (or And/Or/Not)",
                at,
            );
            return None;
        };
        let op = *op;
        let operand = &obj[op];
        let op_at = format!("{at}/{op}");
        match op {
            "And" | "Or" => {
                let Some(list) = operand.as_array().filter(|l| !l.is_empty()) else {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{op} must be a non-empty array of rules"),
                        &op_at,
                    );
                    return None;
                };
                if obj.contains_key("Variable") {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{op} rules do not take a Variable"),
                        at,
                    );
                }
                let rules: Vec<Option<Rule>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, r)| self.rule(r, &format!("{op_at}[{i}]"), false))
                    .collect();
                let rules: Option<Vec<Rule>> = rules.into_iter().collect();
                let rules = rules?;
                return Some(if op == "And" {
                    Rule::And(rules)
                } else {
                    Rule::Or(rules)
                });
            }
            "Not" => {
                if obj.contains_key("Variable") {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        "Not rules do not take a Variable",
                        at,
                    );
                }
                return self
                    .rule(operand, &op_at, false)
                    .map(|r| Rule::Not(Box::new(r)));
            }
            _ => {}
        }
        let Some(variable) = obj.get("Variable") else {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "a comparison needs a Variable",
                at,
            );
            return None;
        };
        let variable = self.path_ref(variable, false, &format!("{at}/Variable"))?;
        if op == "StringMatches" {
            let Some(pattern) = operand.as_str() else {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "StringMatches takes a string",
                    &op_at,
                );
                return None;
            };
            return match choice::parse_pattern(pattern) {
                Ok(pattern) => Some(Rule::Matches { variable, pattern }),
                Err(e) => {
                    self.problem("SCHEMA_VALIDATION_FAILED", e, &op_at);
                    None
                }
            };
        }
        if let Some((_, test)) = TYPE_TESTS.iter().find(|(n, _)| *n == op) {
            let Some(expected) = operand.as_bool() else {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("{op} takes true or false"),
                    &op_at,
                );
                return None;
            };
            return Some(Rule::Test {
                variable,
                test: *test,
                expected,
            });
        }
        let (base, is_path) = match op.strip_suffix("Path") {
            Some(b) => (b, true),
            None => (op, false),
        };
        let (_, kind, cmp) = COMPARISONS.iter().find(|(n, ..)| *n == base)?;
        let operand = if is_path {
            Operand::Path(self.path_ref(operand, true, &op_at)?)
        } else {
            let ok = match kind {
                choice::Kind::String => operand.is_string(),
                choice::Kind::Numeric => operand.is_number(),
                choice::Kind::Boolean => operand.is_boolean(),
                choice::Kind::Timestamp => {
                    operand.as_str().and_then(choice::parse_timestamp).is_some()
                }
            };
            if !ok {
                let what = match kind {
                    choice::Kind::String => "a string",
                    choice::Kind::Numeric => "a number",
                    choice::Kind::Boolean => "true or false",
                    choice::Kind::Timestamp => "an RFC 3339 timestamp string (uppercase T and Z)",
                };
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("{op} takes {what}"),
                    &op_at,
                );
                return None;
            }
            Operand::Literal(operand.clone())
        };
        Some(Rule::Compare {
            variable,
            kind: *kind,
            cmp: *cmp,
            operand,
        })
    }

    fn wait(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|f| obj.contains_key(*f))
            .collect();
        if present.len() != 1 {
            self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                at,
            );
            return Kind::Wait(WaitFor::Seconds(Seconds::Literal(0)));
        }
        let wait = match present[0] {
            "Seconds" => match obj["Seconds"].as_u64().filter(|n| *n <= 99_999_999) {
                Some(n) => WaitFor::Seconds(Seconds::Literal(n)),
                None => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        "Seconds must be a non-negative integer",
                        &format!("{at}/Seconds"),
                    );
                    WaitFor::Seconds(Seconds::Literal(0))
                }
            },
            "SecondsPath" => {
                match self.path_ref(&obj["SecondsPath"], true, &format!("{at}/SecondsPath")) {
                    Some(p) => WaitFor::Seconds(Seconds::Path(p)),
                    None => WaitFor::Seconds(Seconds::Literal(0)),
                }
            }
            "Timestamp" => match obj["Timestamp"].as_str().and_then(choice::parse_timestamp) {
                Some(t) => WaitFor::Timestamp(t),
                None => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        "Timestamp must be an RFC 3339 timestamp with uppercase T and Z",
                        &format!("{at}/Timestamp"),
                    );
                    WaitFor::Seconds(Seconds::Literal(0))
                }
            },
            _ => match self.path_ref(&obj["TimestampPath"], true, &format!("{at}/TimestampPath")) {
                Some(p) => WaitFor::TimestampPath(p),
                None => WaitFor::Seconds(Seconds::Literal(0)),
            },
        };
        Kind::Wait(wait)
    }

    fn fail_state(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let mut source = |field: &str| -> Option<ErrorSource> {
            let path_field = format!("{field}Path");
            match (obj.get(field), obj.get(&path_field)) {
                (Some(_), Some(_)) => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("use either {field} or {path_field}, not both"),
                        at,
                    );
                    None
                }
                (Some(Value::String(s)), None) => Some(ErrorSource::Literal(s.clone())),
                (Some(_), None) => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{field} must be a string"),
                        &format!("{at}/{field}"),
                    );
                    None
                }
                (None, Some(Value::String(p))) => match ValueRef::parse(p) {
                    Ok(v) => Some(ErrorSource::Dynamic(v)),
                    Err(e) => {
                        self.problem("INVALID_JSON_PATH", e, &format!("{at}/{path_field}"));
                        None
                    }
                },
                (None, Some(_)) => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{path_field} must be a string"),
                        &format!("{at}/{path_field}"),
                    );
                    None
                }
                (None, None) => None,
            }
        };
        let error = source("Error");
        let cause = source("Cause");
        Kind::Fail { error, cause }
    }

    fn parallel(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let mut branches = Vec::new();
        match obj.get("Branches").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for (i, b) in list.iter().enumerate() {
                    let bat = format!("{at}/Branches[{i}]");
                    match b.as_object() {
                        Some(bo) => {
                            for key in bo.keys() {
                                if !matches!(key.as_str(), "StartAt" | "States" | "Comment") {
                                    self.unknown_field(key, &format!("{bat}/"));
                                }
                            }
                            if let Some(block) = self.block(bo, &bat) {
                                branches.push(block);
                            }
                        }
                        None => self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "a branch must be an object",
                            &bat,
                        ),
                    }
                }
            }
            _ => self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "Branches is required and must be a non-empty array",
                &format!("{at}/Branches"),
            ),
        }
        Kind::Parallel { branches }
    }

    fn count(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        max: f64,
        at: &str,
    ) -> Option<Count> {
        let path_field = format!("{field}Path");
        match (obj.get(field), obj.get(&path_field)) {
            (Some(_), Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("use either {field} or {path_field}, not both"),
                    at,
                );
                None
            }
            (Some(v), None) => match v.as_f64().filter(|n| *n >= 0.0 && *n <= max) {
                Some(n) => Some(Count::Literal(n)),
                None => {
                    self.problem(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("{field} must be a number from 0 to {max}"),
                        &format!("{at}/{field}"),
                    );
                    None
                }
            },
            (None, Some(p)) => self
                .path_ref(p, true, &format!("{at}/{path_field}"))
                .map(Count::Path),
            (None, None) => None,
        }
    }

    fn map(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let items_path = match obj.get("ItemsPath") {
            None => PathRef::Input(Path::root()),
            Some(v) => self
                .path_ref(v, true, &format!("{at}/ItemsPath"))
                .unwrap_or(PathRef::Input(Path::root())),
        };
        let (processor_key, processor) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "use either ItemProcessor or Iterator, not both",
                    at,
                );
                ("ItemProcessor", None)
            }
            (Some(p), None) => ("ItemProcessor", Some(p)),
            (None, Some(p)) => ("Iterator", Some(p)),
            (None, None) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a Map state needs an ItemProcessor",
                    at,
                );
                ("ItemProcessor", None)
            }
        };
        let pat = format!("{at}/{processor_key}");
        let block = processor.and_then(|p| match p.as_object() {
            Some(po) => {
                for key in po.keys() {
                    match key.as_str() {
                        "StartAt" | "States" | "Comment" => {}
                        "ProcessorConfig" => {
                            let mode = po["ProcessorConfig"].get("Mode").and_then(Value::as_str);
                            if !matches!(mode, None | Some("INLINE")) {
                                self.problem(
                                    "UNSUPPORTED_FEATURE",
                                    "only the INLINE processing mode is supported by sfn-local",
                                    &format!("{pat}/ProcessorConfig/Mode"),
                                );
                            }
                        }
                        other => self.unknown_field(other, &format!("{pat}/")),
                    }
                }
                self.block(po, &pat)
            }
            None => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("{processor_key} must be an object"),
                    &pat,
                );
                None
            }
        });
        let max_concurrency = self.count(obj, "MaxConcurrency", 2_147_483_647.0, at);
        let tolerated_count = self.count(obj, "ToleratedFailureCount", 2_147_483_647.0, at);
        let tolerated_percentage = self.count(obj, "ToleratedFailurePercentage", 100.0, at);
        match block {
            Some(processor) => Kind::Map(Box::new(MapSpec {
                items_path,
                processor,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
            })),
            None => Kind::Succeed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(def: Value) -> String {
        match parse_value(&def) {
            Ok(_) => panic!("definition should be rejected: {def}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_minimal_definition_is_accepted() {
        let d =
            parse_value(&json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}))
                .unwrap();
        assert_eq!(d.root.states.len(), 1);
    }

    // AWS CreateStateMachine rejects these with InvalidDefinition; the
    // messages name the state and the problem.
    #[test]
    fn next_pointing_nowhere_names_the_state() {
        let e =
            problems(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}));
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
}
