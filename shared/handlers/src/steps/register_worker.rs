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
use jobs_domain::worker::{WorkerOutputs, WorkerStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Write, input, modify_job, run_step, step_name};
use crate::deps::StepDeps;

/// What the Terraform task passed on (its ResultSelector).
#[derive(Deserialize, Default, Clone)]
pub struct BuildFacts {
    #[serde(default)]
    pub build_id: Option<String>,
    #[serde(default)]
    pub started_ms: Option<f64>,
    #[serde(default)]
    pub ended_ms: Option<f64>,
    #[serde(default)]
    pub exported: Vec<Exported>,
}

#[derive(Deserialize, Clone)]
pub struct Exported {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value")]
    pub value: String,
}

impl BuildFacts {
    fn get(&self, name: &str) -> Option<&str> {
        self.exported
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn outputs(&self) -> Result<WorkerOutputs, StepError> {
        let need = |n: &str| {
            self.get(n).map(str::to_string).ok_or_else(|| {
                StepError::internal(format!("the Terraform build did not export {n}"))
            })
        };
        Ok(WorkerOutputs {
            cluster_arn: need("TF_OUT_CLUSTER_ARN")?,
            service_name: need("TF_OUT_SERVICE_NAME")?,
            secret_arn: need("TF_OUT_SECRET_ARN")?,
            task_definition_arn: need("TF_OUT_TASK_DEFINITION_ARN")?,
            log_group_name: need("TF_OUT_LOG_GROUP_NAME")?,
        })
    }
}

/// Records the Terraform build as a step of the job, with its own times.
pub async fn record_build(
    deps: &StepDeps,
    job_id: &str,
    step: &str,
    facts: &BuildFacts,
) -> Result<(), StepError> {
    let to_time =
        |ms: Option<f64>| ms.and_then(|m| chrono::DateTime::from_timestamp_millis(m as i64));
    let now = deps.clock.now();
    let (started, ended) = (
        to_time(facts.started_ms).unwrap_or(now),
        to_time(facts.ended_ms).unwrap_or(now),
    );
    modify_job(deps, job_id, |job| {
        job.record_step(step, started, ended, true);
        Ok(Write::Yes)
    })
    .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    #[serde(default)]
    step: Option<String>,
    name: String,
    #[serde(default)]
    terraform: BuildFacts,
    #[serde(default = "default_build_step")]
    build_step: String,
}

fn default_build_step() -> String {
    "TerraformApply".into()
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("RegisterWorker", payload)?;
    let step = step_name(&input.step, "RegisterWorker");
    record_build(deps, &input.job_id, &input.build_step, &input.terraform).await?;
    let name = input.name.clone();
    let facts = input.terraform.clone();
    run_step(deps, &input.job_id, &step, |job| async move {
        let mut worker = deps
            .workers
            .get(&name)
            .await?
            .ok_or_else(|| StepError::not_found(format!("worker {name} has no deployment record")))?;
        if worker.deploy_job_id != job.id {
            return Err(StepError::invalid(format!("worker {name} belongs to job {}, not {}", worker.deploy_job_id, job.id)));
        }
        let outputs = facts.outputs()?;

        let already = match deps.secrets.get(&outputs.secret_arn).await? {
            Some((runner_id, _token)) => deps.registry.exists(&runner_id).await?.then_some(runner_id),
            None => None,
        };
        let runner_id = match already {
            Some(id) => {
                tracing::info!(job_id = %job.id, runner = %id, "worker already registered; its secret is in place");
                id
            }
            None => {
                let registration = deps
                    .registry
                    .register(&RegisterRequest { id: Some(worker.worker_id.clone()), name: name.clone(), pool: worker.spec.pool.clone() })
                    .await?;
                deps.secrets.put(&outputs.secret_arn, &registration.id, &registration.token).await?;
                tracing::info!(job_id = %job.id, runner = %registration.id, new = registration.created, "worker registered; token stored in its secret");
                registration.id
            }
        };
        deps.services
            .set_desired_count(worker.spec.region.as_str(), &outputs.cluster_arn, &outputs.service_name, 1)
            .await?;

        let expected = worker.version;
        worker.status = WorkerStatus::Deployed;
        worker.runner_id = Some(runner_id.clone());
        worker.outputs = Some(outputs.clone());
        worker.updated_at = deps.clock.now();
        deps.workers.put(&worker, Some(expected)).await?;
        Ok(json!({
            "name": name,
            "worker_id": worker.worker_id,
            "runner_id": runner_id,
            "region": worker.spec.region,
            "cluster_arn": outputs.cluster_arn,
            "service_name": outputs.service_name,
            "task_definition_arn": outputs.task_definition_arn,
        }))
    })
    .await
}
