//! The state machine operations: CreateStateMachine (with AWS's idempotency
//! for an identical definition and role), DescribeStateMachine,
//! ListStateMachines and DeleteStateMachine.

use std::sync::Arc;

use serde_json::{Value, json};

use super::model::Machine;
use super::request::{decode_token, encode_token, max_results, optional_str, required_str};
use super::step_functions::StepFunctions;
use crate::definition;
use crate::error::SfnError;
use crate::history::epoch_seconds;
use crate::limits::{self, MAX_DEFINITION_BYTES};

impl StepFunctions {
    pub fn create_state_machine(&self, req: &Value) -> Result<Value, SfnError> {
        let name = required_str(req, "name")?;
        let definition_text = required_str(req, "definition")?;
        let role_arn = required_str(req, "roleArn")?;
        limits::check_name(name).map_err(SfnError::InvalidName)?;
        if let Some(kind) = optional_str(req, "type")?
            && kind != "STANDARD"
        {
            return Err(SfnError::Validation(format!(
                "sfn-local runs STANDARD state machines only, not {kind}"
            )));
        }
        if definition_text.len() > MAX_DEFINITION_BYTES {
            return Err(SfnError::InvalidDefinition(format!(
                "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: the definition is {} bytes, larger than the limit of {MAX_DEFINITION_BYTES} bytes'",
                definition_text.len()
            )));
        }
        let definition = definition::parse(definition_text).map_err(SfnError::InvalidDefinition)?;
        let arn = self.state_machine_arn(name);
        let mut registry = self.registry();
        if let Some(existing) = registry.machines.get(name) {
            if existing.definition_text == definition_text && existing.role_arn == role_arn {
                return Ok(
                    json!({"stateMachineArn": existing.arn, "creationDate": epoch_seconds(&existing.created)}),
                );
            }
            return Err(SfnError::StateMachineAlreadyExists(format!(
                "State Machine Already Exists: '{arn}'"
            )));
        }
        let created = self.inner.engine.clock().now();
        registry.machines.insert(
            name.to_string(),
            Arc::new(Machine {
                name: name.to_string(),
                arn: arn.clone(),
                definition_text: definition_text.to_string(),
                definition: Arc::new(definition),
                role_arn: role_arn.to_string(),
                created,
            }),
        );
        Ok(json!({"stateMachineArn": arn, "creationDate": epoch_seconds(&created)}))
    }

    pub(super) fn machine_by_arn(&self, arn: &str) -> Result<Arc<Machine>, SfnError> {
        let prefix = format!(
            "arn:aws:states:{}:{}:stateMachine:",
            self.inner.config.region, self.inner.config.account_id
        );
        let Some(name) = arn.strip_prefix(&prefix) else {
            return Err(SfnError::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {arn}' (expected {prefix}NAME)"
            )));
        };
        self.registry().machines.get(name).cloned().ok_or_else(|| {
            SfnError::StateMachineDoesNotExist(format!("State Machine Does Not Exist: '{arn}'"))
        })
    }

    pub fn describe_state_machine(&self, req: &Value) -> Result<Value, SfnError> {
        let m = self.machine_by_arn(required_str(req, "stateMachineArn")?)?;
        Ok(json!({
            "stateMachineArn": m.arn,
            "name": m.name,
            "status": "ACTIVE",
            "definition": m.definition_text,
            "roleArn": m.role_arn,
            "type": "STANDARD",
            "creationDate": epoch_seconds(&m.created),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
        }))
    }

    pub fn list_state_machines(&self, req: &Value) -> Result<Value, SfnError> {
        let start = decode_token(req)?;
        let max = max_results(req, 100)?;
        let registry = self.registry();
        let all: Vec<&Arc<Machine>> = registry.machines.values().collect();
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": epoch_seconds(&m.created)}))
            .collect();
        let mut out = json!({"stateMachines": page});
        if start + max < all.len() {
            out["nextToken"] = json!(encode_token(start + max));
        }
        Ok(out)
    }

    pub fn delete_state_machine(&self, req: &Value) -> Result<Value, SfnError> {
        let arn = required_str(req, "stateMachineArn")?;
        // Deleting a machine that does not exist succeeds, as on AWS;
        // its running executions go on.
        if let Ok(m) = self.machine_by_arn(arn) {
            self.registry().machines.remove(&m.name);
        }
        Ok(json!({}))
    }
}
