//! Choice state checks (specification "Choice State" and "Choice Rules"):
//! the Choices list with its targets and Default, and each rule: exactly one
//! operator, And/Or/Not nesting, Variable paths, and operands of the type
//! each comparison takes. The rule model itself is [`crate::choice`].

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::model::Kind;
use super::validate::Validator;
use crate::choice::{self, COMPARISONS, Operand, Rule, TYPE_TESTS};

impl Validator {
    pub(super) fn choice_state(
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
}
