//! Deregister (DESTROY_WORKER): after Terraform destroyed the worker's
//! resources, remove its registration and mark the deployment destroyed.
//! A registration that is already gone is fine.

use jobs_domain::StepError;
use jobs_domain::worker::WorkerStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::build::{BuildFacts, record_build};
use super::contract::{Step, step_name};
use super::lookup::worker_named;
use crate::deps::{Port, StepDeps};

pub struct DeregisterWorker;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    pub name: String,
    /// Absent (null) when Terraform was skipped (nothing had been applied).
    #[serde(default)]
    pub terraform: Option<BuildFacts>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub name: String,
    pub runner_id: String,
    /// False when the registration was already gone.
    pub registration_removed: bool,
}

impl Step for DeregisterWorker {
    const FUNCTION: &'static str = "worker-jobs-deregister-worker";
    const USES: &'static [Port] = &[Port::Workers, Port::Registry];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "Deregister");
        if let Some(facts) = &input.terraform {
            record_build(&deps.jobs, &input.job_id, "TerraformDestroy", facts).await?;
        }
        let name = input.name;
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let mut worker = worker_named(deps, &job.owner, &name).await?;
                let runner_id = worker
                    .runner_id
                    .clone()
                    .unwrap_or_else(|| worker.worker_id.clone());
                let removed = deps.registry()?.deregister(&runner_id).await?;
                if worker.status != WorkerStatus::Destroyed {
                    let expected = worker.version;
                    worker.status = WorkerStatus::Destroyed;
                    worker.outputs = None;
                    worker.last_job_id = job.id.clone();
                    worker.updated_at = deps.jobs.now();
                    deps.workers()?.put(&worker, Some(expected)).await?;
                }
                tracing::info!(job_id = %job.id, runner = %runner_id, removed, "worker deregistered");
                Ok(Output {
                    name,
                    runner_id,
                    registration_removed: removed,
                })
            })
            .await
    }
}
