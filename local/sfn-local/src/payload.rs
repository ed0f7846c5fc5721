//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`): JSON
//! objects whose keys ending in `.$` take their value from a path on the
//! input (`$`), the context object (`$$`) or an intrinsic function
//! (specification "Payload Template"; SEMANTICS.md §3).

use serde_json::{Map, Value};

use crate::context::Context;
use crate::error::StatesError;
use crate::intrinsics::{self, Call};
use crate::path::Path;

/// A value computed at run time: what a `.$` key or an intrinsic argument
/// refers to.
#[derive(Debug, Clone)]
pub enum ValueRef {
    Input(Path),
    Context(Path),
    Intrinsic(Box<Call>),
}

impl ValueRef {
    /// Parses the string value of a `.$` key.
    pub fn parse(text: &str) -> Result<ValueRef, String> {
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix("$$") {
            return Path::parse(&format!("${rest}"))
                .map(ValueRef::Context)
                .map_err(|e| e.to_string());
        }
        if trimmed.starts_with('$') {
            return Path::parse(trimmed)
                .map(ValueRef::Input)
                .map_err(|e| e.to_string());
        }
        if trimmed.starts_with("States.") {
            return intrinsics::parse(trimmed)
                .map(|c| ValueRef::Intrinsic(Box::new(c)))
                .map_err(|e| e.to_string());
        }
        Err(format!(
            "'{text}' is neither a path ('$…', '$$…') nor an intrinsic function ('States.…')"
        ))
    }

    pub fn evaluate(
        &self,
        input: &Value,
        ctx: &Context,
        field: &str,
    ) -> Result<Value, StatesError> {
        match self {
            ValueRef::Input(path) => path.select(input).map(|v| v.into_owned()).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                    crate::limits::abbreviate(input)
                ))
            }),
            ValueRef::Context(path) => ctx.select(path).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The JSONPath '${path}' specified for the field '{field}' could not be found in the context object"
                ))
            }),
            ValueRef::Intrinsic(call) => intrinsics::evaluate(call, input, ctx),
        }
    }
}

/// A compiled payload template.
#[derive(Debug, Clone)]
pub enum Template {
    /// No dynamic part below this node: cloned as is.
    Static(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Dynamic {
        field: String,
        value: ValueRef,
    },
}

impl Template {
    /// Compiles a template; errors name the offending key.
    pub fn compile(value: &Value) -> Result<Template, String> {
        let compiled = compile_node(value, "")?;
        Ok(compiled)
    }

    pub fn evaluate(&self, input: &Value, ctx: &Context) -> Result<Value, StatesError> {
        match self {
            Template::Static(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (key, node) in fields {
                    map.insert(key.clone(), node.evaluate(input, ctx)?);
                }
                Ok(Value::Object(map))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.evaluate(input, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Dynamic { field, value } => value.evaluate(input, ctx, field),
        }
    }
}

fn compile_node(value: &Value, at: &str) -> Result<Template, String> {
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            let mut dynamic = false;
            for (key, v) in map {
                if let Some(stripped) = key.strip_suffix(".$") {
                    let text = v.as_str().ok_or_else(|| {
                        format!("the value of '{at}{key}' must be a string holding a path or an intrinsic function")
                    })?;
                    let vref = ValueRef::parse(text).map_err(|e| format!("'{at}{key}': {e}"))?;
                    if map.contains_key(stripped) {
                        return Err(format!("both '{stripped}' and '{key}' are set in '{at}'"));
                    }
                    fields.push((
                        stripped.to_string(),
                        Template::Dynamic {
                            field: key.clone(),
                            value: vref,
                        },
                    ));
                    dynamic = true;
                } else {
                    let child = compile_node(v, &format!("{at}{key}."))?;
                    dynamic |= !matches!(child, Template::Static(_));
                    fields.push((key.clone(), child));
                }
            }
            if dynamic {
                Ok(Template::Object(fields))
            } else {
                Ok(Template::Static(value.clone()))
            }
        }
        Value::Array(items) => {
            let compiled = items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_node(item, &format!("{at}[{i}].")))
                .collect::<Result<Vec<_>, _>>()?;
            if compiled.iter().all(|t| matches!(t, Template::Static(_))) {
                Ok(Template::Static(value.clone()))
            } else {
                Ok(Template::Array(compiled))
            }
        }
        other => Ok(Template::Static(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ExecutionFacts;
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> Context {
        Context {
            facts: Arc::new(ExecutionFacts::new(
                "arn:exec",
                "exec-1",
                json!({"orig": true}),
                "arn:role",
                "2024-01-01T00:00:00Z",
                "arn:sm",
                "sm",
            )),
            state_name: Arc::from("MyState"),
            entered_time: Arc::from("2024-01-01T00:00:01Z"),
            retry_count: 2,
            map_item: Some((3, json!({"k": "v"}))),
        }
    }

    // Specification "Payload Template" example and AWS "Context object".
    #[test]
    fn keys_ending_in_dollar_take_values_from_paths() {
        let template = Template::compile(&json!({
            "flagged": true,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.Execution.Name",
            "state.$": "$$.State.Name",
            "retries.$": "$$.State.RetryCount",
            "item.$": "$$.Map.Item.Value.k",
            "index.$": "$$.Map.Item.Index",
            "list": [{"x.$": "$.vals[1]"}],
            "fmt.$": "States.Format('{}-{}', $.vals[0], $$.Execution.Name)"
        }))
        .unwrap();
        let out = template
            .evaluate(&json!({"vals": [0, 10, 20, 30, 40]}), &ctx())
            .unwrap();
        assert_eq!(
            out,
            json!({
                "flagged": true,
                "parts": {"first": 0, "last3": [20, 30, 40]},
                "weekday": "exec-1",
                "state": "MyState",
                "retries": 2,
                "item": "v",
                "index": 3,
                "list": [{"x": 10}],
                "fmt": "0-exec-1"
            })
        );
    }

    #[test]
    fn a_missing_path_is_a_runtime_error_naming_the_field() {
        let template = Template::compile(&json!({"a.$": "$.nope"})).unwrap();
        let err = template.evaluate(&json!({}), &ctx()).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("'a.$'"), "{}", err.cause);
    }

    #[test]
    fn bad_dollar_values_are_rejected_when_compiled() {
        assert!(Template::compile(&json!({"a.$": 5})).is_err());
        assert!(Template::compile(&json!({"a.$": "plain text"})).is_err());
        assert!(Template::compile(&json!({"a.$": "$.x[", })).is_err());
        assert!(Template::compile(&json!({"a.$": "States.Bogus()"})).is_err());
        assert!(Template::compile(&json!({"a": 1, "a.$": "$"})).is_err());
    }
}
