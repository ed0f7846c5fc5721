//! MarkRunning: QUEUED → RUNNING, remembering the execution that runs the job.

use jobs_domain::StepError;
use jobs_domain::job::JobStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Write, input, modify_job, step_name};
use crate::deps::StepDeps;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    execution_arn: String,
    #[serde(default)]
    step: Option<String>,
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("MarkRunning", payload)?;
    let step = step_name(&input.step, "MarkRunning");
    let now = deps.clock.now();
    let job = modify_job(deps, &input.job_id, |job| match job.status {
        JobStatus::Queued => {
            job.status = JobStatus::Running;
            job.execution_arn = Some(input.execution_arn.clone());
            job.start_step(&step, now);
            job.end_step(&step, true, now);
            Ok(Write::Yes)
        }
        // A redelivered event for the same execution: already done.
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
    Ok(json!({"job_id": job.id, "job_type": job.job_type}))
}
