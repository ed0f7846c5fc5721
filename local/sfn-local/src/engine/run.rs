//! The run loop: [`Engine`] starts an execution and records how it ends
//! (succeeded, failed, timed out, aborted); `Run` walks a block of states
//! from its start to an end, recording each state's entered and exited
//! events and enforcing the payload size limit between states. How each
//! kind of state runs lives in the sibling files as `impl Run`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::io::size_error;
use crate::clock::Clock;
use crate::context::{Context, ExecutionFacts};
use crate::definition::{Block, Definition, Kind, State, Transition};
use crate::error::{StatesError, names};
use crate::history::{Details, History, data_details};
use crate::integrations::TaskIntegration;
use crate::limits::MAX_PAYLOAD_BYTES;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub region: String,
    /// AWS fails an execution whose history passes 25,000 events; `None`
    /// lifts the limit (benchmarks).
    pub max_history_events: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            region: "us-east-1".into(),
            max_history_events: Some(crate::limits::MAX_HISTORY_EVENTS),
        }
    }
}

/// Runs executions. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<EngineInner>,
}

pub(super) struct EngineInner {
    pub(super) integrations: Vec<Arc<dyn TaskIntegration>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: EngineConfig,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(StatesError),
    TimedOut(StatesError),
    Aborted,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a state goes next.
pub(super) enum Step {
    Next(usize, Value),
    End(Value),
}

/// An error together with the id of the last event recorded before it.
pub(super) struct Failure {
    pub(super) error: StatesError,
    pub(super) prev: u64,
}

impl Engine {
    pub fn new(
        integrations: Vec<Arc<dyn TaskIntegration>>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Engine {
            inner: Arc::new(EngineInner {
                integrations,
                clock,
                config,
            }),
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Runs one execution to its end, recording every event in `history`
    /// (starting with `ExecutionStarted`). Cancelling `cancel` aborts it; the
    /// caller then records `ExecutionAborted` (with the stop request's reason).
    pub async fn run(
        &self,
        definition: Arc<Definition>,
        facts: Arc<ExecutionFacts>,
        input: Value,
        history: Arc<History>,
        cancel: CancellationToken,
    ) -> Outcome {
        let clock = self.inner.clock.clone();
        let input_text = input.to_string();
        let started = history.push(
            0,
            clock.now(),
            "ExecutionStarted",
            Some((
                "executionStartedEventDetails",
                json!({
                    "input": input_text,
                    "inputDetails": {"truncated": false},
                    "roleArn": facts.execution.get("RoleArn").cloned().unwrap_or(Value::Null),
                })
                .into(),
            )),
        );
        let run = Run {
            engine: self.clone(),
            facts,
            history: history.clone(),
        };
        let root = definition.root.clone();
        let body = run.run_block(&root, input, started);
        let timeout = definition.timeout_seconds;
        let result = tokio::select! {
            r = body => Some(r),
            _ = cancel.cancelled() => None,
            _ = async {
                match timeout {
                    Some(s) => clock.timeout(Duration::from_secs(s)).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                let error = StatesError::new(names::TIMEOUT, format!("The execution ran longer than its TimeoutSeconds ({} s)", timeout.unwrap_or_default()));
                let last = history.len() as u64;
                history.push(last, clock.now(), "ExecutionTimedOut", Some(("executionTimedOutEventDetails", json!({"error": error.error, "cause": error.cause}).into())));
                return Outcome::TimedOut(error);
            }
        };
        match result {
            // The caller records ExecutionAborted with the StopExecution
            // error and cause.
            None => Outcome::Aborted,
            Some(Ok((output, prev))) => {
                history.push(
                    prev,
                    clock.now(),
                    "ExecutionSucceeded",
                    Some((
                        "executionSucceededEventDetails",
                        json!({"output": output.to_string(), "outputDetails": {"truncated": false}})
                            .into(),
                    )),
                );
                Outcome::Succeeded(output)
            }
            Some(Err(f)) => {
                history.push(
                    f.prev,
                    clock.now(),
                    "ExecutionFailed",
                    Some((
                        "executionFailedEventDetails",
                        json!({"error": f.error.error, "cause": f.error.cause}).into(),
                    )),
                );
                Outcome::Failed(f.error)
            }
        }
    }
}

/// One execution's running state.
#[derive(Clone)]
pub(super) struct Run {
    pub(super) engine: Engine,
    pub(super) facts: Arc<ExecutionFacts>,
    pub(super) history: Arc<History>,
}

impl Run {
    pub(super) fn clock(&self) -> &Arc<dyn Clock> {
        &self.engine.inner.clock
    }

    pub(super) fn push(
        &self,
        prev: u64,
        event_type: &'static str,
        details: Option<(&'static str, Value)>,
    ) -> Result<u64, StatesError> {
        let details = details.map(|(k, v)| (k, Details::Json(v)));
        self.push_at(prev, self.clock().now(), event_type, details)
    }

    /// Records an event at `at`, failing once the history is full.
    fn push_at(
        &self,
        prev: u64,
        at: chrono::DateTime<chrono::Utc>,
        event_type: &'static str,
        details: Option<(&'static str, Details)>,
    ) -> Result<u64, StatesError> {
        if let Some(max) = self.engine.inner.config.max_history_events
            && self.history.len() >= max
        {
            return Err(StatesError::runtime(format!(
                "The execution reached the maximum number of history events ({max})"
            )));
        }
        Ok(self.history.push(prev, at, event_type, details))
    }

    pub(super) fn context(&self, state: &State, entered: &Arc<str>, retry_count: u32) -> Context {
        Context {
            facts: self.facts.clone(),
            state_name: state.name.clone(),
            entered_time: entered.clone(),
            retry_count,
            map_item: None,
        }
    }

    /// Runs a block of states from its start to an end.
    pub(super) fn run_block<'a>(
        &'a self,
        block: &'a Arc<Block>,
        input: Value,
        prev: u64,
    ) -> BoxFut<'a, Result<(Value, u64), Failure>> {
        Box::pin(async move {
            let mut index = block.start_at;
            let mut input = input;
            let mut prev = prev;
            // The serialised input of the current state: the previous
            // state's output text, shared by its exited event and this
            // state's entered event (serialised once per transition).
            let mut carried: Option<Arc<str>> = None;
            loop {
                let state = &block.states[index];
                let fail = |error: StatesError, prev: u64| Failure { error, prev };
                let input_text: Arc<str> = match carried.take() {
                    Some(text) => text,
                    None => Arc::from(input.to_string()),
                };
                if input_text.len() > MAX_PAYLOAD_BYTES {
                    return Err(fail(
                        size_error("input", &state.name, input_text.len()),
                        prev,
                    ));
                }
                // `$$.State.EnteredTime` is the entered event's timestamp.
                let entered_at = self.clock().now();
                let entered_type = entered_event(state);
                prev = self
                    .push_at(
                        prev,
                        entered_at,
                        entered_type,
                        Some((
                            "stateEnteredEventDetails",
                            data_details(Some(&state.name), "input", input_text),
                        )),
                    )
                    .map_err(|e| fail(e, prev))?;
                let entered: Arc<str> =
                    Arc::from(entered_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                let (step, last) = self.run_state(state, input, &entered, prev).await?;
                prev = last;
                let output = match &step {
                    Step::Next(_, o) | Step::End(o) => o,
                };
                let output_text: Arc<str> = Arc::from(output.to_string());
                if output_text.len() > MAX_PAYLOAD_BYTES {
                    return Err(fail(
                        size_error("output", &state.name, output_text.len()),
                        prev,
                    ));
                }
                if let Some(exited) = exited_event(state) {
                    prev = self
                        .push_at(
                            prev,
                            self.clock().now(),
                            exited,
                            Some((
                                "stateExitedEventDetails",
                                data_details(Some(&state.name), "output", output_text.clone()),
                            )),
                        )
                        .map_err(|e| fail(e, prev))?;
                }
                match step {
                    Step::Next(next, output) => {
                        index = next;
                        input = output;
                        carried = Some(output_text);
                    }
                    Step::End(output) => return Ok((output, prev)),
                }
            }
        })
    }

    pub(super) fn transition(&self, state: &State, output: Value) -> Step {
        match state.next {
            Transition::Next(n) => Step::Next(n, output),
            _ => Step::End(output),
        }
    }
}

fn entered_event(state: &State) -> &'static str {
    match state.kind {
        Kind::Pass { .. } => "PassStateEntered",
        Kind::Task { .. } => "TaskStateEntered",
        Kind::Choice { .. } => "ChoiceStateEntered",
        Kind::Wait(_) => "WaitStateEntered",
        Kind::Succeed => "SucceedStateEntered",
        Kind::Fail { .. } => "FailStateEntered",
        Kind::Parallel { .. } => "ParallelStateEntered",
        Kind::Map(_) => "MapStateEntered",
    }
}

fn exited_event(state: &State) -> Option<&'static str> {
    Some(match state.kind {
        Kind::Pass { .. } => "PassStateExited",
        Kind::Task { .. } => "TaskStateExited",
        Kind::Choice { .. } => "ChoiceStateExited",
        Kind::Wait(_) => "WaitStateExited",
        Kind::Succeed => "SucceedStateExited",
        Kind::Fail { .. } => return None,
        Kind::Parallel { .. } => "ParallelStateExited",
        Kind::Map(_) => "MapStateExited",
    })
}
