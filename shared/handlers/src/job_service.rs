//! The job service: the one place jobs are created, read, changed and run
//! through a step. The HTTP APIs, the scheduler, the reconciler and every
//! state machine step go through it, so the job lifecycle rules
//! (`JobStatus::can_become`) are enforced here and nowhere else, and every
//! change is a read, a pure change and a write conditional on the version
//! that was read.
//!
//! A worker's lifecycle jobs (DEPLOY, UPDATE, DESTROY) also pass through its
//! run queue (`jobs_domain::runs`): a job joins it when created, takes its
//! turn in AwaitTurn, and gives the worker up here when it ends, however it
//! ends (its steps, the reconciler).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jobs_domain::job::{Job, JobError, JobStatus, JobType, is_job_id};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Clock, Created, ExecutionStarter, IdempotencyKey, JobStore, RunQueues};
use jobs_domain::runs::{Turn, WorkerRuns};
use jobs_domain::{ErrorKind, StepError};
use serde_json::{Value, json};

/// How often a change is retried when another writer got there first.
const MAX_ATTEMPTS: usize = 5;

/// What a change function decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Store the changed job.
    Yes,
    /// Nothing to store (already done).
    No,
}

/// What a submission came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// Stored and started (runner jobs are only stored: runners claim them).
    New(Job),
    /// The idempotency key already named this job: nothing new was started.
    Replayed(Job),
    /// The idempotency key was used with another request.
    KeyReused,
    /// Stored, but its execution could not be started: the job is FAILED
    /// with `START_FAILED` and the key is free again, so the caller may retry.
    NotStarted { job: Job, cause: StepError },
}

/// The input every execution starts with: the job id, nothing else.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ExecutionInput {
    pub job_id: String,
}

#[derive(Clone)]
pub struct JobService {
    store: Arc<dyn JobStore>,
    runs: Arc<dyn RunQueues>,
    clock: Arc<dyn Clock>,
}

/// The worker a lifecycle job (DEPLOY, UPDATE, DESTROY) is for.
pub fn worker_of(job: &Job) -> Option<&str> {
    matches!(
        job.job_type,
        JobType::DeployWorker | JobType::UpdateWorker | JobType::DestroyWorker
    )
    .then(|| job.params.get("name").and_then(serde_json::Value::as_str))
    .flatten()
}

impl JobService {
    pub fn new(store: Arc<dyn JobStore>, runs: Arc<dyn RunQueues>, clock: Arc<dyn Clock>) -> Self {
        JobService { store, runs, clock }
    }

    /// The workers' run queues (for reading them).
    pub fn runs(&self) -> &dyn RunQueues {
        self.runs.as_ref()
    }

    /// Reads a worker's run queue, applies `change` and writes it back
    /// conditionally on its version (again on a conflict). Answers what
    /// `change` answered.
    pub async fn modify_runs<T>(
        &self,
        name: &str,
        mut change: impl FnMut(&mut WorkerRuns) -> (bool, T),
    ) -> Result<T, StepError> {
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.runs.get(name).await?;
            let expected = stored.as_ref().map(|r| r.version);
            let mut runs = stored.unwrap_or_else(|| WorkerRuns::new(name));
            let (write, out) = change(&mut runs);
            if !write {
                return Ok(out);
            }
            match self.runs.put(&runs, expected).await {
                Ok(()) => return Ok(out),
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StepError::conflict(format!(
            "the run queue of {name} kept changing concurrently"
        )))
    }

    /// The job's turn on its worker (see `WorkerRuns::take_turn`).
    pub async fn take_turn(&self, name: &str, job_id: &str) -> Result<Turn, StepError> {
        self.modify_runs(name, |runs| {
            let before = runs.clone();
            let turn = runs.take_turn(job_id);
            (*runs != before, turn)
        })
        .await
    }

    /// The store, for the queries that are not changes (listing, the queue).
    pub fn store(&self) -> &dyn JobStore {
        self.store.as_ref()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, StepError> {
        if !is_job_id(id) {
            return Ok(None);
        }
        self.store.get(id).await
    }

    /// The public view of a job (its version is an internal detail).
    pub fn view(job: &Job) -> Value {
        let mut v = serde_json::to_value(job).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.remove("version");
        }
        v
    }

    /// Stores a new job for `params` (QUEUED) and starts its state machine
    /// with [`ExecutionInput`]. The execution is named by the job id, so a
    /// start that is repeated answers the same execution.
    pub async fn create(
        &self,
        starter: &dyn ExecutionStarter,
        owner: &str,
        params: &JobParams,
        key: Option<IdempotencyKey>,
    ) -> Result<Submission, StepError> {
        let job_type = params.job_type();
        let mut job = Job::new(owner, job_type, params.to_value(), self.clock.now());
        if let JobParams::RunnerJob { pool, .. } = params {
            job.pool = Some(pool.clone());
        }
        match self.store.create(&job, key.as_ref()).await? {
            Created::New => {}
            Created::Existing(existing) => {
                self.ensure_started(starter, &existing).await;
                return Ok(Submission::Replayed(*existing));
            }
            Created::KeyReused => return Ok(Submission::KeyReused),
        }
        let Some(machine) = job_type.state_machine() else {
            return Ok(Submission::New(job));
        };
        let input = json!(ExecutionInput {
            job_id: job.id.clone()
        });
        // A lifecycle job takes its place in its worker's line before it
        // starts, so that the line is the order of submission.
        let queued = match worker_of(&job) {
            Some(name) => {
                let id = job.id.clone();
                self.modify_runs(name, |runs| (runs.enqueue(&id), ())).await
            }
            None => Ok(()),
        };
        let started = match queued {
            Ok(()) => starter.start(machine, &job.id, &input).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(arn) => {
                tracing::info!(job_id = %job.id, job_type = %job_type, execution = %arn, "job started");
                Ok(Submission::New(job))
            }
            Err(cause) => {
                // Nothing half-done: the job says why it never ran, and the
                // key is free again so that the client can simply retry.
                tracing::error!(job_id = %job.id, error = %cause, "could not start the job's execution");
                let message = format!(
                    "the job's state machine could not be started: {}",
                    cause.message
                );
                let failed = self
                    .modify(&job.id, |j| {
                        j.status = JobStatus::Failed;
                        j.error = Some(JobError {
                            hint: None,
                            code: "START_FAILED".into(),
                            message: message.clone(),
                        });
                        Ok(Write::Yes)
                    })
                    .await
                    .unwrap_or(job);
                if let Some(k) = &key
                    && let Err(e) = self.store.release_key(k).await
                {
                    tracing::error!(job_id = %failed.id, error = %e, "could not release the idempotency key");
                }
                Ok(Submission::NotStarted { job: failed, cause })
            }
        }
    }

    /// Starts the execution of a job that is still QUEUED: one whose start
    /// was lost (a crash or a timeout between the write and StartExecution).
    /// Starting is idempotent (the execution is named by the job id, with the
    /// same input), so a job that did start is not started twice. A failure
    /// is logged and left to the next replay or sweep; it answers whether
    /// the start went through.
    pub async fn ensure_started(&self, starter: &dyn ExecutionStarter, job: &Job) -> bool {
        let Some(machine) = job.job_type.state_machine() else {
            return false;
        };
        if job.status != JobStatus::Queued {
            return false;
        }
        let input = json!(ExecutionInput {
            job_id: job.id.clone()
        });
        match starter.start(machine, &job.id, &input).await {
            Ok(arn) => {
                tracing::info!(job_id = %job.id, execution = %arn, "queued job started");
                true
            }
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "queued job could not be started; a later sweep retries");
                false
            }
        }
    }

    /// Reads a job, applies `change` and writes it conditionally on the
    /// version it read, reading again when another writer got there first.
    /// A change of status must follow the job lifecycle
    /// (`JobStatus::can_become`); `updated_at` is set here. Answers the job
    /// as stored.
    pub async fn modify<F>(&self, job_id: &str, mut change: F) -> Result<Job, StepError>
    where
        F: FnMut(&mut Job) -> Result<Write, StepError>,
    {
        if !is_job_id(job_id) {
            return Err(StepError::invalid(format!("{job_id:?} is not a job id")));
        }
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut job) = self.store.get(job_id).await? else {
                return Err(StepError::not_found(format!("job {job_id} does not exist")));
            };
            let (read_version, before) = (job.version, job.status);
            if change(&mut job)? == Write::No {
                return Ok(job);
            }
            if job.status != before && !before.can_become(job.status) {
                return Err(StepError::internal(format!(
                    "job {job_id} cannot go from {before} to {}",
                    job.status
                )));
            }
            // A lifecycle job that ends gives its worker up first: if the
            // write below then fails, a retry finds the worker already free.
            if job.status.is_terminal()
                && !before.is_terminal()
                && let Some(name) = worker_of(&job)
            {
                self.modify_runs(name, |runs| (runs.finish(job_id), ()))
                    .await?;
            }
            job.id = job_id.to_string();
            job.updated_at = self.clock.now();
            match self.store.update(&job, read_version).await {
                Ok(()) => {
                    job.version = read_version + 1;
                    return Ok(job);
                }
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StepError::conflict(format!(
            "job {job_id} kept changing concurrently"
        )))
    }

    /// Records that `step` started on a running job and answers the job.
    pub async fn begin(&self, job_id: &str, step: &str) -> Result<Job, StepError> {
        let now = self.clock.now();
        self.modify(job_id, |job| {
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
    pub async fn finish(&self, job_id: &str, step: &str) -> Result<Job, StepError> {
        let now = self.clock.now();
        self.modify(job_id, |job| {
            job.end_step(step, true, now);
            Ok(Write::Yes)
        })
        .await
    }

    /// Runs `body` as step `step` of a running job: recorded before and after.
    pub async fn run_step<T, Fut>(
        &self,
        job_id: &str,
        step: &str,
        body: impl FnOnce(Job) -> Fut,
    ) -> Result<T, StepError>
    where
        Fut: Future<Output = Result<T, StepError>>,
    {
        let job = self.begin(job_id, step).await?;
        let out = body(job).await?;
        self.finish(job_id, step).await?;
        Ok(out)
    }
}
