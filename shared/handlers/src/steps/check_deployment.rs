//! CheckDeployment (UPDATE_WORKER): after Terraform registered the new
//! task definition revision and pointed the service at it, ECS rolls the
//! service: the new task starts, the old one drains (its stop timeout) and
//! stops. This step looks once; the state machine waits and asks again
//! until the deployment is complete, failed or rolled back (→ FAILED), or
//! takes too long.

use jobs_domain::params::JobParams;
use jobs_domain::worker::{Rollout, WorkerStatus, rollout};
use jobs_domain::{ErrorKind, StepError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::register_worker::{BuildFacts, record_build};
use super::{input, params_of, run_step, step_name};
use crate::deps::StepDeps;

/// Checks before giving up; with the state machine's 15 s wait, 30 minutes.
pub const MAX_CHECKS: u32 = 120;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    #[serde(default)]
    step: Option<String>,
    name: String,
    terraform: BuildFacts,
    #[serde(default)]
    checks: u32,
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("CheckDeployment", payload)?;
    let step = step_name(&input.step, "CheckDeployment");
    if input.checks == 0 {
        record_build(deps, &input.job_id, "TerraformApply", &input.terraform).await?;
    }
    let name = input.name.clone();
    let facts = input.terraform.clone();
    let checks = input.checks + 1;
    run_step(deps, &input.job_id, &step, |job| async move {
        let mut worker = deps
            .workers
            .get(&name)
            .await?
            .ok_or_else(|| StepError::not_found(format!("worker {name} has no deployment record")))?;
        let outputs = facts.outputs()?;
        let state = deps.services.state(worker.spec.region.as_str(), &outputs.cluster_arn, &outputs.service_name).await?;
        match rollout(&state, &outputs.task_definition_arn) {
            Rollout::Done => {
                let JobParams::UpdateWorker { image, .. } =
                    params_of(&job)?
                else {
                    return Err(StepError::invalid("CheckDeployment runs for UPDATE_WORKER jobs"));
                };
                if worker.spec.image != image || worker.outputs.as_ref() != Some(&outputs) {
                    let expected = worker.version;
                    worker.spec.image = image.clone();
                    worker.outputs = Some(outputs.clone());
                    worker.status = WorkerStatus::Deployed;
                    worker.updated_at = deps.clock.now();
                    deps.workers.put(&worker, Some(expected)).await?;
                }
                tracing::info!(job_id = %job.id, worker = %name, task_definition = %outputs.task_definition_arn, "deployment complete");
                Ok(json!({"done": true, "checks": checks, "task_definition_arn": outputs.task_definition_arn, "image": image}))
            }
            Rollout::InProgress(why) if checks < MAX_CHECKS => {
                tracing::info!(job_id = %job.id, worker = %name, checks, "deployment in progress: {why}");
                Ok(json!({"done": false, "checks": checks, "status": why}))
            }
            Rollout::InProgress(why) => Err(StepError::new(
                ErrorKind::Deployment,
                format!("the deployment of {} did not complete after {checks} checks ({why})", outputs.task_definition_arn),
            )),
            Rollout::Failed(why) => Err(StepError::new(ErrorKind::Deployment, why)),
        }
    })
    .await
}
