//! Helpers shared by the integration tests: testdata, a virtual-time clock,
//! the environment for the AWS SDK and CLI, and the interpreter harness (a
//! service built with `sfn_local::Builder`, in-process Lambda handlers,
//! executions awaited and their histories inspected).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sfn_local::history::HistoryEvent;
use sfn_local::integrations::lambda::function;
use sfn_local::service::{ExecutionState, Status};
use sfn_local::{
    Builder, Clock, FunctionError, InProcessLambdas, LambdaFunction, SfnError, StepFunctions,
};

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sfn-local-tests";

/// `local/sfn-local/testdata`.
pub fn testdata_dir() -> PathBuf {
    manifest_dir().join("testdata")
}

/// The text of `testdata/<name>.asl.json` (the files asl-validator checks).
pub fn testdata(name: &str) -> String {
    let path = testdata_dir().join(format!("{name}.asl.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    manifest_dir()
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A clock whose wall time starts at a fixed instant and advances with
/// Tokio's (virtual, under `start_paused`) time, so that definitions in
/// testdata can name absolute timestamps.
pub struct TestClock {
    origin_wall: DateTime<Utc>,
    origin: tokio::time::Instant,
}

pub const CLOCK_START: &str = "2030-01-01T00:00:00Z";

impl TestClock {
    pub fn new() -> Self {
        TestClock {
            origin_wall: CLOCK_START.parse().expect("CLOCK_START"),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.origin_wall + chrono::Duration::from_std(self.origin.elapsed()).expect("elapsed")
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Sets the variables the AWS SDK and CLI need so that they never look for
/// real credentials or the instance-metadata endpoint.
pub fn aws_test_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

// ---------------------------------------------------------------------------
// The interpreter harness

pub struct Harness {
    pub service: StepFunctions,
    seq: AtomicUsize,
}

impl Harness {
    pub fn new(lambdas: InProcessLambdas) -> Harness {
        let service = Builder::new()
            .clock(Arc::new(TestClock::new()))
            .lambda(Arc::new(lambdas))
            .build();
        Harness::with_service(service)
    }

    pub fn with_service(service: StepFunctions) -> Harness {
        Harness {
            service,
            seq: AtomicUsize::new(0),
        }
    }

    pub fn plain() -> Harness {
        Harness::new(InProcessLambdas::new())
    }

    /// Creates a state machine (named after `label`) and answers its ARN.
    pub fn create(&self, label: &str, definition: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let name = format!("{label}-{n}");
        let out = self
            .service
            .create_state_machine(
                &json!({"name": name, "definition": definition, "roleArn": ROLE_ARN}),
            )
            .unwrap_or_else(|e| panic!("creating {label}: {e}"));
        out["stateMachineArn"].as_str().unwrap().to_string()
    }

    pub fn start(
        &self,
        machine: &str,
        name: Option<&str>,
        input: &Value,
    ) -> Result<String, SfnError> {
        let mut req = json!({"stateMachineArn": machine, "input": input.to_string()});
        if let Some(n) = name {
            req["name"] = json!(n);
        }
        self.service
            .start_execution(&req)
            .map(|o| o["executionArn"].as_str().unwrap().to_string())
    }

    pub async fn finish(&self, execution_arn: &str) -> Finished {
        let exec = self.service.execution(execution_arn).unwrap();
        let state = exec.wait().await;
        Finished {
            arn: execution_arn.to_string(),
            state,
            events: exec.history.snapshot(),
            start: exec.start_date,
        }
    }

    pub async fn run_text(&self, label: &str, definition: &str, input: Value) -> Finished {
        let machine = self.create(label, definition);
        let arn = self.start(&machine, None, &input).unwrap();
        self.finish(&arn).await
    }

    /// Runs `testdata/<name>.asl.json` on `input` to its end.
    pub async fn run(&self, name: &str, input: Value) -> Finished {
        self.run_text(name, &testdata(name), input).await
    }
}

/// A finished execution.
pub struct Finished {
    pub arn: String,
    pub state: ExecutionState,
    pub events: Vec<HistoryEvent>,
    pub start: DateTime<Utc>,
}

pub fn details(ev: &HistoryEvent) -> Value {
    ev.details_json()
        .unwrap_or_else(|| panic!("{} has no details", ev.event_type))
}

pub fn json_field(ev: &HistoryEvent, field: &str) -> Value {
    let d = details(ev);
    let text = d[field]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no string field {field}", ev.event_type));
    serde_json::from_str(text).unwrap()
}

impl Finished {
    pub fn dump(&self) -> String {
        self.events
            .iter()
            .map(|e| {
                format!(
                    "{:>3} <-{:>3} {} {}",
                    e.id,
                    e.previous_event_id,
                    e.event_type,
                    e.to_json(true)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn output(&self) -> Value {
        assert_eq!(
            self.state.status,
            Status::Succeeded,
            "the execution did not succeed: {:?}\n{}",
            self.state,
            self.dump()
        );
        serde_json::from_str(self.state.output.as_deref().unwrap()).unwrap()
    }

    /// `(error, cause)` of a FAILED execution.
    pub fn failure(&self) -> (String, String) {
        assert_eq!(
            self.state.status,
            Status::Failed,
            "the execution did not fail: {:?}\n{}",
            self.state,
            self.dump()
        );
        (
            self.state.error.clone().unwrap_or_default(),
            self.state.cause.clone().unwrap_or_default(),
        )
    }

    pub fn error(&self) -> String {
        self.failure().0
    }

    pub fn types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type).collect()
    }

    pub fn of_type(&self, event_type: &str) -> Vec<&HistoryEvent> {
        self.events
            .iter()
            .filter(|e| e.event_type == event_type)
            .collect()
    }

    pub fn count(&self, event_type: &str) -> usize {
        self.of_type(event_type).len()
    }

    /// Names of the states entered, in order.
    pub fn entered_states(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.event_type.ends_with("StateEntered"))
            .map(|e| e.detail("name").unwrap_or_default().to_string())
            .collect()
    }

    /// The `*StateExited` event of the state called `name`.
    pub fn exited(&self, name: &str) -> &HistoryEvent {
        self.events
            .iter()
            .find(|e| e.event_type.ends_with("StateExited") && e.detail("name") == Some(name))
            .unwrap_or_else(|| panic!("no exit of {name}\n{}", self.dump()))
    }

    pub fn exited_output(&self, name: &str) -> Value {
        json_field(self.exited(name), "output")
    }

    /// Virtual seconds from the execution's start to an event.
    pub fn at(&self, ev: &HistoryEvent) -> f64 {
        (ev.timestamp - self.start).num_milliseconds() as f64 / 1000.0
    }

    /// Milliseconds between consecutive events of one type.
    pub fn gaps_ms(&self, event_type: &str) -> Vec<i64> {
        self.of_type(event_type)
            .windows(2)
            .map(|w| (w[1].timestamp - w[0].timestamp).num_milliseconds())
            .collect()
    }

    pub fn last(&self) -> &HistoryEvent {
        self.events.last().unwrap()
    }
}

pub fn ok(v: Value) -> Result<Value, FunctionError> {
    Ok(v)
}

pub fn function_error(error_type: &str, message: &str) -> FunctionError {
    FunctionError {
        error_type: error_type.to_string(),
        error_message: message.to_string(),
    }
}

/// `{"n": N, "id": …}` → `{"doubled": 2N, "id": …, "noise": …}`.
pub fn double() -> Arc<dyn LambdaFunction> {
    function(|p: Value| async move {
        ok(
            json!({"doubled": p["n"].as_i64().unwrap_or(0) * 2, "id": p["id"], "noise": "dropped by ResultSelector"}),
        )
    })
}

pub fn echo() -> Arc<dyn LambdaFunction> {
    function(|p: Value| async move { ok(p) })
}

/// Sleeps an hour (virtual time) and then sets `flag`.
pub fn sleeps_then_sets(flag: Arc<AtomicBool>) -> Arc<dyn LambdaFunction> {
    function(move |_p: Value| {
        let flag = flag.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            flag.store(true, Ordering::SeqCst);
            ok(json!("finished"))
        }
    })
}

/// Fails with `Custom.Flaky` for the first `failures` calls; records every
/// payload it was called with.
pub fn flaky(failures: usize, calls: Arc<Mutex<Vec<Value>>>) -> Arc<dyn LambdaFunction> {
    function(move |p: Value| {
        let calls = calls.clone();
        async move {
            let n = {
                let mut c = calls.lock().unwrap();
                c.push(p.clone());
                c.len()
            };
            if n <= failures {
                Err(function_error("Custom.Flaky", "try again"))
            } else {
                ok(p)
            }
        }
    })
}

pub fn lambdas(list: Vec<(&str, Arc<dyn LambdaFunction>)>) -> InProcessLambdas {
    let mut l = InProcessLambdas::new();
    for (name, f) in list {
        l.register(name, f);
    }
    l
}

/// This package's directory, as cargo or nextest says at run time (a test
/// binary built in another clone sharing the target directory still reads
/// this clone's files).
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
