//! RegisterWorker (DEPLOY_WORKER): after Terraform created the worker's
//! resources, register it with the runner registry, put its id and token
//! into the worker's Secrets Manager secret (never into the state payload,
//! a task definition or Terraform state), then scale its ECS service to one
//! task so that it boots with them.
//!
//! A replay finds the secret already filled for a registered runner and
//! does not register again; a retry after a partial run registers the same
//! runner id again (the registry rotates its token) and overwrites the
//! secret, so there is always exactly one registration and one valid token.

use jobs_domain::StepError;
use jobs_domain::runner::RegisterRequest;
use jobs_domain::worker::WorkerStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::build::{BuildFacts, record_build};
use super::contract::{Step, step_name};
use super::lookup::worker_named;
use crate::deps::{Port, StepDeps};

pub struct RegisterWorker;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    pub name: String,
    /// What the Terraform apply passed on.
    #[serde(default)]
    pub terraform: BuildFacts,
    /// The state name the Terraform build is recorded under.
    #[serde(default = "default_build_step")]
    pub build_step: String,
}

fn default_build_step() -> String {
    "TerraformApply".into()
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub name: String,
    pub worker_id: String,
    pub runner_id: String,
    pub region: String,
    pub cluster_arn: String,
    pub service_name: String,
    pub task_definition_arn: String,
}

impl Step for RegisterWorker {
    const FUNCTION: &'static str = "worker-jobs-register-worker";
    const USES: &'static [Port] = &[Port::Workers, Port::Secrets, Port::Registry, Port::Services];
    type Input = Input;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: Input) -> Result<Output, StepError> {
        let step = step_name(&input.step, "RegisterWorker");
        record_build(
            &deps.jobs,
            &input.job_id,
            &input.build_step,
            &input.terraform,
        )
        .await?;
        let (name, facts) = (input.name, input.terraform);
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let mut worker = worker_named(deps, &job.owner, &name).await?;
                if worker.deploy_job_id != job.id {
                    return Err(StepError::invalid(format!(
                        "worker {name} belongs to job {}, not {}",
                        worker.deploy_job_id, job.id
                    )));
                }
                let outputs = facts.outputs()?;
                let region = worker.spec.region.to_string();

                let already = match deps.secrets()?.get(&region, &outputs.secret_arn).await? {
                    Some((runner_id, _token)) => {
                        deps.registry()?.exists(&runner_id).await?.then_some(runner_id)
                    }
                    None => None,
                };
                let runner_id = match already {
                    Some(id) => {
                        tracing::info!(job_id = %job.id, runner = %id, "worker already registered; its secret is in place");
                        id
                    }
                    None => {
                        let registration = deps
                            .registry()?
                            .register(&RegisterRequest {
                                id: Some(worker.worker_id.clone()),
                                name: name.clone(),
                                owner: worker.owner.clone(),
                                pool: worker.spec.pool.clone(),
                            })
                            .await?;
                        deps.secrets()?
                            .put(&region, &outputs.secret_arn, &registration.id, &registration.token)
                            .await?;
                        tracing::info!(job_id = %job.id, runner = %registration.id, new = registration.created, "worker registered; token stored in its secret");
                        registration.id
                    }
                };
                deps.services()?
                    .set_desired_count(&region, &outputs.cluster_arn, &outputs.service_name, 1)
                    .await?;

                let expected = worker.version;
                worker.status = WorkerStatus::Deployed;
                worker.runner_id = Some(runner_id.clone());
                worker.outputs = Some(outputs.clone());
                worker.updated_at = deps.jobs.now();
                deps.workers()?.put(&worker, Some(expected)).await?;
                Ok(Output {
                    name,
                    worker_id: worker.worker_id,
                    runner_id,
                    region,
                    cluster_arn: outputs.cluster_arn,
                    service_name: outputs.service_name,
                    task_definition_arn: outputs.task_definition_arn,
                })
            })
            .await
    }
}
