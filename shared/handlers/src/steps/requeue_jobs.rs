//! RequeueJobs (DESTROY_WORKER): every unfinished job assigned to the
//! destroyed runner goes back to QUEUED for the other runners, each exactly
//! once: the write is conditional on the job's version and re-checks that
//! it is still running on that runner (`leases::release_held`), so a job
//! that finished (or was requeued by a replay of this step) meanwhile is
//! left alone; a job requeued too often ends FAILED.

use jobs_domain::StepError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::contract::{Step, step_name};
use crate::deps::{Port, StepDeps};
use crate::leases::release_held;

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
    /// The jobs this call put back in the queue (or failed at the limit).
    pub requeued: Vec<String>,
}

impl Step for RequeueJobs {
    const FUNCTION: &'static str = "worker-jobs-requeue-jobs";
    const USES: &'static [Port] = &[];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "RequeueJobs");
        let runner_id = input.runner_id;
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let requeued = release_held(&deps.jobs, &runner_id, "was destroyed", None).await?;
                tracing::info!(job_id = %job.id, runner = %runner_id, count = requeued.len(), "jobs requeued");
                Ok(Output { runner_id, requeued })
            })
            .await
    }
}
