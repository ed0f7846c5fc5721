//! RequeueJobs (DESTROY_WORKER): every unfinished job assigned to the
//! destroyed runner goes back to QUEUED for the other runners, each exactly
//! once: the write is conditional on the job's version and re-checks that
//! it is still running on that runner (`runner::must_requeue`), so a job
//! that finished (or was requeued by a replay of this step) meanwhile is
//! left alone.

use jobs_domain::StepError;
use jobs_domain::job::JobStatus;
use jobs_domain::runner::must_requeue;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Step, step_name};
use crate::deps::StepDeps;
use crate::job_service::Write;

pub struct RequeueJobs;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    pub runner_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub runner_id: String,
    /// The jobs this call put back in the queue.
    pub requeued: Vec<String>,
}

impl Step for RequeueJobs {
    const FUNCTION: &'static str = "worker-jobs-requeue-jobs";
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "RequeueJobs");
        let runner_id = input.runner_id;
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let assigned = deps.jobs.store().runner_jobs_of(&runner_id).await?;
                let mut requeued = Vec::new();
                for candidate in assigned {
                    let mut changed = false;
                    deps.jobs
                        .modify(&candidate.id, |j| {
                            changed = must_requeue(j, &runner_id);
                            if !changed {
                                return Ok(Write::No);
                            }
                            j.status = JobStatus::Queued;
                            j.runner_id = None;
                            j.requeues += 1;
                            Ok(Write::Yes)
                        })
                        .await?;
                    if changed {
                        requeued.push(candidate.id);
                    }
                }
                tracing::info!(job_id = %job.id, runner = %runner_id, count = requeued.len(), "jobs requeued");
                Ok(Output { runner_id, requeued })
            })
            .await
    }
}
