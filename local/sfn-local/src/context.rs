//! The context object (`$$`): facts about the execution, the current state
//! and the current Map item (AWS developer guide, "Accessing execution data
//! from the Context object"; SEMANTICS.md §11).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::path::{Path, Segment};

/// Execution-wide part of the context object, built once per execution.
#[derive(Debug)]
pub struct ExecutionFacts {
    /// `{"Id", "Input", "Name", "RoleArn", "StartTime", "RedriveCount"}`.
    pub execution: Value,
    /// `{"Id", "Name"}`.
    pub state_machine: Value,
}

impl ExecutionFacts {
    pub fn new(
        execution_arn: &str,
        name: &str,
        input: Value,
        role_arn: &str,
        start_time: &str,
        state_machine_arn: &str,
        state_machine_name: &str,
    ) -> Self {
        ExecutionFacts {
            execution: json!({
                "Id": execution_arn,
                "Input": input,
                "Name": name,
                "RoleArn": role_arn,
                "StartTime": start_time,
                "RedriveCount": 0,
            }),
            state_machine: json!({"Id": state_machine_arn, "Name": state_machine_name}),
        }
    }
}

/// The context object as seen by one state at one moment.
#[derive(Debug, Clone)]
pub struct Context {
    pub facts: Arc<ExecutionFacts>,
    pub state_name: Arc<str>,
    pub entered_time: Arc<str>,
    pub retry_count: u32,
    /// `$$.Map.Item` while evaluating a Map state's ItemSelector.
    pub map_item: Option<(usize, Value)>,
}

impl Context {
    /// Evaluates a path against the context object. Definite paths are
    /// answered without building the whole object.
    pub fn select(&self, path: &Path) -> Option<Value> {
        if let Some(segments) = path.segments() {
            let Some((Segment::Field(top), rest)) = segments.split_first() else {
                return if segments.is_empty() {
                    Some(self.to_value())
                } else {
                    None
                };
            };
            let sub = match top.as_str() {
                "Execution" => return select_in(&self.facts.execution, rest),
                "StateMachine" => return select_in(&self.facts.state_machine, rest),
                "State" => self.state_value(),
                "Map" => self.map_value()?,
                "Task" => json!({}),
                _ => return None,
            };
            return select_in(&sub, rest);
        }
        path.select(&self.to_value()).map(|v| v.into_owned())
    }

    fn state_value(&self) -> Value {
        json!({
            "Name": &*self.state_name,
            "EnteredTime": &*self.entered_time,
            "RetryCount": self.retry_count,
        })
    }

    fn map_value(&self) -> Option<Value> {
        let (index, value) = self.map_item.as_ref()?;
        Some(json!({"Item": {"Index": index, "Value": value}}))
    }

    /// The whole context object.
    pub fn to_value(&self) -> Value {
        let mut root = Map::new();
        root.insert("Execution".into(), self.facts.execution.clone());
        root.insert("StateMachine".into(), self.facts.state_machine.clone());
        root.insert("State".into(), self.state_value());
        if let Some(map) = self.map_value() {
            root.insert("Map".into(), map);
        }
        Value::Object(root)
    }
}

fn select_in(value: &Value, rest: &[Segment]) -> Option<Value> {
    let mut node = value;
    for segment in rest {
        node = match (segment, node) {
            (Segment::Field(name), Value::Object(map)) => map.get(name)?,
            (Segment::Index(i), Value::Array(items)) => {
                let idx = usize::try_from(*i).ok()?;
                items.get(idx)?
            }
            _ => return None,
        };
    }
    Some(node.clone())
}
