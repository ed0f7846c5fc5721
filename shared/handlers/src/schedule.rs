//! Event-driven handlers:
//!
//! * [`refresh_all`] (function `refresh-scheduler`, on an EventBridge
//!   schedule): a FETCH_RESOURCES job for every cloud identity, through the
//!   same path as the API's refresh, idempotent per identity and schedule
//!   tick;
//! * [`reconcile`] (function `execution-reconciler`, on EventBridge's "Step
//!   Functions Execution Status Change"): an execution that ended FAILED,
//!   TIMED_OUT or ABORTED without its job being reported (an operator's
//!   StopExecution, an execution timeout, a `States.Runtime` error that no
//!   Catch can handle) marks its job FAILED, so that no job stays RUNNING;
//! * [`start_unstarted`] (function `job-sweeper`, on an EventBridge
//!   schedule): a job accepted but never started (its StartExecution was
//!   lost) is started, so that no job stays QUEUED.

use jobs_domain::job::{JobError, JobStatus, JobType, is_job_id};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{IdempotencyKey, JobFilter};
use jobs_domain::{ErrorKind, StepError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deps::JobApiDeps;
use crate::job_service::{Submission, Write};

pub async fn refresh_all(deps: &JobApiDeps, event: Value) -> Result<Value, StepError> {
    let tick = event
        .get("time")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| jobs_domain::time::format(&deps.jobs.now()));
    let ids = deps.identities.list_ids().await?;
    let mut started = Vec::new();
    let mut failed = Vec::new();
    for id in &ids {
        let params = JobParams::FetchResources {
            cloud_identity_id: id.clone(),
        };
        let key = IdempotencyKey {
            key: format!("refresh-schedule:{id}:{tick}"),
            request_hash: hex::encode(Sha256::digest(format!("refresh:{id}").as_bytes())),
        };
        match deps
            .jobs
            .create(deps.starter.as_ref(), &params, Some(key))
            .await
        {
            Ok(Submission::New(job) | Submission::Replayed(job)) => started.push(job.id),
            Ok(Submission::NotStarted { cause: e, .. }) | Err(e) => {
                tracing::error!(identity = %id, error = %e.message, "scheduled refresh could not start");
                failed.push(id.clone());
            }
            Ok(Submission::KeyReused) => {
                tracing::error!(identity = %id, "scheduled refresh key bound to another request");
                failed.push(id.clone());
            }
        }
    }
    if !ids.is_empty() && started.is_empty() {
        return Err(StepError::unavailable(format!(
            "no scheduled refresh could start ({} identities)",
            ids.len()
        )));
    }
    Ok(json!({"tick": tick, "jobs": started, "failed_identities": failed}))
}

pub async fn reconcile(deps: &JobApiDeps, event: Value) -> Result<Value, StepError> {
    let detail = event.get("detail").unwrap_or(&event);
    let status = detail
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = detail
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(status, "FAILED" | "TIMED_OUT" | "ABORTED") || !is_job_id(name) {
        return Ok(json!({"changed": false}));
    }
    let error = detail.get("error").and_then(Value::as_str).unwrap_or("");
    let cause = detail.get("cause").and_then(Value::as_str).unwrap_or("");
    let mut changed = false;
    let outcome = deps
        .jobs
        .modify(name, |job| {
            changed = !job.status.is_terminal();
            if !changed {
                return Ok(Write::No);
            }
            let now = deps.jobs.now();
            job.fail_running_steps(now);
            job.status = JobStatus::Failed;
            job.error = Some(JobError {
                code: format!("EXECUTION_{status}"),
                message: format!(
                    "the job's execution ended {status} before the job was reported{}",
                    if error.is_empty() && cause.is_empty() {
                        String::new()
                    } else {
                        format!(": {error} {cause}")
                    }
                ),
            });
            Ok(Write::Yes)
        })
        .await;
    let job = match outcome {
        Ok(job) => job,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Ok(json!({"changed": false, "reason": "no such job"}));
        }
        Err(e) => return Err(e),
    };
    if changed {
        tracing::warn!(job_id = %job.id, status, "job failed by its execution's end");
    }
    Ok(json!({"changed": changed, "job_id": job.id}))
}

/// Pages of QUEUED jobs one sweep reads at most (100 jobs each).
const SWEEP_PAGES: usize = 10;

pub async fn start_unstarted(deps: &JobApiDeps, _event: Value) -> Result<Value, StepError> {
    let cutoff = deps.jobs.now() - deps.start_grace;
    let filter = JobFilter {
        job_type: None,
        status: Some(JobStatus::Queued),
    };
    let (mut started, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..SWEEP_PAGES {
        let page = deps
            .jobs
            .store()
            .list(&filter, 100, cursor.as_deref())
            .await?;
        for job in &page.items {
            let waiting = job.job_type != JobType::RunnerJob
                && job.execution_arn.is_none()
                && job.created_at <= cutoff;
            if waiting && deps.jobs.ensure_started(deps.starter.as_ref(), job).await {
                started.push(job.id.clone());
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if !started.is_empty() {
        tracing::warn!(count = started.len(), jobs = ?started, "started jobs whose start was lost");
    }
    Ok(json!({"started": started}))
}
