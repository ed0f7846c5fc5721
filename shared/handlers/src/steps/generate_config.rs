//! GenerateConfig (DEPLOY_WORKER, UPDATE_WORKER, DESTROY_WORKER): records the worker
//! deployment and writes the worker's root Terraform configuration where
//! the Terraform build fetches it. The rendering is pure and deterministic
//! (`jobs_domain::terraform`), so a replay writes the same bytes.

use jobs_domain::params::JobParams;
use jobs_domain::terraform::render_root;
use jobs_domain::worker::{Worker, WorkerStatus, config_key, worker_id};
use jobs_domain::{ErrorKind, StepError};
use serde_json::{Value, json};

use super::{JobRef, input, params_of, run_step, step_name};
use crate::deps::StepDeps;

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: JobRef = input("GenerateConfig", payload)?;
    let step = step_name(&input.step, "GenerateConfig");
    run_step(deps, &input.job_id, &step, |job| async move {
        let params = params_of(&job)?;
        match params {
            JobParams::DeployWorker(spec) => {
                let now = deps.clock.now();
                let id = worker_id(&spec.name, &job.id);
                let mut worker = Worker {
                    name: spec.name.clone(),
                    worker_id: id.clone(),
                    spec: spec.clone(),
                    status: WorkerStatus::Deploying,
                    deploy_job_id: job.id.clone(),
                    last_job_id: job.id.clone(),
                    runner_id: None,
                    config_key: Some(config_key(&spec.name, &job.id)),
                    outputs: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                claim_name(deps, &mut worker).await?;
                let root = render_root(&spec, &id, &job.id, &deps.platform);
                let body = serde_json::to_vec_pretty(&root).map_err(|e| StepError::internal(e.to_string()))?;
                let uri = deps.artifacts.put(&config_key(&spec.name, &job.id), body).await?;
                Ok(json!({"name": spec.name, "worker_id": id, "region": spec.region, "config_uri": uri, "action": "apply"}))
            }
            JobParams::DestroyWorker { name } => {
                let Some(mut worker) = deps.workers.get(&name).await? else {
                    return Err(StepError::not_found(format!("worker {name:?} does not exist")));
                };
                let runner_id = worker.runner_id.clone().unwrap_or_else(|| worker.worker_id.clone());
                if worker.status == WorkerStatus::Destroyed {
                    // Same shape as below: the state machine selects every field.
                    return Ok(json!({
                        "name": name,
                        "worker_id": worker.worker_id,
                        "runner_id": runner_id,
                        "region": worker.spec.region,
                        "config_uri": null,
                        "action": "destroy",
                        "already_destroyed": true,
                        "skip_terraform": true,
                    }));
                }
                let expected = worker.version;
                worker.status = WorkerStatus::Destroying;
                worker.last_job_id = job.id.clone();
                worker.updated_at = deps.clock.now();
                deps.workers.put(&worker, Some(expected)).await?;
                let root = render_root(&worker.spec, &worker.worker_id, &worker.deploy_job_id, &deps.platform);
                let body = serde_json::to_vec_pretty(&root).map_err(|e| StepError::internal(e.to_string()))?;
                let uri = deps.artifacts.put(&config_key(&name, &job.id), body).await?;
                Ok(json!({
                    "name": name,
                    "worker_id": worker.worker_id,
                    "runner_id": runner_id,
                    "region": worker.spec.region,
                    "config_uri": uri,
                    "action": "destroy",
                    "already_destroyed": false,
                    // Nothing was ever applied if the deployment has no config.
                    "skip_terraform": worker.config_key.is_none(),
                }))
            }
            JobParams::UpdateWorker { name, image } => {
                let Some(mut worker) = deps.workers.get(&name).await? else {
                    return Err(StepError::not_found(format!("worker {name:?} does not exist")));
                };
                if worker.status != WorkerStatus::Deployed {
                    return Err(StepError::invalid(format!("worker {name:?} is {:?}; only a DEPLOYED worker can be updated", worker.status)));
                }
                // The new image is recorded on the worker only when the
                // deployment completes (CheckDeployment); until then the
                // stored spec is what runs.
                let mut spec = worker.spec.clone();
                spec.image = image.clone();
                let root = render_root(&spec, &worker.worker_id, &worker.deploy_job_id, &deps.platform);
                let body = serde_json::to_vec_pretty(&root).map_err(|e| StepError::internal(e.to_string()))?;
                let key = config_key(&name, &job.id);
                let uri = deps.artifacts.put(&key, body).await?;
                if worker.last_job_id != job.id {
                    let expected = worker.version;
                    worker.last_job_id = job.id.clone();
                    worker.config_key = Some(key);
                    worker.updated_at = deps.clock.now();
                    deps.workers.put(&worker, Some(expected)).await?;
                }
                Ok(json!({"name": name, "worker_id": worker.worker_id, "region": worker.spec.region, "config_uri": uri, "action": "apply", "image": image}))
            }
            other => Err(StepError::invalid(format!("GenerateConfig does not handle {other:?}"))),
        }
    })
    .await
}

/// Creates the deployment record for this job, or accepts the one a
/// previous delivery of this step created. Another live deployment of the
/// same name is a fatal conflict (the API refuses it too; this closes the
/// race between two submissions).
async fn claim_name(deps: &StepDeps, worker: &mut Worker) -> Result<(), StepError> {
    for _ in 0..3 {
        match deps.workers.get(&worker.name).await? {
            None => match deps.workers.put(worker, None).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            },
            Some(existing) if existing.deploy_job_id == worker.deploy_job_id => {
                *worker = existing;
                return Ok(());
            }
            Some(existing) if existing.status == WorkerStatus::Destroyed => {
                worker.created_at = existing.created_at;
                match deps.workers.put(worker, Some(existing.version)).await {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind == ErrorKind::Conflict => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(existing) => {
                return Err(StepError::invalid(format!(
                    "worker {:?} already exists ({:?}, deployed by job {}); destroy it first",
                    existing.name, existing.status, existing.deploy_job_id
                )));
            }
        }
    }
    Err(StepError::conflict(format!(
        "worker {:?} is being changed concurrently",
        worker.name
    )))
}
