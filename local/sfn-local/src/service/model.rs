//! What the service keeps: its settings, registered state machines and
//! executions with their status, result and history, and the listener type
//! for execution status change events.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::definition::Definition;
use crate::history::History;

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

    pub(super) fn parse(s: &str) -> Option<Status> {
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
    pub(super) state: Mutex<ExecutionState>,
    pub(super) done: watch::Sender<bool>,
    pub(super) cancel: CancellationToken,
    pub(super) stop_reason: Mutex<Option<(Option<String>, Option<String>)>>,
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

/// Receives the "Step Functions Execution Status Change" event (the
/// EventBridge shape AWS emits) of every execution that ends.
pub type StatusListener =
    Arc<dyn Fn(Value) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;
