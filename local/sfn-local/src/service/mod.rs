//! The Step Functions API semantics, independent of HTTP: state machines,
//! executions (with AWS's name idempotency) and their histories. Requests
//! and responses are the awsJson1_0 documents the SDKs send and expect.
//!
//! `step_functions` holds the service object and the dispatch; `machines`
//! and `executions` the operations; `request` the decoding of request
//! fields and pagination; `model` what the service keeps.

mod executions;
mod machines;
mod model;
mod request;
mod step_functions;

pub use model::{Execution, ExecutionState, Machine, ServiceConfig, Status, StatusListener};
pub use step_functions::StepFunctions;
