//! Checks of the field shapes that many states share: InputPath/OutputPath,
//! ResultPath, payload templates (Parameters, ResultSelector, ItemSelector),
//! transition targets, Next/End, and the `X`/`XPath` pairs that give a number
//! literally or read it from the input.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::model::{Count, Seconds, Transition};
use super::validate::Validator;
use crate::choice::PathRef;
use crate::path::Path;
use crate::payload::Template;

impl Validator {
    /// InputPath/OutputPath: absent → `$`; `null` → `None` (an empty object).
    pub(super) fn io_path(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<Option<Path>> {
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

    pub(super) fn result_path(&mut self, value: Option<&Value>, at: &str) -> Option<Option<Path>> {
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

    pub(super) fn template(
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

    pub(super) fn target(
        &mut self,
        name: &Value,
        index: &HashMap<String, usize>,
        at: &str,
    ) -> Option<usize> {
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

    pub(super) fn transition(
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

    pub(super) fn seconds(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        at: &str,
    ) -> Option<Seconds> {
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

    pub(super) fn path_ref(&mut self, value: &Value, reference: bool, at: &str) -> Option<PathRef> {
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

    pub(super) fn count(
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
}
