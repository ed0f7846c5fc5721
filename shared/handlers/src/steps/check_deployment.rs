//! CheckDeployment (UPDATE_WORKER): after Terraform registered the new
//! task definition revision and pointed the service at it, ECS rolls the
//! service: the new task starts, the old one drains (its stop timeout) and
//! stops. This step looks once; the state machine waits and asks again
//! until the deployment is complete, failed or rolled back (→ FAILED), or
//! takes too long. Once complete, the jobs the replaced task held go back to
//! the queue.

use jobs_domain::params::JobParams;
use jobs_domain::worker::{Rollout, WorkerStatus, rollout};
use jobs_domain::{ErrorKind, StepError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::build::{BuildFacts, record_build};
use super::contract::{Step, step_name};
use super::lookup::{params_of, worker_named};
use crate::deps::{Port, StepDeps};
use crate::leases::release_held;

/// Checks before giving up; with the state machine's 15 s wait, 30 minutes.
pub const MAX_CHECKS: u32 = 120;

pub struct CheckDeployment;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    pub name: String,
    pub terraform: BuildFacts,
    /// The image being rolled out, as GenerateConfig resolved it.
    pub image: String,
    /// Checks made so far (0 on the first, which also records the build).
    #[serde(default)]
    pub checks: u32,
}

#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Output {
    pub done: bool,
    pub checks: u32,
    /// Where the rollout stands while it is not done.
    pub status: Option<String>,
    /// The task definition the service now runs (when done).
    pub task_definition_arn: Option<String>,
    pub image: Option<String>,
}

impl Step for CheckDeployment {
    const FUNCTION: &'static str = "worker-jobs-check-deployment";
    const USES: &'static [Port] = &[Port::Workers, Port::Services];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "CheckDeployment");
        if input.checks == 0 {
            record_build(
                &deps.jobs,
                &input.job_id,
                "TerraformApply",
                &input.terraform,
            )
            .await?;
        }
        let (name, facts, image) = (input.name, input.terraform, input.image);
        let checks = input.checks + 1;
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let mut worker = worker_named(deps, &job.owner, &name).await?;
                if !matches!(params_of(&job)?, JobParams::UpdateWorker { .. }) {
                    return Err(StepError::invalid("CheckDeployment runs for UPDATE_WORKER jobs"));
                }
                let outputs = facts.outputs()?;
                let state = deps
                    .services()?
                    .state(worker.spec.region.as_str(), &outputs.cluster_arn, &outputs.service_name)
                    .await?;
                match rollout(&state, &outputs.task_definition_arn) {
                    Rollout::Done => {
                        if worker.spec.image != image || worker.outputs.as_ref() != Some(&outputs) {
                            let expected = worker.version;
                            worker.spec.image = image.clone();
                            worker.outputs = Some(outputs.clone());
                            worker.status = WorkerStatus::Deployed;
                            worker.updated_at = deps.jobs.now();
                            deps.workers()?.put(&worker, Some(expected)).await?;
                        }
                        // The old task is gone: what it held and did not
                        // finish goes back to the queue (jobs claimed since
                        // the rollout began belong to the new task).
                        if let Some(runner_id) = &worker.runner_id {
                            let rollout_began = facts
                                .started_ms
                                .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64));
                            release_held(&deps.jobs, runner_id, "was replaced by a new deployment", rollout_began.or(Some(job.created_at))).await?;
                        }
                        tracing::info!(job_id = %job.id, worker = %name, task_definition = %outputs.task_definition_arn, "deployment complete");
                        Ok(Output {
                            done: true,
                            checks,
                            status: None,
                            task_definition_arn: Some(outputs.task_definition_arn),
                            image: Some(image),
                        })
                    }
                    Rollout::InProgress(why) if checks < MAX_CHECKS => {
                        tracing::info!(job_id = %job.id, worker = %name, checks, "deployment in progress: {why}");
                        Ok(Output {
                            done: false,
                            checks,
                            status: Some(why),
                            task_definition_arn: None,
                            image: None,
                        })
                    }
                    Rollout::InProgress(why) => Err(StepError::new(
                        ErrorKind::Deployment,
                        format!(
                            "the deployment of {} did not complete after {checks} checks ({why})",
                            outputs.task_definition_arn
                        ),
                    )),
                    Rollout::Failed(why) => Err(StepError::new(ErrorKind::Deployment, why)),
                }
            })
            .await
    }
}
