//! Deregister (DESTROY_WORKER): after Terraform destroyed the worker's
//! resources, remove its registration and mark the deployment destroyed.
//! A registration that is already gone is fine.

use jobs_domain::StepError;
use jobs_domain::worker::WorkerStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::register_worker::{BuildFacts, record_build};
use super::{input, run_step, step_name};
use crate::deps::StepDeps;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    #[serde(default)]
    step: Option<String>,
    name: String,
    /// Absent when Terraform was skipped (nothing had been applied).
    #[serde(default)]
    terraform: Option<BuildFacts>,
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("Deregister", payload)?;
    let step = step_name(&input.step, "Deregister");
    if let Some(facts) = &input.terraform {
        record_build(deps, &input.job_id, "TerraformDestroy", facts).await?;
    }
    let name = input.name.clone();
    run_step(deps, &input.job_id, &step, |job| async move {
        let mut worker = deps.workers.get(&name).await?.ok_or_else(|| {
            StepError::not_found(format!("worker {name} has no deployment record"))
        })?;
        let runner_id = worker
            .runner_id
            .clone()
            .unwrap_or_else(|| worker.worker_id.clone());
        let removed = deps.registry.deregister(&runner_id).await?;
        if worker.status != WorkerStatus::Destroyed {
            let expected = worker.version;
            worker.status = WorkerStatus::Destroyed;
            worker.outputs = None;
            worker.last_job_id = job.id.clone();
            worker.updated_at = deps.clock.now();
            deps.workers.put(&worker, Some(expected)).await?;
        }
        tracing::info!(job_id = %job.id, runner = %runner_id, removed, "worker deregistered");
        Ok(json!({"name": name, "runner_id": runner_id, "registration_removed": removed}))
    })
    .await
}
