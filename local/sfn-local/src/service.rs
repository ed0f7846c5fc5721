//! The Step Functions API semantics, independent of HTTP: state machines,
//! executions (with AWS's name idempotency) and their histories. Requests
//! and responses are the awsJson1_0 documents the SDKs send and expect.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::context::ExecutionFacts;
use crate::definition::{self, Definition};
use crate::engine::{Engine, Outcome};
use crate::error::SfnError;
use crate::history::{History, epoch_seconds};
use crate::limits::{self, MAX_DEFINITION_BYTES, MAX_PAYLOAD_BYTES};

/// Service-wide settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub region: String,
    pub account_id: String,
    /// Finished executions kept (with their history); the oldest finished
    /// ones are forgotten first. Running executions are always kept.
    pub max_retained_executions: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            max_retained_executions: 10_000,
        }
    }
}

/// Execution status, as `DescribeExecution` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "RUNNING" => Status::Running,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "TIMED_OUT" => Status::TimedOut,
            "ABORTED" => Status::Aborted,
            _ => return None,
        })
    }
}

/// A registered state machine.
pub struct Machine {
    pub name: String,
    pub arn: String,
    pub definition_text: String,
    pub definition: Arc<Definition>,
    pub role_arn: String,
    pub created: DateTime<Utc>,
}

/// The result part of an execution, filled when it ends.
#[derive(Debug, Clone)]
pub struct ExecutionState {
    pub status: Status,
    pub stop_date: Option<DateTime<Utc>>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// One execution.
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    pub input: String,
    pub start_date: DateTime<Utc>,
    pub history: Arc<History>,
    state: Mutex<ExecutionState>,
    done: watch::Sender<bool>,
    cancel: CancellationToken,
    stop_reason: Mutex<Option<(Option<String>, Option<String>)>>,
}

impl Execution {
    pub fn state(&self) -> ExecutionState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the execution has ended and answers its final state.
    pub async fn wait(&self) -> ExecutionState {
        let mut rx = self.done.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        self.state()
    }
}

#[derive(Default)]
struct Registry {
    machines: BTreeMap<String, Arc<Machine>>,
    executions: HashMap<String, Arc<Execution>>,
    /// Execution ARNs in start order.
    order: VecDeque<String>,
}

/// The Step Functions service. Cheap to clone.
#[derive(Clone)]
pub struct StepFunctions {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: ServiceConfig,
    registry: Mutex<Registry>,
    listeners: Mutex<Vec<StatusListener>>,
}

/// Receives the "Step Functions Execution Status Change" event (the
/// EventBridge shape AWS emits) of every execution that ends.
pub type StatusListener =
    Arc<dyn Fn(Value) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

fn field<'a>(req: &'a Value, name: &str) -> Option<&'a Value> {
    req.get(name).filter(|v| !v.is_null())
}

fn required_str<'a>(req: &'a Value, name: &str) -> Result<&'a str, SfnError> {
    match field(req, name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SfnError::Serialization(format!(
            "'{name}' must be a string"
        ))),
        None => Err(SfnError::Validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

fn optional_str<'a>(req: &'a Value, name: &str) -> Result<Option<&'a str>, SfnError> {
    match field(req, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SfnError::Serialization(format!(
            "'{name}' must be a string"
        ))),
    }
}

fn max_results(req: &Value, default: usize) -> Result<usize, SfnError> {
    match field(req, "maxResults") {
        None => Ok(default),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(default),
            Some(n) if n <= 1000 => Ok(n as usize),
            _ => Err(SfnError::Validation(
                "maxResults must be an integer from 0 to 1000".into(),
            )),
        },
    }
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("sfn-local:{offset}"))
}

fn decode_token(req: &Value) -> Result<usize, SfnError> {
    let Some(token) = optional_str(req, "nextToken")? else {
        return Ok(0);
    };
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sfn-local:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| SfnError::InvalidToken(format!("Invalid Token: '{token}'")))
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

    fn status_event(&self, exec: &Execution, state: &ExecutionState) -> Value {
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

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
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

    fn execution_arn(&self, machine: &str, name: &str) -> String {
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

    fn machine_by_arn(&self, arn: &str) -> Result<Arc<Machine>, SfnError> {
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
            // ASL-NOTES §14: same name and input while open → the same
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

    /// Number of executions currently retained (for tests and benchmarks).
    pub fn retained_executions(&self) -> usize {
        self.registry().executions.len()
    }
}
