//! AbandonDeployment (DEPLOY_WORKER, on any failure after the job started):
//! a failed deploy must leave nothing live. The worker's registration is
//! removed (so no token is valid without a filled secret, and no half-set-up
//! runner can claim work), its ECS service is scaled to zero where Terraform
//! created one, and the deployment record ends FAILED with the cause. The
//! Terraform stack itself stays until a DESTROY_WORKER removes it (a FAILED
//! worker is destroyed like any other).
//!
//! It receives the whole state (`$`), as ReportFailure does, because what
//! exists depends on where the deploy failed: the Terraform outputs only
//! once TerraformApply succeeded. Idempotent: an abandoned deployment is
//! abandoned again without harm, and a deployment this job does not own (a
//! name conflict) is left alone.

use jobs_domain::StepError;
use jobs_domain::params::JobParams;
use jobs_domain::worker::WorkerStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::build::BuildFacts;
use super::contract::{Step, step_name};
use super::lookup::params_of;
use super::report::{Caught, build_result, describe};
use crate::deps::{Port, StepDeps};

pub struct AbandonDeployment;

/// The state when a deploy failed; fields other than these are ignored.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Input {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    /// What the Terraform apply passed on, when it succeeded.
    #[serde(default)]
    pub terraform: Option<BuildFacts>,
    /// What the Catch caught.
    #[serde(default)]
    pub error: Caught,
    /// The step that failed when it is not a Lambda function.
    #[serde(default)]
    pub failed_step: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// False when this job owns no deployment (it failed before claiming
    /// the name, or another deployment holds it).
    pub abandoned: bool,
    pub registration_removed: bool,
    pub service_stopped: bool,
}

impl Step for AbandonDeployment {
    const FUNCTION: &'static str = "worker-jobs-abandon-deployment";
    const USES: &'static [Port] = &[Port::Workers, Port::Registry, Port::Services];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "AbandonDeployment");
        let (caught, failed_step) = (input.error, input.failed_step);
        let terraform = input.terraform;
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let build = build_result(deps, &job, failed_step.as_deref()).await;
                let cause = describe(&caught.error, &caught.cause, failed_step.as_deref(), build.as_ref());
                let JobParams::DeployWorker(spec) = params_of(&job)? else {
                    return Err(StepError::invalid("AbandonDeployment runs for DEPLOY_WORKER jobs"));
                };
                let nothing = Output {
                    abandoned: false,
                    registration_removed: false,
                    service_stopped: false,
                };
                let Some(mut worker) = deps.workers()?.get(&spec.name).await? else {
                    return Ok(nothing);
                };
                if worker.deploy_job_id != job.id || worker.status == WorkerStatus::Destroyed {
                    return Ok(nothing);
                }
                let runner_id = worker.runner_id.clone().unwrap_or_else(|| worker.worker_id.clone());
                let registration_removed = deps.registry()?.deregister(&runner_id).await?;
                let outputs = terraform
                    .as_ref()
                    .and_then(|facts| facts.outputs().ok())
                    .or_else(|| worker.outputs.clone());
                let service_stopped = match &outputs {
                    Some(o) => {
                        deps.services()?
                            .set_desired_count(worker.spec.region.as_str(), &o.cluster_arn, &o.service_name, 0)
                            .await?;
                        true
                    }
                    None => false,
                };
                if worker.status != WorkerStatus::Failed {
                    let expected = worker.version;
                    worker.status = WorkerStatus::Failed;
                    worker.runner_id = None;
                    worker.outputs = outputs;
                    worker.failure = Some(format!("{}: {}", cause.code, cause.message));
                    worker.updated_at = deps.jobs.now();
                    deps.workers()?.put(&worker, Some(expected)).await?;
                }
                tracing::warn!(job_id = %job.id, worker = %spec.name, registration_removed, service_stopped, "deployment abandoned");
                Ok(Output {
                    abandoned: true,
                    registration_removed,
                    service_stopped,
                })
            })
            .await
    }
}
