//! The lease on claimed runner work. A runner holds the jobs it claimed
//! while its heartbeats keep it alive (`Runner::lease_lapsed`); the jobs of
//! a runner that lapsed, was removed, destroyed (RequeueJobs) or replaced by
//! a new deployment (CheckDeployment) are released: back to the queue for
//! the pool's other runners, or FAILED after `runner::MAX_REQUEUES`.
//!
//! Each release is a write conditional on the job's version that re-checks
//! the job is still RUNNING on that runner, so a job is released exactly
//! once however many sweepers, retries or redeliveries race for it, and a
//! job that finished meanwhile is left alone.

use chrono::{DateTime, Utc};
use jobs_domain::StepError;
use jobs_domain::runner::{must_requeue, release};
use serde_json::{Value, json};

use crate::deps::LeaseDeps;
use crate::job_service::{JobService, Write};

/// Releases the RUNNING jobs `runner_id` holds (only those claimed before
/// `claimed_before`, when given); answers the ids this call released.
pub async fn release_held(
    jobs: &JobService,
    runner_id: &str,
    why: &str,
    claimed_before: Option<DateTime<Utc>>,
) -> Result<Vec<String>, StepError> {
    let held = jobs.store().runner_jobs_of(runner_id).await?;
    let mut released = Vec::new();
    for candidate in held {
        let mut changed = false;
        jobs.modify(&candidate.id, |job| {
            let before_cutoff = match (claimed_before, job.claimed_at) {
                (Some(cutoff), Some(at)) => at < cutoff,
                _ => true,
            };
            changed = must_requeue(job, runner_id) && before_cutoff;
            if !changed {
                return Ok(Write::No);
            }
            release(job, why);
            Ok(Write::Yes)
        })
        .await?;
        if changed {
            released.push(candidate.id);
        }
    }
    if !released.is_empty() {
        tracing::info!(runner = %runner_id, why, jobs = ?released, "runner jobs released");
    }
    Ok(released)
}

/// The lease sweeper (function `lease-sweeper`, on an EventBridge schedule;
/// a timer in the local stack): releases the jobs of every runner whose
/// lease lapsed. A claim is a sign of life too: a job claimed within the
/// TTL stays with its runner even if the runner's last heartbeat is older
/// (a claim that took long under load must not lose its job at once).
pub async fn expire(deps: &LeaseDeps, _event: Value) -> Result<Value, StepError> {
    let now = deps.jobs.now();
    let mut released = Vec::new();
    for runner in deps.runners.list().await? {
        if runner.lease_lapsed(now, deps.heartbeat_ttl) {
            let fresh_claims = now - deps.heartbeat_ttl;
            released.extend(
                release_held(
                    &deps.jobs,
                    &runner.id,
                    "stopped heartbeating",
                    Some(fresh_claims),
                )
                .await?,
            );
        }
    }
    if !released.is_empty() {
        tracing::warn!(jobs = ?released, "released the jobs of runners that stopped heartbeating");
    }
    Ok(json!({ "released": released }))
}
