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
use std::collections::HashSet;

use jobs_domain::owner::scoped;
use jobs_domain::ports::{Created, Fetched, IdempotencyKey};
use jobs_domain::refresh::{Candidate, select};
use jobs_domain::{ErrorKind, StepError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deps::ScheduleDeps;
use crate::job_service::{Submission, Write};

/// Open jobs of one status the scheduler and the sweeper read per run at
/// most (the oldest first, across owners).
const OPEN_JOBS_READ: usize = 1000;

fn refresh_key(owner: &str, id: &str, tick: &str) -> IdempotencyKey {
    IdempotencyKey {
        owner: owner.to_string(),
        key: format!("refresh-schedule:{id}:{tick}"),
        request_hash: hex::encode(Sha256::digest(format!("refresh:{id}").as_bytes())),
    }
}

/// The identities (`owner/id`) with a CONNECTION_TEST or FETCH_RESOURCES
/// QUEUED or RUNNING.
async fn refreshes_in_flight(deps: &ScheduleDeps) -> Result<HashSet<String>, StepError> {
    let store = deps.jobs.store();
    let (queued, running) = futures::future::try_join(
        store.open_jobs(JobStatus::Queued, OPEN_JOBS_READ),
        store.open_jobs(JobStatus::Running, OPEN_JOBS_READ),
    )
    .await?;
    Ok(queued
        .into_iter()
        .chain(running)
        .filter(|j| {
            matches!(
                j.job_type,
                JobType::FetchResources | JobType::ConnectionTest
            )
        })
        .filter_map(|j| {
            j.params["cloud_identity_id"]
                .as_str()
                .map(|id| scoped(&j.owner, id))
        })
        .collect())
}

/// One scheduled run (the event's `time` names its window): FETCH_RESOURCES
/// for at most `refresh_batch` identities, chosen by
/// [`jobs_domain::refresh::select`], each under an idempotency key of the
/// identity and the window.
pub async fn refresh_all(deps: &ScheduleDeps, event: Value) -> Result<Value, StepError> {
    let tick = event
        .get("time")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| jobs_domain::time::format(&deps.jobs.now()));
    let window_start = chrono::DateTime::parse_from_rfc3339(&tick)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| deps.jobs.now());
    let mut identities = deps.identities.list_fetched().await?;
    identities
        .sort_by(|a, b| (a.fetched_at, &a.owner, &a.id).cmp(&(b.fetched_at, &b.owner, &b.id)));
    let in_flight = refreshes_in_flight(deps).await?;
    let mut candidates = Vec::with_capacity(identities.len());
    let mut untouched_checked = 0;
    for Fetched {
        owner,
        id,
        fetched_at,
    } in identities
    {
        let busy = in_flight.contains(&scoped(&owner, &id));
        // This window's jobs are among the identities refreshed or running
        // since it opened, or (a job that failed) still at the head of the
        // oldest-first order: the key is read for those alone.
        let touched = busy || fetched_at.is_some_and(|t| t >= window_start);
        let head = !touched && untouched_checked < 2 * deps.refresh_batch;
        if head {
            untouched_checked += 1;
        }
        let this_window = (touched || head)
            && matches!(
                deps.jobs
                    .store()
                    .find_key(&refresh_key(&owner, &id, &tick))
                    .await?,
                Some(Created::Existing(_))
            );
        candidates.push(Candidate {
            owner,
            id,
            fetched_at,
            in_flight: busy,
            this_window,
        });
    }
    let chosen = select(&candidates, deps.refresh_batch);
    let mut started = Vec::new();
    let mut failed = Vec::new();
    for (owner, id) in &chosen {
        let params = JobParams::FetchResources {
            cloud_identity_id: id.clone(),
        };
        let key = refresh_key(owner, id, &tick);
        match deps
            .jobs
            .create(deps.starter.as_ref(), owner, &params, Some(key))
            .await
        {
            Ok(Submission::New(job) | Submission::Replayed(job)) => started.push(job.id),
            Ok(Submission::NotStarted { cause: e, .. }) | Err(e) => {
                tracing::error!(owner = %owner, identity = %id, error = %e.message, "scheduled refresh could not start");
                failed.push(scoped(owner, id));
            }
            Ok(Submission::KeyReused) => {
                tracing::error!(owner = %owner, identity = %id, "scheduled refresh key bound to another request");
                failed.push(scoped(owner, id));
            }
        }
    }
    if !chosen.is_empty() && started.is_empty() {
        return Err(StepError::unavailable(format!(
            "no scheduled refresh could start ({} identities chosen)",
            chosen.len()
        )));
    }
    let skipped = candidates
        .iter()
        .filter(|c| c.in_flight && !c.this_window)
        .count();
    tracing::info!(tick = %tick, identities = candidates.len(), started = started.len(), in_flight = skipped, "scheduled refresh");
    Ok(json!({
        "tick": tick,
        "jobs": started,
        "failed_identities": failed,
        "identities": candidates.len(),
        "skipped_in_flight": skipped,
    }))
}

pub async fn reconcile(deps: &ScheduleDeps, event: Value) -> Result<Value, StepError> {
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
                hint: None,
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

pub async fn start_unstarted(deps: &ScheduleDeps, _event: Value) -> Result<Value, StepError> {
    let cutoff = deps.jobs.now() - deps.start_grace;
    let mut started = Vec::new();
    let queued = deps
        .jobs
        .store()
        .open_jobs(JobStatus::Queued, OPEN_JOBS_READ)
        .await?;
    for open in queued {
        let waiting = open.status == JobStatus::Queued
            && open.execution_arn.is_none()
            && open.created_at <= cutoff;
        if !waiting {
            continue;
        }
        // The index's copy may lag: start what the record says is waiting.
        if let Some(job) = deps.jobs.get(&open.id).await?
            && deps.jobs.ensure_started(deps.starter.as_ref(), &job).await
        {
            started.push(job.id.clone());
        }
    }
    if !started.is_empty() {
        tracing::warn!(count = started.len(), jobs = ?started, "started jobs whose start was lost");
    }
    Ok(json!({"started": started}))
}
