//! Retry and Catch checks (specification "Retrying after an error" and
//! "Fallback states"): ErrorEquals lists, States.ALL alone and last, the
//! retrier fields and their ranges, catcher targets and ResultPath.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::model::{Catcher, Retrier};
use super::validate::Validator;
use crate::error::names;

impl Validator {
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

    pub(super) fn retriers(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<Retrier> {
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

    pub(super) fn catchers(
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
}
