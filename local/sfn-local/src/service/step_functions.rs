//! The [`StepFunctions`] service object: its registry of state machines and
//! executions, ARNs, the status change events it emits, and the dispatch of
//! an operation by its `X-Amz-Target` name. The operations themselves live
//! in the sibling files as `impl StepFunctions`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Execution, ExecutionState, Machine, ServiceConfig, StatusListener};
use crate::engine::Engine;
use crate::error::SfnError;

#[derive(Default)]
pub(super) struct Registry {
    pub(super) machines: BTreeMap<String, Arc<Machine>>,
    pub(super) executions: HashMap<String, Arc<Execution>>,
    /// Execution ARNs in start order.
    pub(super) order: VecDeque<String>,
}

/// The Step Functions service. Cheap to clone.
#[derive(Clone)]
pub struct StepFunctions {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) engine: Engine,
    pub(super) config: ServiceConfig,
    pub(super) registry: Mutex<Registry>,
    pub(super) listeners: Mutex<Vec<StatusListener>>,
}

impl StepFunctions {
    pub fn new(engine: Engine, config: ServiceConfig) -> Self {
        StepFunctions {
            inner: Arc::new(Inner {
                engine,
                config,
                registry: Mutex::new(Registry::default()),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Calls `listener` with an EventBridge "Step Functions Execution Status
    /// Change" event whenever an execution ends, as AWS delivers them to
    /// rules on the default event bus.
    pub fn on_status_change(&self, listener: StatusListener) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    pub(super) fn status_event(&self, exec: &Execution, state: &ExecutionState) -> Value {
        let ms = |t: &DateTime<Utc>| t.timestamp_millis();
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": self.inner.config.account_id,
            "time": state.stop_date.unwrap_or(exec.start_date).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": self.inner.config.region,
            "resources": [exec.arn],
            "detail": {
                "executionArn": exec.arn,
                "stateMachineArn": exec.machine_arn,
                "name": exec.name,
                "status": state.status.as_str(),
                "startDate": ms(&exec.start_date),
                "stopDate": state.stop_date.as_ref().map(ms),
                "input": exec.input,
                "inputDetails": {"included": true},
                "output": state.output,
                "outputDetails": state.output.as_ref().map(|_| json!({"included": true})),
                "error": state.error,
                "cause": state.cause,
            }
        })
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    pub(super) fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.inner.config.region, self.inner.config.account_id
        )
    }

    pub(super) fn execution_arn(&self, machine: &str, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:execution:{machine}:{name}",
            self.inner.config.region, self.inner.config.account_id
        )
    }

    /// Dispatches an operation by its `X-Amz-Target` name.
    pub async fn call(&self, operation: &str, req: &Value) -> Result<Value, SfnError> {
        if !req.is_object() {
            return Err(SfnError::Serialization(
                "the request body must be a JSON object".into(),
            ));
        }
        match operation {
            "CreateStateMachine" => self.create_state_machine(req),
            "DescribeStateMachine" => self.describe_state_machine(req),
            "ListStateMachines" => self.list_state_machines(req),
            "DeleteStateMachine" => self.delete_state_machine(req),
            "StartExecution" => self.start_execution(req),
            "DescribeExecution" => self.describe_execution(req),
            "GetExecutionHistory" => self.get_execution_history(req),
            "ListExecutions" => self.list_executions(req),
            "StopExecution" => self.stop_execution(req).await,
            other => Err(SfnError::UnknownOperation(format!(
                "sfn-local does not implement the operation '{other}'"
            ))),
        }
    }

    /// Number of executions currently retained (for tests and benchmarks).
    pub fn retained_executions(&self) -> usize {
        self.registry().executions.len()
    }
}
