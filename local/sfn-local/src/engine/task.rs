//! One Task attempt: finding the integration that accepts the Resource,
//! recording the Task* (or LambdaFunction* for a plain function ARN) history
//! events, enforcing TimeoutSeconds and the payload size limit.

use std::time::Duration;

use serde_json::{Value, json};

use super::io::size_error;
use super::run::{Failure, Run};
use crate::definition::State;
use crate::error::{StatesError, names};
use crate::integrations::{TaskContext, event_names, is_function_arn};
use crate::limits::{MAX_CAUSE_CHARS, MAX_PAYLOAD_BYTES, truncate};

impl Run {
    pub(super) async fn run_task(
        &self,
        state: &State,
        resource: &str,
        params: Value,
        timeout: Option<u64>,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let integration = self
            .engine
            .inner
            .integrations
            .iter()
            .find(|i| i.accepts(resource))
            .cloned()
            .ok_or_else(|| {
                fail(
                    StatesError::runtime(format!(
                        "sfn-local does not support the task integration '{resource}' (state '{}'); supported: lambda:invoke, Lambda function ARNs, codebuild:startBuild.sync",
                        state.name
                    )),
                    prev,
                )
            })?;
        let params_text = params.to_string();
        if params_text.len() > MAX_PAYLOAD_BYTES {
            return Err(fail(
                size_error("task parameters", &state.name, params_text.len()),
                prev,
            ));
        }
        let function = is_function_arn(resource);
        let (resource_type, resource_name) = event_names(resource);
        let mut prev = if function {
            let mut d = json!({"resource": resource, "input": params_text, "inputDetails": {"truncated": false}});
            if let Some(t) = timeout {
                d["timeoutInSeconds"] = json!(t);
            }
            self.push(prev, "LambdaFunctionScheduled", Some(("lambdaFunctionScheduledEventDetails", d)))
        } else {
            let mut d = json!({"resourceType": resource_type, "resource": resource_name, "region": self.engine.inner.config.region, "parameters": params_text});
            if let Some(t) = timeout {
                d["timeoutInSeconds"] = json!(t);
            }
            self.push(prev, "TaskScheduled", Some(("taskScheduledEventDetails", d)))
        }
        .map_err(|e| fail(e, prev))?;
        prev = if function {
            self.push(prev, "LambdaFunctionStarted", None)
        } else {
            self.push(
                prev,
                "TaskStarted",
                Some((
                    "taskStartedEventDetails",
                    json!({"resourceType": resource_type, "resource": resource_name}),
                )),
            )
        }
        .map_err(|e| fail(e, prev))?;
        let task_ctx = TaskContext {
            execution_arn: self
                .facts
                .execution
                .get("Id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            execution_name: self
                .facts
                .execution
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            state_name: state.name.to_string(),
        };
        let call = integration.run(resource, params, &task_ctx);
        let result = match timeout {
            Some(secs) => {
                tokio::select! {
                    r = call => r,
                    _ = self.clock().timeout(Duration::from_secs(secs)) => Err(StatesError::new(names::TIMEOUT, format!("The task '{}' did not finish within {secs} seconds", state.name))),
                }
            }
            None => call.await,
        };
        match result {
            Ok(output) => {
                let text = output.to_string();
                if text.len() > MAX_PAYLOAD_BYTES {
                    return Err(fail(
                        size_error("task result", &state.name, text.len()),
                        prev,
                    ));
                }
                let prev = if function {
                    self.push(prev, "LambdaFunctionSucceeded", Some(("lambdaFunctionSucceededEventDetails", json!({"output": text, "outputDetails": {"truncated": false}}))))
                } else {
                    self.push(prev, "TaskSucceeded", Some(("taskSucceededEventDetails", json!({"resourceType": resource_type, "resource": resource_name, "output": text, "outputDetails": {"truncated": false}}))))
                }
                .map_err(|e| fail(e, prev))?;
                Ok((output, prev))
            }
            Err(mut error) => {
                error.cause = truncate(&error.cause, MAX_CAUSE_CHARS);
                let timed_out = error.error == names::TIMEOUT;
                let (event, key) = match (function, timed_out) {
                    (true, true) => (
                        "LambdaFunctionTimedOut",
                        "lambdaFunctionTimedOutEventDetails",
                    ),
                    (true, false) => ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
                    (false, true) => ("TaskTimedOut", "taskTimedOutEventDetails"),
                    (false, false) => ("TaskFailed", "taskFailedEventDetails"),
                };
                let mut d = json!({"error": error.error, "cause": error.cause});
                if !function {
                    d["resourceType"] = json!(resource_type);
                    d["resource"] = json!(resource_name);
                }
                let prev = self
                    .push(prev, event, Some((key, d)))
                    .map_err(|e| fail(e, prev))?;
                Err(fail(error, prev))
            }
        }
    }
}
