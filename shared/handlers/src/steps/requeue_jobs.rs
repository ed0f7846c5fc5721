//! RequeueJobs (DESTROY_WORKER): every unfinished job assigned to the
//! destroyed runner goes back to QUEUED for the other runners, each exactly
//! once: the write is conditional on the job's version and re-checks that
//! it is still running on that runner, so a job that finished (or was
//! requeued by a replay of this step) meanwhile is left alone.

use jobs_domain::StepError;
use jobs_domain::job::JobStatus;
use jobs_domain::runner::must_requeue;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Write, input, modify_job, run_step, step_name};
use crate::deps::StepDeps;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    #[serde(default)]
    step: Option<String>,
    runner_id: String,
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("RequeueJobs", payload)?;
    let step = step_name(&input.step, "RequeueJobs");
    let runner_id = input.runner_id.clone();
    run_step(deps, &input.job_id, &step, |job| async move {
        let assigned = deps.jobs.runner_jobs_of(&runner_id).await?;
        let mut requeued = Vec::new();
        for candidate in assigned {
            let mut changed = false;
            modify_job(deps, &candidate.id, |j| {
                changed = false;
                if !must_requeue(j, &runner_id) {
                    return Ok(Write::No);
                }
                j.status = JobStatus::Queued;
                j.runner_id = None;
                j.requeues += 1;
                changed = true;
                Ok(Write::Yes)
            })
            .await?;
            if changed {
                requeued.push(candidate.id);
            }
        }
        tracing::info!(job_id = %job.id, runner = %runner_id, count = requeued.len(), "jobs requeued");
        Ok(json!({"runner_id": runner_id, "requeued": requeued}))
    })
    .await
}
