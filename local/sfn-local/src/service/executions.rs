//! The execution operations: StartExecution (with AWS's name idempotency,
//! running the execution on the engine and recording how it ended),
//! DescribeExecution, GetExecutionHistory, ListExecutions and
//! StopExecution, and the retention limit on finished executions.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::model::{Execution, ExecutionState, Status, StatusListener};
use super::request::{decode_token, encode_token, field, max_results, optional_str, required_str};
use super::step_functions::{Registry, StepFunctions};
use crate::context::ExecutionFacts;
use crate::engine::Outcome;
use crate::error::SfnError;
use crate::history::{History, epoch_seconds};
use crate::limits::{self, MAX_PAYLOAD_BYTES};

impl StepFunctions {
    pub fn start_execution(&self, req: &Value) -> Result<Value, SfnError> {
        let machine = self.machine_by_arn(required_str(req, "stateMachineArn")?)?;
        let name = match optional_str(req, "name")? {
            Some(n) => n.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        limits::check_name(&name).map_err(SfnError::InvalidName)?;
        let input_text = optional_str(req, "input")?.unwrap_or("{}").to_string();
        if input_text.len() > MAX_PAYLOAD_BYTES {
            return Err(SfnError::InvalidExecutionInput(format!(
                "Invalid execution input: the input is {} bytes, larger than the limit of {MAX_PAYLOAD_BYTES} bytes",
                input_text.len()
            )));
        }
        let input: Value = serde_json::from_str(&input_text).map_err(|e| {
            SfnError::InvalidExecutionInput(format!("Invalid State Machine Execution Input: '{e}'"))
        })?;
        let arn = self.execution_arn(&machine.name, &name);
        let mut registry = self.registry();
        if let Some(existing) = registry.executions.get(&arn) {
            // SEMANTICS.md §14: same name and input while open → the same
            // execution; otherwise ExecutionAlreadyExists.
            if existing.state().status == Status::Running && existing.input == input_text {
                return Ok(
                    json!({"executionArn": existing.arn, "startDate": epoch_seconds(&existing.start_date)}),
                );
            }
            return Err(SfnError::ExecutionAlreadyExists(format!(
                "Execution Already Exists: '{arn}'"
            )));
        }
        let clock = self.inner.engine.clock().clone();
        let start_date = clock.now();
        let facts = Arc::new(ExecutionFacts::new(
            &arn,
            &name,
            input.clone(),
            &machine.role_arn,
            &start_date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            &machine.arn,
            &machine.name,
        ));
        let (done, _) = watch::channel(false);
        let execution = Arc::new(Execution {
            arn: arn.clone(),
            name,
            machine_arn: machine.arn.clone(),
            input: input_text,
            start_date,
            history: Arc::new(History::new()),
            state: Mutex::new(ExecutionState {
                status: Status::Running,
                stop_date: None,
                output: None,
                error: None,
                cause: None,
            }),
            done,
            cancel: CancellationToken::new(),
            stop_reason: Mutex::new(None),
        });
        registry.executions.insert(arn.clone(), execution.clone());
        registry.order.push_back(arn.clone());
        self.evict(&mut registry);
        drop(registry);

        let engine = self.inner.engine.clone();
        let definition = machine.definition.clone();
        let exec = execution.clone();
        let service = self.clone();
        tokio::spawn(async move {
            let outcome = engine
                .run(
                    definition,
                    facts,
                    input,
                    exec.history.clone(),
                    exec.cancel.clone(),
                )
                .await;
            let now = engine.clock().now();
            let event = {
                let mut state = exec.state.lock().unwrap_or_else(|e| e.into_inner());
                state.stop_date = Some(now);
                match outcome {
                    Outcome::Succeeded(v) => {
                        state.status = Status::Succeeded;
                        state.output = Some(v.to_string());
                    }
                    Outcome::Failed(e) => {
                        state.status = Status::Failed;
                        state.error = Some(e.error);
                        state.cause = Some(e.cause);
                    }
                    Outcome::TimedOut(e) => {
                        state.status = Status::TimedOut;
                        state.error = Some(e.error);
                        state.cause = Some(e.cause);
                    }
                    Outcome::Aborted => {
                        let reason = exec
                            .stop_reason
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        let (error, cause) = reason.unwrap_or((None, None));
                        let mut details = Map::new();
                        if let Some(e) = &error {
                            details.insert("error".into(), json!(e));
                        }
                        if let Some(c) = &cause {
                            details.insert("cause".into(), json!(c));
                        }
                        let last = exec.history.len() as u64;
                        exec.history.push(
                            last,
                            now,
                            "ExecutionAborted",
                            Some((
                                "executionAbortedEventDetails",
                                Value::Object(details).into(),
                            )),
                        );
                        state.status = Status::Aborted;
                        state.error = error;
                        state.cause = cause;
                    }
                }
                service.status_event(&exec, &state)
            };
            let listeners: Vec<StatusListener> = service
                .inner
                .listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for listener in listeners {
                listener(event.clone()).await;
            }
            // `send_replace`, not `send`: `send` leaves the value unchanged
            // when nobody is subscribed at this moment, and a later `wait`
            // would then never see the end.
            exec.done.send_replace(true);
        });
        tracing::debug!(execution = %arn, "execution started");
        Ok(json!({"executionArn": arn, "startDate": epoch_seconds(&start_date)}))
    }

    /// Forgets the oldest finished executions beyond the retention limit.
    fn evict(&self, registry: &mut Registry) {
        let max = self.inner.config.max_retained_executions;
        if registry.executions.len() <= max {
            return;
        }
        let mut excess = registry.executions.len() - max;
        let mut kept = VecDeque::with_capacity(registry.order.len());
        while let Some(arn) = registry.order.pop_front() {
            let finished = registry
                .executions
                .get(&arn)
                .is_some_and(|e| e.state().status != Status::Running);
            if excess > 0 && finished {
                registry.executions.remove(&arn);
                excess -= 1;
            } else {
                kept.push_back(arn);
            }
        }
        registry.order = kept;
    }

    /// The execution with this ARN.
    pub fn execution(&self, arn: &str) -> Result<Arc<Execution>, SfnError> {
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
            return Err(SfnError::InvalidArn(format!(
                "Invalid Arn: '{arn}' is not an execution ARN"
            )));
        }
        self.registry().executions.get(arn).cloned().ok_or_else(|| {
            SfnError::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"))
        })
    }

    pub fn describe_execution(&self, req: &Value) -> Result<Value, SfnError> {
        let e = self.execution(required_str(req, "executionArn")?)?;
        let s = e.state();
        let mut out = json!({
            "executionArn": e.arn,
            "stateMachineArn": e.machine_arn,
            "name": e.name,
            "status": s.status.as_str(),
            "startDate": epoch_seconds(&e.start_date),
            "input": e.input,
            "inputDetails": {"included": true},
            "redriveCount": 0,
            "redriveStatus": "NOT_REDRIVABLE",
        });
        if let Some(d) = s.stop_date {
            out["stopDate"] = json!(epoch_seconds(&d));
        }
        if let Some(o) = s.output {
            out["output"] = json!(o);
            out["outputDetails"] = json!({"included": true});
        }
        if let Some(er) = s.error {
            out["error"] = json!(er);
        }
        if let Some(c) = s.cause {
            out["cause"] = json!(c);
        }
        Ok(out)
    }

    pub fn get_execution_history(&self, req: &Value) -> Result<Value, SfnError> {
        let e = self.execution(required_str(req, "executionArn")?)?;
        let start = decode_token(req)?;
        let max = max_results(req, 100)?;
        let reverse = field(req, "reverseOrder")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let include = field(req, "includeExecutionData")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let (events, more) = e.history.page(start, max, reverse);
        let mut out =
            json!({"events": events.iter().map(|ev| ev.to_json(include)).collect::<Vec<_>>()});
        if more {
            out["nextToken"] = json!(encode_token(start + events.len()));
        }
        Ok(out)
    }

    pub fn list_executions(&self, req: &Value) -> Result<Value, SfnError> {
        let machine_arn = required_str(req, "stateMachineArn")?;
        let machine_name = machine_arn
            .rsplit_once(":stateMachine:")
            .map(|(_, n)| n.to_string())
            .ok_or_else(|| SfnError::InvalidArn(format!("Invalid Arn: '{machine_arn}'")))?;
        let status = match optional_str(req, "statusFilter")? {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                SfnError::Validation(format!("statusFilter '{s}' is not one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED"))
            })?),
        };
        let known = self.registry().machines.contains_key(&machine_name);
        let start = decode_token(req)?;
        let max = max_results(req, 100)?;
        let registry = self.registry();
        let matching: Vec<&Arc<Execution>> = registry
            .order
            .iter()
            .rev()
            .filter_map(|arn| registry.executions.get(arn))
            .filter(|e| e.machine_arn == machine_arn)
            .filter(|e| status.is_none_or(|s| e.state().status == s))
            .collect();
        if !known && matching.is_empty() {
            return Err(SfnError::StateMachineDoesNotExist(format!(
                "State Machine Does Not Exist: '{machine_arn}'"
            )));
        }
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(max)
            .map(|e| {
                let s = e.state();
                let mut item = json!({
                    "executionArn": e.arn,
                    "stateMachineArn": e.machine_arn,
                    "name": e.name,
                    "status": s.status.as_str(),
                    "startDate": epoch_seconds(&e.start_date),
                });
                if let Some(d) = s.stop_date {
                    item["stopDate"] = json!(epoch_seconds(&d));
                }
                item
            })
            .collect();
        let mut out = json!({"executions": page});
        if start + max < matching.len() {
            out["nextToken"] = json!(encode_token(start + max));
        }
        Ok(out)
    }

    /// Stops a running execution and waits until it has recorded its end;
    /// stopping an execution that already ended changes nothing.
    pub async fn stop_execution(&self, req: &Value) -> Result<Value, SfnError> {
        let e = self.execution(required_str(req, "executionArn")?)?;
        let error = optional_str(req, "error")?.map(str::to_string);
        let cause = optional_str(req, "cause")?.map(str::to_string);
        if e.state().status == Status::Running {
            *e.stop_reason.lock().unwrap_or_else(|p| p.into_inner()) = Some((error, cause));
            e.cancel.cancel();
            e.wait().await;
        }
        let stop_date = e
            .state()
            .stop_date
            .unwrap_or_else(|| self.inner.engine.clock().now());
        Ok(json!({"stopDate": epoch_seconds(&stop_date)}))
    }
}
