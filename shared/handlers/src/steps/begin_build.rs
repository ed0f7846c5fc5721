//! BeginBuild (DEPLOY_WORKER, UPDATE_WORKER, DESTROY_WORKER, right before
//! each Terraform build): the build is not a Lambda function and cannot
//! record itself, so this step shows it RUNNING on the job as it starts
//! (name, started_at, attempt). While it runs, the job API adds what the
//! build reports of itself (its id, its log, its plan) from the progress
//! object the build writes; the step after the build records it for good.
//! Idempotent: a redelivery counts one more attempt of a step that is
//! RUNNING anyway.

use jobs_domain::StepError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::Step;
use crate::deps::{Port, StepDeps};

pub struct BeginBuild;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    /// The build's state name (`TerraformApply`, `TerraformDestroy`).
    pub build_step: String,
}

#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Output {
    /// How many times the build has started, this one included.
    pub attempt: u32,
}

impl Step for BeginBuild {
    const FUNCTION: &'static str = "worker-jobs-begin-build";
    const USES: &'static [Port] = &[];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        if !input.build_step.starts_with("Terraform") {
            return Err(StepError::invalid(format!(
                "BeginBuild records Terraform builds, not {:?}",
                input.build_step
            )));
        }
        let job = deps.jobs.begin(&input.job_id, &input.build_step).await?;
        let attempt = job
            .steps
            .iter()
            .find(|s| s.name == input.build_step)
            .map(|s| s.attempts)
            .unwrap_or(1);
        tracing::info!(job_id = %job.id, step = %input.build_step, attempt, "build starting");
        Ok(Output { attempt })
    }
}
