//! MarkRunning (every job type): QUEUED → RUNNING, remembering the
//! execution that runs the job. A redelivery for the same execution finds
//! it done; another execution for a job that already runs is refused.

use jobs_domain::StepError;
use jobs_domain::job::JobStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Step, step_name};
use crate::deps::{Port, StepDeps};
use crate::job_service::Write;

pub struct MarkRunning;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    #[serde(default)]
    pub step: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub job_id: String,
    pub job_type: String,
}

impl Step for MarkRunning {
    const FUNCTION: &'static str = "worker-jobs-mark-running";
    const USES: &'static [Port] = &[];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "MarkRunning");
        let now = deps.jobs.now();
        let job = deps
            .jobs
            .modify(&input.job_id, |job| match job.status {
                JobStatus::Queued => {
                    job.status = JobStatus::Running;
                    job.execution_arn = Some(input.execution_arn.clone());
                    job.start_step(&step, now);
                    job.end_step(&step, true, now);
                    Ok(Write::Yes)
                }
                JobStatus::Running
                    if job.execution_arn.as_deref() == Some(input.execution_arn.as_str()) =>
                {
                    Ok(Write::No)
                }
                other => Err(StepError::internal(format!(
                    "job {} is {other} and cannot start running (execution {})",
                    job.id, input.execution_arn
                ))),
            })
            .await?;
        tracing::info!(job_id = %job.id, "job running");
        Ok(Output {
            job_id: job.id,
            job_type: job.job_type.as_str().to_string(),
        })
    }
}
