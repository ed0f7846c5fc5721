//! AwaitTurn (DEPLOY_WORKER, UPDATE_WORKER, DESTROY_WORKER): one lifecycle
//! job per worker at a time, in submission order. The job takes the worker
//! when it is free and the job is first in its line; otherwise the state
//! machine waits and asks again. The worker is given up when the job ends
//! (the job service does it on the job's last write).

use jobs_domain::StepError;
use jobs_domain::runs::Turn;
use schemars::JsonSchema;
use serde::Serialize;

use super::contract::{JobRef, Step, step_name};
use crate::deps::{Port, StepDeps};
use crate::job_service::worker_of;

pub struct AwaitTurn;

#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Output {
    /// True when the job holds the worker and goes on.
    pub turn: bool,
    /// Jobs ahead of this one (0 when it is its turn).
    pub ahead: usize,
}

impl Step for AwaitTurn {
    const FUNCTION: &'static str = "worker-jobs-await-turn";
    const USES: &'static [Port] = &[];
    type Input = JobRef;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: JobRef) -> Result<Output, StepError> {
        let step = step_name(&input.step, "AwaitTurn");
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let name = worker_of(&job).ok_or_else(|| {
                    StepError::invalid(format!("{} jobs do not queue on a worker", job.job_type))
                })?;
                match deps.jobs.take_turn(name, &job.id).await? {
                    Turn::Go => Ok(Output { turn: true, ahead: 0 }),
                    Turn::Wait { ahead } => {
                        tracing::info!(job_id = %job.id, worker = name, ahead, "waiting for the worker");
                        Ok(Output { turn: false, ahead })
                    }
                }
            })
            .await
    }
}
