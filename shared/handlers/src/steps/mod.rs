//! The state machine steps: one handler per Lambda function. Each takes
//! the small JSON payload its Task state passes (ids and facts, never
//! credentials or blobs), records itself on the job (so that a job's
//! `steps` read like the Step Functions console), and answers small facts.
//!
//! Every step is idempotent: Step Functions and Lambda may deliver the same
//! event twice, so writes are conditional on versions, names are
//! deterministic and "already done" counts as success.

pub mod check_deployment;
pub mod deregister_worker;
pub mod discover_resources;
pub mod generate_config;
pub mod mark_running;
pub mod register_worker;
pub mod report;
pub mod requeue_jobs;
pub mod verify_identity;

use futures::future::BoxFuture;
use jobs_domain::identity::CloudIdentity;
use jobs_domain::job::{Job, JobStatus, is_job_id};
use jobs_domain::params::{Defaults, JobParams};
use jobs_domain::{ErrorKind, StepError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::deps::StepDeps;

/// A step handler as the Lambda runtime and the local engine call it.
pub type StepFn = fn(StepDeps, Value) -> BoxFuture<'static, Result<Value, StepError>>;

/// Every step function, by the Lambda function name the state machines
/// use in `FunctionName`. `functions/<name without prefix>/` holds each
/// one's `main.rs`.
pub const FUNCTIONS: &[(&str, StepFn)] = &[
    ("worker-jobs-mark-running", |d, v| {
        Box::pin(async move { mark_running::handle(&d, v).await })
    }),
    ("worker-jobs-verify-identity", |d, v| {
        Box::pin(async move { verify_identity::handle(&d, v).await })
    }),
    ("worker-jobs-discover-resources", |d, v| {
        Box::pin(async move { discover_resources::handle(&d, v).await })
    }),
    ("worker-jobs-generate-config", |d, v| {
        Box::pin(async move { generate_config::handle(&d, v).await })
    }),
    ("worker-jobs-register-worker", |d, v| {
        Box::pin(async move { register_worker::handle(&d, v).await })
    }),
    ("worker-jobs-check-deployment", |d, v| {
        Box::pin(async move { check_deployment::handle(&d, v).await })
    }),
    ("worker-jobs-deregister-worker", |d, v| {
        Box::pin(async move { deregister_worker::handle(&d, v).await })
    }),
    ("worker-jobs-requeue-jobs", |d, v| {
        Box::pin(async move { requeue_jobs::handle(&d, v).await })
    }),
    ("worker-jobs-report-success", |d, v| {
        Box::pin(async move { report::success(&d, v).await })
    }),
    ("worker-jobs-report-failure", |d, v| {
        Box::pin(async move { report::failure(&d, v).await })
    }),
];

/// The payload of a step that needs only its job.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub job_id: String,
    /// The state's name (`$$.State.Name`), recorded on the job.
    #[serde(default)]
    pub step: Option<String>,
}

/// The name a step records itself under: the state's name when the state
/// machine passes it, else the step's usual name.
pub fn step_name(passed: &Option<String>, usual: &str) -> String {
    passed.clone().unwrap_or_else(|| usual.to_string())
}

/// The job's params, validated again (they were stored validated).
pub fn params_of(job: &Job) -> Result<JobParams, StepError> {
    JobParams::parse(job.job_type, &job.params, &Defaults::default())
        .map_err(|e| StepError::invalid(e.to_string()))
}

/// The cloud identity a job refers to.
pub async fn identity_of(deps: &StepDeps, job: &Job) -> Result<CloudIdentity, StepError> {
    let params = params_of(job)?;
    let id = params
        .cloud_identity_id()
        .ok_or_else(|| StepError::invalid("the job has no cloud_identity_id"))?;
    deps.identities
        .get(id)
        .await?
        .ok_or_else(|| StepError::not_found(format!("cloud identity {id} does not exist")))
}

/// Decodes a step's payload; a malformed one is a fatal input error.
pub fn input<T: DeserializeOwned>(step: &str, payload: Value) -> Result<T, StepError> {
    serde_json::from_value(payload)
        .map_err(|e| StepError::invalid(format!("{step}: unexpected payload: {e}")))
}

/// What a change function decided.
pub enum Write {
    /// Store the modified job.
    Yes,
    /// Nothing to store (already done).
    No,
}

/// Reads a job, applies `change` and writes it conditionally on the version
/// it read, retrying on concurrent writes. Answers the job as stored.
pub async fn modify_job<F>(deps: &StepDeps, job_id: &str, mut change: F) -> Result<Job, StepError>
where
    F: FnMut(&mut Job) -> Result<Write, StepError>,
{
    if !is_job_id(job_id) {
        return Err(StepError::invalid(format!("{job_id:?} is not a job id")));
    }
    for _ in 0..5 {
        let Some(mut job) = deps.jobs.get(job_id).await? else {
            return Err(StepError::not_found(format!("job {job_id} does not exist")));
        };
        let read_version = job.version;
        match change(&mut job)? {
            Write::No => return Ok(job),
            Write::Yes => {
                job.updated_at = deps.clock.now();
                match deps.jobs.update(&job, read_version).await {
                    Ok(()) => {
                        job.version = read_version + 1;
                        return Ok(job);
                    }
                    Err(e) if e.kind == ErrorKind::Conflict => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(StepError::conflict(format!(
        "job {job_id} kept changing concurrently"
    )))
}

/// Records that `step` started on a running job and answers the job.
pub async fn begin(deps: &StepDeps, job_id: &str, step: &str) -> Result<Job, StepError> {
    let now = deps.clock.now();
    modify_job(deps, job_id, |job| {
        if job.status != JobStatus::Running {
            return Err(StepError::internal(format!(
                "step {step} of job {} ran while the job is {} (expected RUNNING)",
                job.id, job.status
            )));
        }
        job.start_step(step, now);
        Ok(Write::Yes)
    })
    .await
}

/// Records that `step` ended well.
pub async fn finish(deps: &StepDeps, job_id: &str, step: &str) -> Result<Job, StepError> {
    let now = deps.clock.now();
    modify_job(deps, job_id, |job| {
        job.end_step(step, true, now);
        Ok(Write::Yes)
    })
    .await
}

/// Runs `body` as step `step` of a job: recorded before and after.
pub async fn run_step<T, Fut>(
    deps: &StepDeps,
    job_id: &str,
    step: &str,
    body: impl FnOnce(Job) -> Fut,
) -> Result<T, StepError>
where
    Fut: std::future::Future<Output = Result<T, StepError>>,
{
    let job = begin(deps, job_id, step).await?;
    let out = body(job).await?;
    finish(deps, job_id, step).await?;
    Ok(out)
}
