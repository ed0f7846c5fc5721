//! The typed, index-linked model of a validated state machine: what the
//! validator builds from Amazon States Language (JSONPath mode) and what the
//! engine interprets. Transitions are indices into a [`Block`]'s states, so
//! the engine never looks a state up by name.

use std::sync::Arc;

use serde_json::Value;

use crate::choice::{PathRef, Rule};
use crate::path::Path;
use crate::payload::{Template, ValueRef};

/// A validated state machine.
#[derive(Debug)]
pub struct Definition {
    pub root: Arc<Block>,
    pub timeout_seconds: Option<u64>,
}

/// A set of states with a start: the top level, a Parallel branch or a Map
/// item processor.
#[derive(Debug)]
pub struct Block {
    pub start_at: usize,
    pub states: Vec<State>,
}

#[derive(Debug)]
pub struct State {
    pub name: Arc<str>,
    pub kind: Kind,
    pub input_path: Option<Path>,
    pub output_path: Option<Path>,
    /// `Parameters` (Pass, Task, Parallel) or `ItemSelector` (Map).
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: Option<Path>,
    pub next: Transition,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

/// Absent paths default to `$`; `null` is represented by `None` in the
/// fields above together with these flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Next(usize),
    End,
    /// Choice, Succeed and Fail decide themselves.
    None,
}

#[derive(Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<(Rule, usize)>,
        default: Option<usize>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<ErrorSource>,
        cause: Option<ErrorSource>,
    },
    Parallel {
        branches: Vec<Arc<Block>>,
    },
    Map(Box<MapSpec>),
}

#[derive(Debug)]
pub struct MapSpec {
    pub items_path: PathRef,
    pub processor: Arc<Block>,
    pub max_concurrency: Option<Count>,
    pub tolerated_count: Option<Count>,
    pub tolerated_percentage: Option<Count>,
}

/// A number given literally or read from the input.
#[derive(Debug, Clone)]
pub enum Count {
    Literal(f64),
    Path(PathRef),
}

/// A duration in seconds given literally or read from the input.
#[derive(Debug, Clone)]
pub enum Seconds {
    Literal(u64),
    Path(PathRef),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(Seconds),
    Timestamp(chrono::DateTime<chrono::FixedOffset>),
    TimestampPath(PathRef),
}

#[derive(Debug, Clone)]
pub enum ErrorSource {
    Literal(String),
    Dynamic(ValueRef),
}

/// Fields, with the flags that say whether InputPath/OutputPath/ResultPath
/// were explicitly `null`.
#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter_full: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: usize,
    pub result_path: Option<Path>,
}

impl State {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Pass { .. } => "Pass",
            Kind::Task { .. } => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}
