//! The interpreter: runs a validated [`Definition`] against an input,
//! recording history events, honouring AWS's input/output processing order
//! (InputPath → Parameters → task → ResultSelector → ResultPath →
//! OutputPath), Retry and Catch, timeouts, Map and Parallel.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::choice::PathRef;
use crate::clock::Clock;
use crate::context::{Context, ExecutionFacts};
use crate::definition::{
    Block, Catcher, Count, Definition, ErrorSource, Kind, MapSpec, Retrier, Seconds, State,
    Transition, WaitFor,
};
use crate::error::{StatesError, names};
use crate::history::{Details, History, data_details};
use crate::integrations::{TaskContext, TaskIntegration, event_names, is_function_arn};
use crate::limits::{MAX_CAUSE_CHARS, MAX_PAYLOAD_BYTES, truncate};
use crate::path::Path;

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
    inner: Arc<EngineInner>,
}

struct EngineInner {
    integrations: Vec<Arc<dyn TaskIntegration>>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
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
enum Step {
    Next(usize, Value),
    End(Value),
}

/// An error together with the id of the last event recorded before it.
struct Failure {
    error: StatesError,
    prev: u64,
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
struct Run {
    engine: Engine,
    facts: Arc<ExecutionFacts>,
    history: Arc<History>,
}

fn size_error(what: &str, name: &str, bytes: usize) -> StatesError {
    StatesError::new(
        names::DATA_LIMIT_EXCEEDED,
        format!(
            "The {what} of state '{name}' is {bytes} bytes, larger than the limit of {MAX_PAYLOAD_BYTES} bytes"
        ),
    )
}

fn io_select(path: &Option<Path>, value: Value, field: &str) -> Result<Value, StatesError> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(p) if p.is_root() => Ok(value),
        Some(p) => match p.select(&value) {
            Some(v) => Ok(v.into_owned()),
            None => Err(StatesError::runtime(format!(
                "Invalid path '{p}' : The {field} could not be found in the state's data '{}'",
                truncate(&value.to_string(), 200)
            ))),
        },
    }
}

/// Merges `result` into the raw input at ResultPath (ASL-NOTES §1).
fn apply_result_path(
    path: &Option<Path>,
    raw: Option<Value>,
    result: Value,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(raw.unwrap_or(Value::Null)),
        Some(p) if p.is_root() => Ok(result),
        Some(p) => {
            let mut target = raw.unwrap_or(Value::Null);
            p.set(&mut target, result).map_err(|e| {
                StatesError::new(
                    names::RESULT_PATH_MATCH_FAILURE,
                    format!(
                        "Unable to apply ResultPath '{p}' to input '{}': {}",
                        truncate(&target.to_string(), 200),
                        e.reason
                    ),
                )
            })?;
            Ok(target)
        }
    }
}

/// Whether the raw input must be kept after InputPath (to merge a result
/// into it later).
fn needs_raw(result_path: &Option<Path>) -> bool {
    !matches!(result_path, Some(p) if p.is_root())
}

fn error_output(e: &StatesError) -> Value {
    json!({"Error": e.error, "Cause": e.cause})
}

impl Run {
    fn clock(&self) -> &Arc<dyn Clock> {
        &self.engine.inner.clock
    }

    fn push(
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

    fn context(&self, state: &State, entered: &Arc<str>, retry_count: u32) -> Context {
        Context {
            facts: self.facts.clone(),
            state_name: state.name.clone(),
            entered_time: entered.clone(),
            retry_count,
            map_item: None,
        }
    }

    /// Runs a block of states from its start to an end.
    fn run_block<'a>(
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

    /// Runs one state; answers where to go and the last event id.
    async fn run_state(
        &self,
        state: &State,
        raw: Value,
        entered: &Arc<str>,
        prev: u64,
    ) -> Result<(Step, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        match &state.kind {
            Kind::Pass { result } => {
                let ctx = self.context(state, entered, 0);
                let keep = needs_raw(&state.result_path);
                let raw_copy = if keep { Some(raw.clone()) } else { None };
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let value = match (result, &state.parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(t)) => t.evaluate(&effective, &ctx).map_err(|e| fail(e, prev))?,
                    (None, None) => effective,
                };
                let merged = apply_result_path(&state.result_path, raw_copy, value)
                    .map_err(|e| fail(e, prev))?;
                let output = io_select(&state.output_path, merged, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((self.transition(state, output), prev))
            }
            Kind::Choice { choices, default } => {
                let ctx = self.context(state, entered, 0);
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let mut target = None;
                for (rule, next) in choices {
                    if rule.evaluate(&effective, &ctx).map_err(|e| fail(e, prev))? {
                        target = Some(*next);
                        break;
                    }
                }
                let Some(next) = target.or(*default) else {
                    return Err(fail(
                        StatesError::new(
                            names::NO_CHOICE_MATCHED,
                            format!("No Matches! (state '{}' has no Default)", state.name),
                        ),
                        prev,
                    ));
                };
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((Step::Next(next, output), prev))
            }
            Kind::Wait(wait) => {
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let ctx = self.context(state, entered, 0);
                let delay = match wait {
                    WaitFor::Seconds(s) => Duration::from_secs(
                        self.seconds(s, &effective, &ctx, "SecondsPath", true)
                            .map_err(|e| fail(e, prev))?,
                    ),
                    WaitFor::Timestamp(t) => {
                        until(self.clock().now(), t.with_timezone(&chrono::Utc))
                    }
                    WaitFor::TimestampPath(p) => {
                        let v = p.select(&effective, &ctx).ok_or_else(|| fail(StatesError::runtime(format!("Invalid path '{}': TimestampPath could not be found in the input", p.text())), prev))?;
                        let t = v.as_str().and_then(crate::choice::parse_timestamp).ok_or_else(|| {
                            fail(StatesError::runtime(format!("The value at TimestampPath '{}' is not an RFC 3339 timestamp: {v}", p.text())), prev)
                        })?;
                        until(self.clock().now(), t.with_timezone(&chrono::Utc))
                    }
                };
                self.clock().sleep(delay).await;
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((self.transition(state, output), prev))
            }
            Kind::Succeed => {
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((Step::End(output), prev))
            }
            Kind::Fail { error, cause } => {
                let ctx = self.context(state, entered, 0);
                let resolve =
                    |source: &Option<ErrorSource>, field: &str| -> Result<String, StatesError> {
                        match source {
                            None => Ok(String::new()),
                            Some(ErrorSource::Literal(s)) => Ok(s.clone()),
                            Some(ErrorSource::Dynamic(v)) => match v.evaluate(&raw, &ctx, field)? {
                                Value::String(s) => Ok(s),
                                other => Err(StatesError::runtime(format!(
                                    "{field} must resolve to a string, got {other}"
                                ))),
                            },
                        }
                    };
                let error = resolve(error, "ErrorPath").map_err(|e| fail(e, prev))?;
                let cause = resolve(cause, "CausePath").map_err(|e| fail(e, prev))?;
                Err(fail(StatesError::new(error, cause), prev))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map(_) => {
                self.run_with_retry(state, raw, entered, prev).await
            }
        }
    }

    fn transition(&self, state: &State, output: Value) -> Step {
        match state.next {
            Transition::Next(n) => Step::Next(n, output),
            _ => Step::End(output),
        }
    }

    fn seconds(
        &self,
        s: &Seconds,
        input: &Value,
        ctx: &Context,
        field: &str,
        allow_zero: bool,
    ) -> Result<u64, StatesError> {
        match s {
            Seconds::Literal(n) => Ok(*n),
            Seconds::Path(p) => {
                let v = p.select(input, ctx).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "Invalid path '{}': {field} could not be found in the input",
                        p.text()
                    ))
                })?;
                v.as_u64().filter(|n| allow_zero || *n > 0).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The value at {field} '{}' must be a {} integer, got {v}",
                        p.text(),
                        if allow_zero {
                            "non-negative"
                        } else {
                            "positive"
                        }
                    ))
                })
            }
        }
    }

    /// Task, Parallel and Map: one attempt after another as Retry allows,
    /// then Catch.
    async fn run_with_retry(
        &self,
        state: &State,
        raw: Value,
        entered: &Arc<str>,
        mut prev: u64,
    ) -> Result<(Step, u64), Failure> {
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let ctx = self.context(state, entered, retry_count);
            let attempt = self.attempt(state, raw.clone(), &ctx, prev).await;
            let (error, last) = match attempt {
                Ok((output, last)) => return Ok((self.transition(state, output), last)),
                Err(f) => (f.error, f.prev),
            };
            prev = last;
            if let Some(delay) = retry_delay(&state.retry, &mut attempts, &error) {
                retry_count += 1;
                self.clock().sleep(delay).await;
                continue;
            }
            if let Some(catcher) = find_catcher(&state.catch, &error) {
                let output =
                    apply_result_path(&catcher.result_path, Some(raw), error_output(&error))
                        .map_err(|e| Failure { error: e, prev })?;
                return Ok((Step::Next(catcher.next, output), prev));
            }
            return Err(Failure { error, prev });
        }
    }

    /// One attempt of a Task, Parallel or Map state, including its input
    /// and output processing.
    async fn attempt(
        &self,
        state: &State,
        raw: Value,
        ctx: &Context,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let keep = needs_raw(&state.result_path);
        let raw_copy = if keep { Some(raw.clone()) } else { None };
        let effective =
            io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
        let (result, prev) = match &state.kind {
            Kind::Task {
                resource, timeout, ..
            } => {
                let params = match &state.parameters {
                    Some(t) => t.evaluate(&effective, ctx).map_err(|e| fail(e, prev))?,
                    None => effective.clone(),
                };
                let timeout = match timeout {
                    Some(s) => Some(
                        self.seconds(s, &effective, ctx, "TimeoutSecondsPath", false)
                            .map_err(|e| fail(e, prev))?,
                    ),
                    None => None,
                };
                self.run_task(state, resource, params, timeout, prev)
                    .await?
            }
            Kind::Parallel { branches } => {
                let input = match &state.parameters {
                    Some(t) => t.evaluate(&effective, ctx).map_err(|e| fail(e, prev))?,
                    None => effective,
                };
                self.run_parallel(branches, input, prev).await?
            }
            Kind::Map(spec) => self.run_map(state, spec, effective, ctx, prev).await?,
            _ => return Err(fail(StatesError::runtime("not a task-like state"), prev)),
        };
        let selected = match &state.result_selector {
            Some(t) => t.evaluate(&result, ctx).map_err(|e| fail(e, prev))?,
            None => result,
        };
        let merged =
            apply_result_path(&state.result_path, raw_copy, selected).map_err(|e| fail(e, prev))?;
        let output =
            io_select(&state.output_path, merged, "OutputPath").map_err(|e| fail(e, prev))?;
        Ok((output, prev))
    }

    async fn run_task(
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

    async fn run_parallel(
        &self,
        branches: &[Arc<Block>],
        input: Value,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let started = self
            .push(prev, "ParallelStateStarted", None)
            .map_err(|e| fail(e, prev))?;
        // Branches run concurrently and are observed as they finish (not in
        // branch order), so that one failing branch fails the state at once
        // and dropping `running` stops the others (specification "Parallel
        // State"); results are still placed in branch order.
        let mut running: FuturesUnordered<_> = branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let run = self.run_block(b, input.clone(), started);
                async move { (i, run.await) }
            })
            .collect();
        let mut results: Vec<Value> = vec![Value::Null; branches.len()];
        let mut last = started;
        while let Some((i, r)) = running.next().await {
            match r {
                Ok((v, p)) => {
                    results[i] = v;
                    last = last.max(p);
                }
                Err(f) => {
                    drop(running);
                    let prev = self
                        .push(f.prev, "ParallelStateFailed", None)
                        .map_err(|e| fail(e, f.prev))?;
                    return Err(Failure {
                        error: f.error,
                        prev,
                    });
                }
            }
        }
        let prev = self
            .push(last, "ParallelStateSucceeded", None)
            .map_err(|e| fail(e, last))?;
        Ok((Value::Array(results), prev))
    }

    fn count(
        &self,
        count: &Option<Count>,
        input: &Value,
        ctx: &Context,
        field: &str,
    ) -> Result<Option<f64>, StatesError> {
        match count {
            None => Ok(None),
            Some(Count::Literal(n)) => Ok(Some(*n)),
            Some(Count::Path(p)) => {
                let v = p.select(input, ctx).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "Invalid path '{}': {field}Path could not be found in the input",
                        p.text()
                    ))
                })?;
                v.as_f64().filter(|n| *n >= 0.0).map(Some).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The value at {field}Path '{}' must be a non-negative number, got {v}",
                        p.text()
                    ))
                })
            }
        }
    }

    async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: Value,
        ctx: &Context,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let items = match &spec.items_path {
            PathRef::Input(p) if p.is_root() => effective.clone(),
            other => other.select(&effective, ctx).ok_or_else(|| {
                fail(
                    StatesError::runtime(format!(
                        "Invalid path '{}': The ItemsPath could not be found in the input",
                        other.text()
                    )),
                    prev,
                )
            })?,
        };
        let Value::Array(items) = items else {
            return Err(fail(
                StatesError::runtime(format!(
                    "The ItemsPath of Map state '{}' must point to an array, got {}",
                    state.name,
                    crate::path::type_name(&items)
                )),
                prev,
            ));
        };
        let max_concurrency = self
            .count(&spec.max_concurrency, &effective, ctx, "MaxConcurrency")
            .map_err(|e| fail(e, prev))?;
        let tolerated_count = self
            .count(
                &spec.tolerated_count,
                &effective,
                ctx,
                "ToleratedFailureCount",
            )
            .map_err(|e| fail(e, prev))?;
        let tolerated_pct = self
            .count(
                &spec.tolerated_percentage,
                &effective,
                ctx,
                "ToleratedFailurePercentage",
            )
            .map_err(|e| fail(e, prev))?;
        let tolerance = if tolerated_count.is_some() || tolerated_pct.is_some() {
            let by_count = tolerated_count.unwrap_or(0.0);
            let by_pct = tolerated_pct
                .map(|p| p / 100.0 * items.len() as f64)
                .unwrap_or(0.0);
            Some(by_count.max(by_pct))
        } else {
            None
        };
        let total = items.len();
        let started = self
            .push(
                prev,
                "MapStateStarted",
                Some(("mapStateStartedEventDetails", json!({"length": total}))),
            )
            .map_err(|e| fail(e, prev))?;
        let limit = match max_concurrency {
            Some(n) if n >= 1.0 => n as usize,
            _ => total.max(1),
        };
        let mut inputs = Vec::with_capacity(total);
        for (index, item) in items.into_iter().enumerate() {
            let input = match &state.parameters {
                Some(t) => {
                    let mut item_ctx = ctx.clone();
                    item_ctx.map_item = Some((index, item));
                    t.evaluate(&effective, &item_ctx)
                        .map_err(|e| fail(e, started))?
                }
                None => item,
            };
            inputs.push(input);
        }
        let name = state.name.clone();
        let processor = spec.processor.clone();
        let iterations =
            futures::stream::iter(inputs.into_iter().enumerate().map(|(index, input)| {
                let name = name.clone();
                let processor = processor.clone();
                async move {
                    let it = self.push(
                        started,
                        "MapIterationStarted",
                        Some((
                            "mapIterationStartedEventDetails",
                            json!({"name": &*name, "index": index}),
                        )),
                    );
                    let it = match it {
                        Ok(id) => id,
                        Err(e) => {
                            return (
                                index,
                                Err(Failure {
                                    error: e,
                                    prev: started,
                                }),
                            );
                        }
                    };
                    let outcome = match self.run_block(&processor, input, it).await {
                        Ok((v, p)) => {
                            let p = self
                                .push(
                                    p,
                                    "MapIterationSucceeded",
                                    Some((
                                        "mapIterationSucceededEventDetails",
                                        json!({"name": &*name, "index": index}),
                                    )),
                                )
                                .map_err(|e| Failure { error: e, prev: p });
                            p.map(|p| (v, p))
                        }
                        Err(f) => {
                            let p = self
                                .push(
                                    f.prev,
                                    "MapIterationFailed",
                                    Some((
                                        "mapIterationFailedEventDetails",
                                        json!({"name": &*name, "index": index}),
                                    )),
                                )
                                .unwrap_or(f.prev);
                            Err(Failure {
                                error: f.error,
                                prev: p,
                            })
                        }
                    };
                    (index, outcome)
                }
            }))
            // At most `limit` iterations run at once; they are observed as they
            // finish, so that a failure ends the Map at once (dropping the stream
            // stops the iterations still running), and their results are put
            // back in input order (specification "Map State").
            .buffer_unordered(limit);
        futures::pin_mut!(iterations);
        let mut results: Vec<Value> = vec![Value::Null; total];
        let mut failures = 0usize;
        let mut last = started;
        while let Some((index, r)) = iterations.next().await {
            match r {
                Ok((v, p)) => {
                    results[index] = v;
                    last = last.max(p);
                }
                Err(f) if f.error.error == names::RUNTIME => {
                    let prev = self.push(f.prev, "MapStateFailed", None).unwrap_or(f.prev);
                    return Err(Failure {
                        error: f.error,
                        prev,
                    });
                }
                Err(f) => {
                    failures += 1;
                    last = last.max(f.prev);
                    let within = tolerance.is_some_and(|t| failures as f64 <= t);
                    if !within {
                        let error = if tolerance.is_some() {
                            StatesError::new(
                                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                format!(
                                    "Map state '{}' had {failures} failed item(s), more than it tolerates",
                                    state.name
                                ),
                            )
                        } else {
                            f.error
                        };
                        let prev = self.push(f.prev, "MapStateFailed", None).unwrap_or(f.prev);
                        return Err(Failure { error, prev });
                    }
                    results[index] = error_output(&f.error);
                }
            }
        }
        let prev = self
            .push(last, "MapStateSucceeded", None)
            .map_err(|e| fail(e, last))?;
        Ok((Value::Array(results), prev))
    }
}

fn until(now: chrono::DateTime<chrono::Utc>, then: chrono::DateTime<chrono::Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

/// Decides whether to retry: the first retrier whose ErrorEquals matches
/// decides; once its MaxAttempts are used up, the error goes to Catch
/// (specification "Retrying after an error"; ASL-NOTES §5).
fn retry_delay(
    retriers: &[Retrier],
    attempts: &mut [u32],
    error: &StatesError,
) -> Option<Duration> {
    let (i, r) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| r.error_equals.iter().any(|n| error.matches(n)))?;
    if attempts[i] >= r.max_attempts {
        return None;
    }
    let n = attempts[i];
    attempts[i] += 1;
    let mut delay = r.interval_seconds * r.backoff_rate.powi(n as i32);
    if let Some(max) = r.max_delay_seconds {
        delay = delay.min(max);
    }
    if r.jitter_full {
        delay = rand::rng().random_range(0.0..=delay);
    }
    Some(Duration::from_secs_f64(delay))
}

fn find_catcher<'a>(catchers: &'a [Catcher], error: &StatesError) -> Option<&'a Catcher> {
    catchers
        .iter()
        .find(|c| c.error_equals.iter().any(|n| error.matches(n)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(
        errors: &[&str],
        interval: f64,
        max: u32,
        rate: f64,
        max_delay: Option<f64>,
    ) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|s| s.to_string()).collect(),
            interval_seconds: interval,
            max_attempts: max,
            backoff_rate: rate,
            max_delay_seconds: max_delay,
            jitter_full: false,
        }
    }

    // ASL-NOTES §5: delay = Interval × Rate^(n−1), capped by MaxDelaySeconds.
    #[test]
    fn retry_delays_follow_the_backoff_formula() {
        let rs = [retrier(&["E"], 2.0, 4, 3.0, Some(20.0))];
        let mut attempts = [0];
        let e = StatesError::new("E", "");
        let delays: Vec<u64> = std::iter::from_fn(|| retry_delay(&rs, &mut attempts, &e))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [2, 6, 18, 20]);
    }

    #[test]
    fn only_the_first_matching_retrier_counts() {
        let rs = [
            retrier(&["E"], 1.0, 1, 2.0, None),
            retrier(&["States.ALL"], 1.0, 5, 2.0, None),
        ];
        let mut attempts = [0, 0];
        let e = StatesError::new("E", "");
        assert!(retry_delay(&rs, &mut attempts, &e).is_some());
        assert!(
            retry_delay(&rs, &mut attempts, &e).is_none(),
            "exhausted first retrier does not fall through"
        );
    }

    #[test]
    fn max_attempts_zero_never_retries() {
        let rs = [retrier(&["States.ALL"], 1.0, 0, 2.0, None)];
        let mut attempts = [0];
        assert!(retry_delay(&rs, &mut attempts, &StatesError::new("X", "")).is_none());
    }
}
