//! What several steps read first: a job's validated params, and the cloud
//! identity or worker a job refers to.

use jobs_domain::StepError;
use jobs_domain::identity::CloudIdentity;
use jobs_domain::job::Job;
use jobs_domain::params::{Defaults, JobParams};
use jobs_domain::worker::Worker;

use crate::deps::StepDeps;

/// The job's params, validated again (they were stored validated; the
/// defaults are not used, since stored params carry every field).
pub fn params_of(job: &Job) -> Result<JobParams, StepError> {
    JobParams::parse(job.job_type, &job.params, &Defaults::default())
        .map_err(|e| StepError::invalid(e.to_string()))
}

/// The cloud identity a job refers to (of the job's owner).
pub async fn identity_of(deps: &StepDeps, job: &Job) -> Result<CloudIdentity, StepError> {
    let params = params_of(job)?;
    let id = params
        .cloud_identity_id()
        .ok_or_else(|| StepError::invalid("the job has no cloud_identity_id"))?;
    deps.identities()?
        .get(&job.owner, id)
        .await?
        .ok_or_else(|| StepError::not_found(format!("cloud identity {id} does not exist")))
}

/// The deployment record of a worker of `owner` (another owner's worker is
/// not found: a job acts on its own owner's workers only).
pub async fn worker_named(deps: &StepDeps, owner: &str, name: &str) -> Result<Worker, StepError> {
    deps.workers()?
        .get(name)
        .await?
        .filter(|w| w.owner == owner)
        .ok_or_else(|| StepError::not_found(format!("worker {name} has no deployment record")))
}
