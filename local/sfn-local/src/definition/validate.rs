//! Validation entry points: [`parse`] and [`parse_value`] check a definition
//! the way CreateStateMachine does, collecting every problem with its
//! location (`/States/Name/Field`) so that all of them are reported at once.
//! This file holds the [`Validator`] itself and the structure checks
//! (top-level fields, blocks of states, names, reachability); the checks of
//! single states and fields live in the sibling files as `impl Validator`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::model::{Block, Definition, Kind, State, Transition};
use crate::limits::MAX_STATE_NAME_CHARS;

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
pub(super) struct Validator {
    pub(super) problems: Vec<String>,
    all_names: HashSet<String>,
}

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
pub(super) struct Pending<'a> {
    pub(super) name: String,
    pub(super) at: String,
    pub(super) obj: &'a Map<String, Value>,
}

impl Validator {
    pub(super) fn problem(&mut self, code: &str, message: impl AsRef<str>, at: &str) {
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

    pub(super) fn unknown_field(&mut self, field: &str, at: &str) {
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
    pub(super) fn block(&mut self, obj: &Map<String, Value>, prefix: &str) -> Option<Arc<Block>> {
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
}
