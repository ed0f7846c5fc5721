//! Jobs: their types, statuses and lifecycle (QUEUED → RUNNING → SUCCESS |
//! FAILED; a runner job may go back to QUEUED when its runner is destroyed),
//! the steps they went through, and their result or error.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::terraform_build::BuildInfo;

/// The kinds of job. The first five run as Step Functions executions; a
/// `RUNNER_JOB` is work queued for the platform's Runners, which claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobType {
    DeployWorker,
    UpdateWorker,
    DestroyWorker,
    ConnectionTest,
    FetchResources,
    RunnerJob,
}

impl JobType {
    pub const ALL: [JobType; 6] = [
        JobType::DeployWorker,
        JobType::UpdateWorker,
        JobType::DestroyWorker,
        JobType::ConnectionTest,
        JobType::FetchResources,
        JobType::RunnerJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::DeployWorker => "DEPLOY_WORKER",
            JobType::UpdateWorker => "UPDATE_WORKER",
            JobType::DestroyWorker => "DESTROY_WORKER",
            JobType::ConnectionTest => "CONNECTION_TEST",
            JobType::FetchResources => "FETCH_RESOURCES",
            JobType::RunnerJob => "RUNNER_JOB",
        }
    }

    /// The state machine that runs this job type (file
    /// `statemachines/<name>.asl.json`); `None` for runner jobs.
    pub fn state_machine(self) -> Option<&'static str> {
        match self {
            JobType::DeployWorker => Some("deploy_worker"),
            JobType::UpdateWorker => Some("update_worker"),
            JobType::DestroyWorker => Some("destroy_worker"),
            JobType::ConnectionTest => Some("connection_test"),
            JobType::FetchResources => Some("fetch_resources"),
            JobType::RunnerJob => None,
        }
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job type {s:?} (one of {})",
                    JobType::ALL.map(JobType::as_str).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Success,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Success,
        JobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Failed => "FAILED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Failed)
    }

    /// Allowed transitions. RUNNING → QUEUED is the requeue of a runner
    /// job whose runner went away.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Queued, Running)
                | (Queued, Failed)
                | (Running, Success)
                | (Running, Failed)
                | (Running, Queued)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status {s:?} (one of QUEUED, RUNNING, SUCCESS, FAILED)")
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    Running,
    Succeeded,
    Failed,
}

/// One step of a job as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub status: StepStatus,
    #[serde(with = "crate::time")]
    pub started_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    pub ended_at: Option<DateTime<Utc>>,
    /// How many times the step started (Step Functions retries).
    pub attempts: u32,
    /// A Terraform build step: the build, its log, its plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
}

/// Why a job failed: a stable code and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
    /// What the customer can do about it (classified cloud errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// The organization the job belongs to (see [`crate::owner`]).
    pub owner: String,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub status: JobStatus,
    pub params: Value,
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
    /// Incremented by every write; writes are conditional on it.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// Runner jobs: the pool whose runners may claim it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Runner jobs: the runner that claimed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
    /// Runner jobs: when that runner claimed it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::option"
    )]
    pub claimed_at: Option<DateTime<Utc>>,
    /// Runner jobs: how many times it went back to the queue.
    #[serde(default)]
    pub requeues: u32,
}

/// What a listing shows of a job: the attributes its indexes project (the
/// whole record is `GET /api/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
}

/// An unfinished job run by a state machine, as the sweeper and the refresh
/// scheduler read it across owners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenJob {
    pub id: String,
    pub owner: String,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub status: JobStatus,
    pub params: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
}

impl Job {
    /// Whether the job is in the open-jobs listing: unfinished and run by a
    /// state machine.
    pub fn is_open(&self) -> bool {
        !self.status.is_terminal() && self.job_type.state_machine().is_some()
    }

    /// A runner job's queue: its pool within its owner.
    pub fn queue(&self) -> Option<String> {
        self.pool
            .as_deref()
            .map(|pool| crate::owner::scoped(&self.owner, pool))
    }
}

impl From<&Job> for OpenJob {
    fn from(job: &Job) -> Self {
        OpenJob {
            id: job.id.clone(),
            owner: job.owner.clone(),
            job_type: job.job_type,
            status: job.status,
            params: job.params.clone(),
            execution_arn: job.execution_arn.clone(),
            created_at: job.created_at,
        }
    }
}

impl From<&Job> for JobSummary {
    fn from(job: &Job) -> Self {
        JobSummary {
            id: job.id.clone(),
            job_type: job.job_type,
            status: job.status,
            error: job.error.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

impl Job {
    pub fn new(owner: &str, job_type: JobType, params: Value, now: DateTime<Utc>) -> Job {
        Job {
            id: new_job_id(),
            owner: owner.to_string(),
            job_type,
            status: JobStatus::Queued,
            params,
            steps: Vec::new(),
            result: None,
            error: None,
            created_at: now,
            updated_at: now,
            version: 1,
            execution_arn: None,
            pool: None,
            runner_id: None,
            claimed_at: None,
            requeues: 0,
        }
    }

    /// Records that `step` started (again, if Step Functions retried it).
    pub fn start_step(&mut self, step: &str, now: DateTime<Utc>) {
        match self.steps.iter_mut().find(|s| s.name == step) {
            Some(s) => {
                s.attempts += 1;
                s.status = StepStatus::Running;
                s.ended_at = None;
            }
            None => self.steps.push(StepRecord {
                name: step.to_string(),
                status: StepStatus::Running,
                started_at: now,
                ended_at: None,
                attempts: 1,
                build: None,
            }),
        }
    }

    /// Records what the build behind `step` reported (the step is created
    /// if it is not there yet).
    pub fn set_build(&mut self, step: &str, build: BuildInfo, now: DateTime<Utc>) {
        if !self.steps.iter().any(|s| s.name == step) {
            self.start_step(step, now);
        }
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == step) {
            s.build = Some(build);
        }
    }

    /// Records the end of `step`.
    pub fn end_step(&mut self, step: &str, ok: bool, now: DateTime<Utc>) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.name == step) {
            s.status = if ok {
                StepStatus::Succeeded
            } else {
                StepStatus::Failed
            };
            s.ended_at = Some(now);
        }
    }

    /// Records a step that ran outside a Lambda function (the Terraform
    /// build), with the times it reported.
    pub fn record_step(
        &mut self,
        step: &str,
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        ok: bool,
    ) {
        let status = if ok {
            StepStatus::Succeeded
        } else {
            StepStatus::Failed
        };
        match self.steps.iter_mut().find(|s| s.name == step) {
            Some(s) => {
                s.status = status;
                s.started_at = started_at;
                s.ended_at = Some(ended_at);
            }
            None => self.steps.push(StepRecord {
                name: step.to_string(),
                status,
                started_at,
                ended_at: Some(ended_at),
                build: None,
                attempts: 1,
            }),
        }
    }

    /// Marks every step still running as failed (the job failed in it).
    pub fn fail_running_steps(&mut self, now: DateTime<Utc>) {
        for s in &mut self.steps {
            if s.status == StepStatus::Running {
                s.status = StepStatus::Failed;
                s.ended_at = Some(now);
            }
        }
    }
}

/// A new job id: `job-` and 32 hex digits (also the execution name, so it
/// satisfies StartExecution's naming rules).
pub fn new_job_id() -> String {
    format!("job-{}", uuid::Uuid::new_v4().simple())
}

/// Whether a string looks like a job id (checked before any lookup).
pub fn is_job_id(s: &str) -> bool {
    s.len() == 36 && s.starts_with("job-") && s[4..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use JobStatus::*;
        assert!(Queued.can_become(Running));
        assert!(Running.can_become(Success));
        assert!(Running.can_become(Queued));
        assert!(!Success.can_become(Running));
        assert!(!Failed.can_become(Queued));
        assert!(!Queued.can_become(Success));
    }

    #[test]
    fn types_parse_and_print() {
        assert_eq!(
            "DEPLOY_WORKER".parse::<JobType>().unwrap(),
            JobType::DeployWorker
        );
        assert!("deploy_worker".parse::<JobType>().is_err());
        assert_eq!(
            JobType::ConnectionTest.state_machine(),
            Some("connection_test")
        );
        assert_eq!(
            serde_json::to_value(JobType::FetchResources).unwrap(),
            "FETCH_RESOURCES"
        );
    }

    #[test]
    fn steps_count_attempts() {
        let now = Utc::now();
        let mut job = Job::new("org-1", JobType::ConnectionTest, serde_json::json!({}), now);
        job.start_step("VerifyIdentity", now);
        job.start_step("VerifyIdentity", now);
        assert_eq!(job.steps[0].attempts, 2);
        job.fail_running_steps(now);
        assert_eq!(job.steps[0].status, StepStatus::Failed);
    }

    #[test]
    fn job_ids() {
        let id = new_job_id();
        assert!(is_job_id(&id), "{id}");
        assert!(!is_job_id("job-../../etc"));
    }
}
