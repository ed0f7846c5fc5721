//! What a state machine step is: a Lambda function (named by `FUNCTION`,
//! the `FunctionName` its Task states call) taking a typed `Input` (the
//! Task's `Payload`) and answering a typed `Output` (what its
//! `ResultSelector` picks from `$.Payload`). Both derive `JsonSchema`, so
//! the state machine contract test can check every path the state machines
//! name against the fields the types have.
//!
//! [`invoke`] is the one place a payload is decoded and an output encoded:
//! the Lambda runtime (`jobs_runtime::lambda::serve_step`) and the local
//! engine both call it.

use std::future::Future;

use futures::future::BoxFuture;
use jobs_domain::StepError;
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::{Port, StepDeps};

/// A state machine step.
///
/// Handlers must be idempotent: Step Functions and Lambda may deliver the
/// same input twice, so a second delivery must find the work done and
/// answer the same output (conditional writes, deterministic names).
pub trait Step {
    /// The Lambda function name (`FunctionName` in the state machines).
    const FUNCTION: &'static str;
    /// The ports the step uses besides the job service. Its function builds
    /// only these clients and parses only their settings; any other port's
    /// accessor on [`StepDeps`] answers an internal error.
    const USES: &'static [Port];
    /// The Task state's `Payload`.
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    /// What the function answers (`$.Payload` of the Task's result).
    type Output: Serialize + JsonSchema + Send + 'static;

    fn handle(
        deps: &StepDeps,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, StepError>> + Send;
}

/// The payload of a step that needs only its job.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub job_id: String,
    /// The state's name (`$$.State.Name`), recorded on the job.
    #[serde(default)]
    pub step: Option<String>,
}

/// The name a step records itself under: the state's name when the state
/// machine passes it, else the step's usual name.
pub fn step_name(passed: &Option<String>, usual: &str) -> String {
    passed.clone().unwrap_or_else(|| usual.to_string())
}

/// Decodes `payload` as `S::Input`, runs the step and encodes its output.
/// A payload that does not decode is a fatal input error naming the step.
pub async fn invoke<S: Step>(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: S::Input = serde_json::from_value(payload)
        .map_err(|e| StepError::invalid(format!("{}: unexpected payload: {e}", S::FUNCTION)))?;
    let output = S::handle(deps, input).await?;
    serde_json::to_value(output)
        .map_err(|e| StepError::internal(format!("{}: encoding the output: {e}", S::FUNCTION)))
}

/// A step handler with its types erased, as the local engine registers it.
pub type StepFn = fn(StepDeps, Value) -> BoxFuture<'static, Result<Value, StepError>>;

/// A step as the local engine and the contract test see it.
#[derive(Clone, Copy)]
pub struct StepEntry {
    pub function: &'static str,
    /// The step's type (`jobs_handlers::steps::…::RegisterWorker`), which
    /// `functions/<name>/src/main.rs` serves.
    pub type_name: &'static str,
    /// [`Step::USES`].
    pub uses: &'static [Port],
    pub invoke: StepFn,
    pub input_schema: fn() -> Schema,
    pub output_schema: fn() -> Schema,
}

fn invoke_owned<S: Step>(
    deps: StepDeps,
    payload: Value,
) -> BoxFuture<'static, Result<Value, StepError>> {
    Box::pin(async move { invoke::<S>(&deps, payload).await })
}

fn schema<T: JsonSchema>() -> Schema {
    schemars::schema_for!(T)
}

/// The entry of step `S`.
pub fn entry<S: Step + 'static>() -> StepEntry {
    StepEntry {
        function: S::FUNCTION,
        type_name: std::any::type_name::<S>(),
        uses: S::USES,
        invoke: invoke_owned::<S>,
        input_schema: schema::<S::Input>,
        output_schema: schema::<S::Output>,
    }
}
