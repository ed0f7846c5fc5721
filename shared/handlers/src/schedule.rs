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

use jobs_domain::ports::{Created, IdempotencyKey, JobFilter};
use jobs_domain::refresh::{Candidate, select};
use jobs_domain::{ErrorKind, StepError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deps::JobApiDeps;
use crate::job_service::{Submission, Write};

/// Pages of unfinished jobs read to find refreshes in flight (100 each).
const IN_FLIGHT_PAGES: usize = 10;

fn refresh_key(id: &str, tick: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: format!("refresh-schedule:{id}:{tick}"),
        request_hash: hex::encode(Sha256::digest(format!("refresh:{id}").as_bytes())),
    }
}

/// The identities with a CONNECTION_TEST or FETCH_RESOURCES QUEUED or RUNNING.
async fn refreshes_in_flight(deps: &JobApiDeps) -> Result<HashSet<String>, StepError> {
    let mut ids = HashSet::new();
    for job_type in [JobType::FetchResources, JobType::ConnectionTest] {
        for status in [JobStatus::Queued, JobStatus::Running] {
            let filter = JobFilter {
                job_type: Some(job_type),
                status: Some(status),
            };
            let mut cursor: Option<String> = None;
            for _ in 0..IN_FLIGHT_PAGES {
                let page = deps
                    .jobs
                    .store()
                    .list(&filter, 100, cursor.as_deref())
                    .await?;
                ids.extend(
                    page.items
                        .iter()
                        .filter_map(|j| j.params["cloud_identity_id"].as_str().map(str::to_string)),
                );
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
    }
    Ok(ids)
}

/// One scheduled run (the event's `time` names its window): FETCH_RESOURCES
/// for at most `refresh_batch` identities, chosen by
/// [`jobs_domain::refresh::select`], each under an idempotency key of the
/// identity and the window.
pub async fn refresh_all(deps: &JobApiDeps, event: Value) -> Result<Value, StepError> {
    let tick = event
        .get("time")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| jobs_domain::time::format(&deps.jobs.now()));
    let window_start = chrono::DateTime::parse_from_rfc3339(&tick)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| deps.jobs.now());
    let mut identities = deps.identities.list_fetched().await?;
    identities.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let in_flight = refreshes_in_flight(deps).await?;
    let mut candidates = Vec::with_capacity(identities.len());
    let mut untouched_checked = 0;
    for (id, fetched_at) in identities {
        let busy = in_flight.contains(&id);
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
                deps.jobs.store().find_key(&refresh_key(&id, &tick)).await?,
                Some(Created::Existing(_))
            );
        candidates.push(Candidate {
            id,
            fetched_at,
            in_flight: busy,
            this_window,
        });
    }
    let chosen = select(&candidates, deps.refresh_batch);
    let mut started = Vec::new();
    let mut failed = Vec::new();
    for id in &chosen {
        let params = JobParams::FetchResources {
            cloud_identity_id: id.clone(),
        };
        match deps
            .jobs
            .create(deps.starter.as_ref(), &params, Some(refresh_key(id, &tick)))
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
