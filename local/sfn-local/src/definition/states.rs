//! Per-state checks: which fields each state type allows (the field tables
//! of the specification), the fields every state shares (paths, templates,
//! Next/End, Retry/Catch) and the type-specific fields of Task, Wait and
//! Fail.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::model::{ErrorSource, Kind, Seconds, State, Transition, WaitFor};
use super::validate::{Pending, Validator};
use crate::choice;
use crate::payload::ValueRef;

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

impl Validator {
    pub(super) fn state(
        &mut self,
        p: &Pending<'_>,
        index: &HashMap<String, usize>,
    ) -> Option<State> {
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
}
