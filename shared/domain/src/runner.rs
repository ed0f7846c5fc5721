//! The runner registry's rules: registration requests, tokens (random,
//! returned once, stored only as a hash), liveness from heartbeats, and
//! the lease on claimed work: a runner's heartbeats keep the jobs it holds;
//! when it stops heartbeating past the TTL, is removed, destroyed or
//! replaced, its RUNNING jobs go back to the queue, each once, and a job
//! requeued too often ends FAILED.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::job::{Job, JobError, JobStatus, JobType};
use crate::secret::SecretString;
use crate::validate::{FieldError, Fields, identifier};
use crate::worker::validate_name;

/// A registered runner. The token itself is never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runner {
    pub id: String,
    pub name: String,
    /// The organization the runner works for: it claims that owner's jobs
    /// of its pool only.
    pub owner: String,
    pub pool: String,
    pub token_hash: String,
    #[serde(with = "crate::time")]
    pub registered_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub version: u64,
}

/// Liveness as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunnerStatus {
    /// Registered, no heartbeat yet (the task is starting).
    Pending,
    Online,
    Offline,
}

/// How long a heartbeat keeps a runner ONLINE.
pub const DEFAULT_HEARTBEAT_TTL_SECONDS: i64 = 90;

impl Runner {
    /// The queue the runner claims from: its pool within its owner.
    pub fn queue(&self) -> String {
        crate::owner::scoped(&self.owner, &self.pool)
    }

    /// Whether the runner's lease on the jobs it holds lapsed: no heartbeat
    /// (nor registration, if it never sent one) within the TTL.
    pub fn lease_lapsed(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        now - self.last_heartbeat_at.unwrap_or(self.registered_at) > ttl
    }

    pub fn status(&self, now: DateTime<Utc>, ttl: Duration) -> RunnerStatus {
        match self.last_heartbeat_at {
            None => RunnerStatus::Pending,
            Some(t) if now - t <= ttl => RunnerStatus::Online,
            Some(_) => RunnerStatus::Offline,
        }
    }
}

/// A registration: the runner id and its token (shown once).
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    pub token: SecretString,
    /// False when the runner already existed (its token was rotated).
    pub created: bool,
}

/// `POST /api/runners/register` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    /// The id the caller proposes (our deployments use their worker id, so
    /// a retried registration finds the same runner).
    pub id: Option<String>,
    pub name: String,
    /// The organization whose jobs the runner claims.
    pub owner: String,
    pub pool: String,
}

impl RegisterRequest {
    pub fn parse(body: &Value) -> Result<RegisterRequest, FieldError> {
        let f = Fields::new("", body, &["id", "name", "owner", "pool"])?;
        let name = f.required_string("name")?;
        validate_name("name", name)?;
        let owner = f.required_string("owner")?;
        crate::owner::validate_owner("owner", owner)?;
        let id = match f.string("id")? {
            Some(id) => {
                identifier("id", id, 64)?;
                Some(id.to_string())
            }
            None => None,
        };
        let pool = f.string("pool")?.unwrap_or("default");
        identifier("pool", pool, 64)?;
        Ok(RegisterRequest {
            id,
            name: name.to_string(),
            owner: owner.to_string(),
            pool: pool.to_string(),
        })
    }
}

/// A new runner token: 256 random bits, URL-safe, with a recognisable
/// prefix (so secret scanners can find leaked ones).
pub fn new_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::new(format!(
        "wjrt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a token. Tokens carry 256 bits of entropy, so a
/// plain SHA-256 is enough (no brute force of the hash is feasible).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares a presented token with a stored hash in constant time.
pub fn verify_token(token: &str, stored_hash: &str) -> bool {
    let presented = hash_token(token);
    presented.len() == stored_hash.len()
        && presented
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// How many times a runner job goes back to the queue before it ends
/// FAILED (its runners keep disappearing while they run it).
pub const MAX_REQUEUES: u32 = 3;

/// A runner job whose runner went away (`why`: "stopped heartbeating", "was
/// removed", …): back to the queue for the pool's other runners, or FAILED
/// once it was requeued [`MAX_REQUEUES`] times. Call it only for a job for
/// which [`must_requeue`] holds.
pub fn release(job: &mut Job, why: &str) {
    let runner = job.runner_id.take().unwrap_or_default();
    job.claimed_at = None;
    if job.requeues >= MAX_REQUEUES {
        job.status = JobStatus::Failed;
        job.error = Some(JobError {
            hint: None,
            code: "REQUEUE_LIMIT".into(),
            message: format!(
                "the job went back to the queue {} times; its last runner {runner} {why}",
                job.requeues
            ),
        });
    } else {
        job.status = JobStatus::Queued;
        job.requeues += 1;
    }
}

/// Whether a job must go back to the queue because `runner_id` went away:
/// an unfinished runner job assigned to that runner.
pub fn must_requeue(job: &Job, runner_id: &str) -> bool {
    job.job_type == JobType::RunnerJob
        && job.status == JobStatus::Running
        && job.runner_id.as_deref() == Some(runner_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_random_and_only_their_hash_verifies() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= 43 + 5, "256 bits in base64url");
        let h = hash_token(a.expose());
        assert!(!h.contains(a.expose()));
        assert!(verify_token(a.expose(), &h));
        assert!(!verify_token(b.expose(), &h));
    }

    #[test]
    fn liveness_follows_heartbeats() {
        let now = Utc::now();
        let mut r = Runner {
            id: "wkr-1".into(),
            name: "runner-1".into(),
            owner: "org-1".into(),
            pool: "default".into(),
            token_hash: String::new(),
            registered_at: now,
            last_heartbeat_at: None,
            version: 1,
        };
        let ttl = Duration::seconds(90);
        assert_eq!(r.status(now, ttl), RunnerStatus::Pending);
        r.last_heartbeat_at = Some(now - Duration::seconds(10));
        assert_eq!(r.status(now, ttl), RunnerStatus::Online);
        r.last_heartbeat_at = Some(now - Duration::seconds(91));
        assert_eq!(r.status(now, ttl), RunnerStatus::Offline);
    }

    #[test]
    fn requeue_rule() {
        let now = Utc::now();
        let mut job = Job::new("org-1", JobType::RunnerJob, json!({}), now);
        job.status = JobStatus::Running;
        job.runner_id = Some("A".into());
        assert!(must_requeue(&job, "A"));
        assert!(!must_requeue(&job, "B"));
        job.status = JobStatus::Success;
        assert!(!must_requeue(&job, "A"), "finished jobs are left alone");
        let mut deploy = Job::new("org-1", JobType::DeployWorker, json!({}), now);
        deploy.status = JobStatus::Running;
        deploy.runner_id = Some("A".into());
        assert!(!must_requeue(&deploy, "A"));
    }

    #[test]
    fn a_released_job_is_queued_again_until_the_limit_then_failed() {
        let mut job = Job::new("org-1", JobType::RunnerJob, json!({}), Utc::now());
        for n in 1..=MAX_REQUEUES {
            job.status = JobStatus::Running;
            job.runner_id = Some("A".into());
            job.claimed_at = Some(Utc::now());
            release(&mut job, "stopped heartbeating");
            assert_eq!(
                (job.status, job.requeues, job.runner_id.clone()),
                (JobStatus::Queued, n, None)
            );
            assert!(job.claimed_at.is_none());
        }
        job.status = JobStatus::Running;
        job.runner_id = Some("A".into());
        release(&mut job, "stopped heartbeating");
        assert_eq!(job.status, JobStatus::Failed);
        let e = job.error.unwrap();
        assert_eq!(e.code, "REQUEUE_LIMIT");
        assert!(
            e.message.contains("runner A stopped heartbeating"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_lease_lapses_after_the_ttl_without_heartbeat() {
        let now = Utc::now();
        let mut r = Runner {
            id: "A".into(),
            name: "runner-a".into(),
            owner: "org-1".into(),
            pool: "default".into(),
            token_hash: String::new(),
            registered_at: now - Duration::seconds(200),
            last_heartbeat_at: None,
            version: 1,
        };
        let ttl = Duration::seconds(90);
        assert!(
            r.lease_lapsed(now, ttl),
            "registered long ago, never heard from"
        );
        r.last_heartbeat_at = Some(now - Duration::seconds(30));
        assert!(!r.lease_lapsed(now, ttl));
        r.last_heartbeat_at = Some(now - Duration::seconds(91));
        assert!(r.lease_lapsed(now, ttl));
    }

    #[test]
    fn register_requests() {
        assert!(
            RegisterRequest::parse(&json!({"name": "runner-1", "id": "wkr-abc", "owner": "org-1"}))
                .is_ok()
        );
        assert_eq!(
            RegisterRequest::parse(&json!({"name": "runner-1"}))
                .unwrap_err()
                .field,
            "owner"
        );
        assert_eq!(
            RegisterRequest::parse(&json!({"name": "runner-1", "owner": "a/b"}))
                .unwrap_err()
                .field,
            "owner"
        );
        assert_eq!(
            RegisterRequest::parse(&json!({"name": "x"}))
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            RegisterRequest::parse(&json!({"name": "runner-1", "token": "t"}))
                .unwrap_err()
                .field,
            "token"
        );
    }
}
