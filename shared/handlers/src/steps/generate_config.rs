//! GenerateConfig (DEPLOY_WORKER, UPDATE_WORKER, DESTROY_WORKER): records
//! the worker deployment and writes the worker's root Terraform
//! configuration where the Terraform build fetches it. The rendering is
//! pure and deterministic (`jobs_domain::terraform`), so a replay writes the
//! same bytes.
//!
//! * DEPLOY claims the worker's name for this job (a destroyed worker's name
//!   may be reused; a live one may not) and pins its image's digest;
//! * UPDATE renders the deployed spec with the new image, pinned to its
//!   digest (the platform's release image when the job names none) and a
//!   deployment trigger naming the job, so the service always rolls (the
//!   worker record takes the image only once the rollout completed, in
//!   CheckDeployment);
//! * DESTROY marks the worker DESTROYING and renders what was deployed, or
//!   answers that nothing is left to destroy.

use jobs_domain::job::Job;
use jobs_domain::params::JobParams;
use jobs_domain::terraform::render_root;
use jobs_domain::worker::{
    Worker, WorkerSpec, WorkerStatus, config_key, terraform_progress_key, terraform_result_key,
    worker_id,
};
use jobs_domain::{ErrorKind, StepError};
use schemars::JsonSchema;
use serde::Serialize;

use super::contract::{JobRef, Step, step_name};
use super::lookup::{params_of, worker_named};
use crate::deps::{Port, StepDeps};

pub struct GenerateConfig;

/// Every field is always present (null when it does not apply), since a
/// `ResultSelector` path to a missing field fails the execution.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Output {
    pub name: String,
    pub worker_id: String,
    /// The registry's id of the worker (DESTROY: the registration to remove).
    pub runner_id: Option<String>,
    pub region: String,
    /// Where the rendered configuration is (none when nothing is to apply).
    pub config_uri: Option<String>,
    /// Where this job's Terraform build writes its result (exit status and
    /// Terraform's errors), which ReportFailure reads.
    pub result_uri: String,
    /// Where the build reports its progress (id, log, plan) while it runs,
    /// which the job API shows.
    pub progress_uri: String,
    /// `apply` or `destroy`.
    pub action: String,
    /// DESTROY: the worker was destroyed by an earlier job.
    pub already_destroyed: bool,
    /// DESTROY: nothing was ever applied, so there is nothing for Terraform.
    pub skip_terraform: bool,
    /// UPDATE: the image being rolled out (pinned by digest where the
    /// registry can say it).
    pub image: Option<String>,
}

impl Step for GenerateConfig {
    const FUNCTION: &'static str = "worker-jobs-generate-config";
    const USES: &'static [Port] = &[
        Port::Workers,
        Port::Artifacts,
        Port::Releases,
        Port::Platform,
    ];
    type Input = JobRef;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: JobRef) -> Result<Output, StepError> {
        let step = step_name(&input.step, "GenerateConfig");
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let mut out = match params_of(&job)? {
                    JobParams::DeployWorker(spec) => deploy(deps, &job, spec).await,
                    JobParams::DestroyWorker { name } => destroy(deps, &job, &name).await,
                    JobParams::UpdateWorker { name, image } => {
                        update(deps, &job, &name, image.as_deref()).await
                    }
                    other => Err(StepError::invalid(format!(
                        "GenerateConfig does not handle {} jobs",
                        other.job_type()
                    ))),
                }?;
                out.result_uri = deps
                    .artifacts()?
                    .uri(&terraform_result_key(&out.name, &job.id));
                out.progress_uri = deps
                    .artifacts()?
                    .uri(&terraform_progress_key(&out.name, &job.id));
                Ok(out)
            })
            .await
    }
}

/// Renders `spec` for the worker and stores it under this job's key.
async fn write_config(
    deps: &StepDeps,
    spec: &WorkerSpec,
    worker: &Worker,
    job_id: &str,
) -> Result<String, StepError> {
    // The job is also the deployment trigger: an UPDATE always rolls.
    let root = render_root(
        spec,
        &worker.worker_id,
        &worker.deploy_job_id,
        job_id,
        deps.platform()?,
    );
    let body = serde_json::to_vec_pretty(&root).map_err(|e| StepError::internal(e.to_string()))?;
    deps.artifacts()?
        .put(&config_key(&spec.name, job_id), body)
        .await
}

async fn deploy(deps: &StepDeps, job: &Job, mut spec: WorkerSpec) -> Result<Output, StepError> {
    let job_id = job.id.as_str();
    // The task definition pins what runs (the digest of a private ECR tag).
    spec.image = deps.releases()?.resolve(&spec.image).await?;
    let now = deps.jobs.now();
    let mut worker = Worker {
        name: spec.name.clone(),
        owner: job.owner.clone(),
        worker_id: worker_id(&spec.name, job_id),
        spec: spec.clone(),
        status: WorkerStatus::Deploying,
        deploy_job_id: job_id.to_string(),
        last_job_id: job_id.to_string(),
        runner_id: None,
        config_key: Some(config_key(&spec.name, job_id)),
        outputs: None,
        failure: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    claim_name(deps, &mut worker).await?;
    // A redelivery renders what the first delivery recorded, even if the
    // release tag moved in between.
    let spec = worker.spec.clone();
    let uri = write_config(deps, &spec, &worker, job_id).await?;
    Ok(Output {
        name: spec.name,
        worker_id: worker.worker_id,
        runner_id: None,
        region: spec.region.to_string(),
        config_uri: Some(uri),
        result_uri: String::new(),
        progress_uri: String::new(),
        action: "apply".into(),
        already_destroyed: false,
        skip_terraform: false,
        image: None,
    })
}

async fn destroy(deps: &StepDeps, job: &Job, name: &str) -> Result<Output, StepError> {
    let job_id = job.id.as_str();
    let mut worker = worker_named(deps, &job.owner, name).await?;
    let runner_id = worker
        .runner_id
        .clone()
        .unwrap_or_else(|| worker.worker_id.clone());
    let mut out = Output {
        name: name.to_string(),
        worker_id: worker.worker_id.clone(),
        runner_id: Some(runner_id),
        region: worker.spec.region.to_string(),
        config_uri: None,
        result_uri: String::new(),
        progress_uri: String::new(),
        action: "destroy".into(),
        already_destroyed: false,
        skip_terraform: false,
        image: None,
    };
    if worker.status == WorkerStatus::Destroyed {
        // Destroyed by this very job (a redelivery, or a retry after
        // Deregister): the steps after Terraform run again, so that its
        // jobs are requeued; destroyed by an earlier job: nothing to do.
        out.already_destroyed = worker.last_job_id != job_id;
        out.skip_terraform = true;
        return Ok(out);
    }
    if worker.status != WorkerStatus::Destroying || worker.last_job_id != job_id {
        let expected = worker.version;
        worker.status = WorkerStatus::Destroying;
        worker.last_job_id = job_id.to_string();
        worker.updated_at = deps.jobs.now();
        deps.workers()?.put(&worker, Some(expected)).await?;
    }
    out.config_uri = Some(write_config(deps, &worker.spec, &worker, job_id).await?);
    // Nothing was ever applied if the deployment has no configuration.
    out.skip_terraform = worker.config_key.is_none();
    Ok(out)
}

async fn update(
    deps: &StepDeps,
    job: &Job,
    name: &str,
    image: Option<&str>,
) -> Result<Output, StepError> {
    let job_id = job.id.as_str();
    let mut worker = worker_named(deps, &job.owner, name).await?;
    if worker.status != WorkerStatus::Deployed {
        return Err(StepError::invalid(format!(
            "worker {name:?} is {:?}; only a DEPLOYED worker can be updated",
            worker.status
        )));
    }
    let image = deps
        .releases()?
        .resolve(image.unwrap_or(deps.release_image()?))
        .await?;
    let mut spec = worker.spec.clone();
    spec.image = image.clone();
    let uri = write_config(deps, &spec, &worker, job_id).await?;
    if worker.last_job_id != job_id {
        let expected = worker.version;
        worker.last_job_id = job_id.to_string();
        worker.config_key = Some(config_key(name, job_id));
        worker.updated_at = deps.jobs.now();
        deps.workers()?.put(&worker, Some(expected)).await?;
    }
    Ok(Output {
        name: name.to_string(),
        worker_id: worker.worker_id,
        runner_id: worker.runner_id,
        region: worker.spec.region.to_string(),
        config_uri: Some(uri),
        result_uri: String::new(),
        progress_uri: String::new(),
        action: "apply".into(),
        already_destroyed: false,
        skip_terraform: false,
        image: Some(image),
    })
}

/// Creates the deployment record for this job, or accepts the one a
/// previous delivery of this step created. Another live deployment of the
/// same name is a fatal conflict (the API refuses it too; this closes the
/// race between two submissions). A destroyed worker's name is reused.
async fn claim_name(deps: &StepDeps, worker: &mut Worker) -> Result<(), StepError> {
    for _ in 0..3 {
        let write = match deps.workers()?.get(&worker.name).await? {
            None => deps.workers()?.put(worker, None).await,
            Some(existing) if existing.deploy_job_id == worker.deploy_job_id => {
                *worker = existing;
                return Ok(());
            }
            Some(existing) if existing.status == WorkerStatus::Destroyed => {
                worker.created_at = existing.created_at;
                deps.workers()?.put(worker, Some(existing.version)).await
            }
            Some(existing) if existing.owner != worker.owner => {
                return Err(StepError::invalid(format!(
                    "the worker name {:?} is taken; choose another name",
                    existing.name
                )));
            }
            Some(existing) => {
                return Err(StepError::invalid(format!(
                    "worker {:?} already exists ({:?}, deployed by job {}); destroy it first",
                    existing.name, existing.status, existing.deploy_job_id
                )));
            }
        };
        match write {
            Ok(()) => return Ok(()),
            Err(e) if e.kind == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StepError::conflict(format!(
        "worker {:?} is being changed concurrently",
        worker.name
    )))
}
