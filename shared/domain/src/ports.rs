//! The traits through which the handlers reach storage, AWS, the runner
//! registry and time. Real adapters live in `jobs-adapters`. Every method
//! reports failures as a [`StepError`] whose kind says whether a retry can
//! help (`Throttled`, `Unavailable`, `Conflict`) or not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::StepError;
use crate::identity::CloudIdentity;
use crate::inventory::Inventory;
use crate::job::{Job, JobStatus, JobSummary, JobType, OpenJob};
use crate::runner::{RegisterRequest, Registration, Runner};
use crate::runs::WorkerRuns;
use crate::secret::SecretString;
use crate::worker::{ServiceState, Worker};

pub type PortResult<T> = Result<T, StepError>;

/// The source of "now".
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Filters for listing jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub job_type: Option<JobType>,
    pub status: Option<JobStatus>,
}

/// A page of results with an opaque cursor for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// An idempotency key bound to the request it was first used with. Keys
/// are scoped to their owner: two owners' equal keys are two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub owner: String,
    pub key: String,
    /// A hash of the request body: the same key with another body is refused.
    pub request_hash: String,
}

/// What `JobStore::create` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New,
    /// The idempotency key was already bound to this job.
    Existing(Box<Job>),
    /// The idempotency key was already bound to a different request.
    KeyReused,
}

/// Job records.
///
/// Writes are conditional: `update` succeeds only if the stored version is
/// `expected_version` (else `ErrorKind::Conflict`) and stores
/// `expected_version + 1`. `create` writes the job and binds the
/// idempotency key atomically: both or neither.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn create(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Created>;
    /// What an idempotency key is already bound to: `None` when unused,
    /// `Existing` for the same request, `KeyReused` for another one.
    async fn find_key(&self, key: &IdempotencyKey) -> PortResult<Option<Created>>;
    async fn get(&self, id: &str) -> PortResult<Option<Job>>;
    async fn update(&self, job: &Job, expected_version: u64) -> PortResult<()>;
    /// Lists an owner's jobs, newest first, one page of at most `limit`,
    /// read from an index keyed by the owner and the filters (one bounded
    /// read per page); the cursor comes from a previous page of the same
    /// listing (`ErrorKind::InvalidInput` if forged or issued for another
    /// owner or other filters).
    async fn list(
        &self,
        owner: &str,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<Page<JobSummary>>;
    /// Jobs of every owner in `status` (QUEUED or RUNNING) that run a state
    /// machine (runner jobs are not among them), at most `limit`, oldest
    /// first: what the sweeper and the refresh scheduler look at. Read from
    /// a sparse index keyed by status and spread over shards, one page per
    /// shard.
    async fn open_jobs(&self, status: JobStatus, limit: usize) -> PortResult<Vec<OpenJob>>;
    /// Forgets an idempotency key (used when the job it named could not start).
    async fn release_key(&self, key: &IdempotencyKey) -> PortResult<()>;
    /// Queued runner jobs of a queue (`Job::queue`: an owner's pool), oldest
    /// first (every page read).
    async fn queued_runner_jobs(&self, queue: &str, limit: usize) -> PortResult<Vec<Job>>;
    /// The unfinished (RUNNING) runner jobs a runner holds, oldest first,
    /// read page by page from an index that holds nothing else.
    async fn runner_jobs_of(&self, runner_id: &str) -> PortResult<Vec<Job>>;
}

/// Cloud identities and their cached inventory, keyed by owner and id.
///
/// `put` is conditional on the version (`Conflict`); `save_inventory`
/// stores an inventory of any size whole (readers never see half of one).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn get(&self, owner: &str, id: &str) -> PortResult<Option<CloudIdentity>>;
    /// Creates (`expected_version` None) or replaces an identity.
    async fn put(&self, identity: &CloudIdentity, expected_version: Option<u64>) -> PortResult<()>;
    async fn save_inventory(&self, owner: &str, id: &str, inventory: &Inventory) -> PortResult<()>;
    async fn inventory(&self, owner: &str, id: &str) -> PortResult<Option<Inventory>>;
    /// Every identity of every owner with when its inventory was last
    /// fetched, all pages, in no particular order.
    async fn list_fetched(&self) -> PortResult<Vec<Fetched>>;
}

/// An identity as the refresh scheduler reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub owner: String,
    pub id: String,
    /// `None`: never fetched.
    pub fetched_at: Option<DateTime<Utc>>,
}

/// Worker deployment records, keyed by worker name.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    async fn get(&self, name: &str) -> PortResult<Option<Worker>>;
    /// Creates (`expected_version` None: fails with `Conflict` if the name
    /// exists) or replaces conditionally on the version.
    async fn put(&self, worker: &Worker, expected_version: Option<u64>) -> PortResult<()>;
}

/// The run queues of the workers' lifecycle jobs, by worker name.
///
/// `put` creates (`expected_version` None: `Conflict` if the name exists) or
/// replaces conditionally on the version, and stores `expected + 1`.
#[async_trait]
pub trait RunQueues: Send + Sync {
    async fn get(&self, name: &str) -> PortResult<Option<WorkerRuns>>;
    async fn put(&self, runs: &WorkerRuns, expected_version: Option<u64>) -> PortResult<()>;
}

/// The registry's own storage (behind the runners API).
///
/// `create` fails with `Conflict` if the id exists; `update` is conditional
/// on the version.
#[async_trait]
pub trait RunnerStore: Send + Sync {
    async fn create(&self, runner: &Runner) -> PortResult<()>;
    async fn get(&self, id: &str) -> PortResult<Option<Runner>>;
    async fn update(&self, runner: &Runner, expected_version: u64) -> PortResult<()>;
    /// Removes a runner; answers whether it existed.
    async fn delete(&self, id: &str) -> PortResult<bool>;
    async fn list(&self) -> PortResult<Vec<Runner>>;
}

/// The runner registry as the jobs reach it (over HTTP, at a configured
/// base URL: our runners API or the platform's own).
///
/// `register` is idempotent per runner id: a retry answers the same runner
/// with a fresh token. `deregister` answers whether a runner was removed.
#[async_trait]
pub trait RunnerRegistry: Send + Sync {
    async fn register(&self, request: &RegisterRequest) -> PortResult<Registration>;
    async fn exists(&self, id: &str) -> PortResult<bool>;
    async fn deregister(&self, id: &str) -> PortResult<bool>;
}

/// Starts the state machine of a job.
///
/// Idempotent: the execution is named by the job id with the same input,
/// so starting twice answers the same execution.
#[async_trait]
pub trait ExecutionStarter: Send + Sync {
    async fn start(&self, state_machine: &str, job_id: &str, input: &Value) -> PortResult<String>;
}

/// Who the platform is inside a customer's account after assuming a role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// Assumes a customer's identity and checks it works. Temporary
/// credentials never leave the implementation.
#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    async fn verify(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<CallerIdentity>;
}

/// Discovers a customer's resources (every page, regions and types in
/// parallel with a bound). Per-(type, region) failures are reported in the
/// inventory's outcomes; only a failure to get in at all is an error.
#[async_trait]
pub trait ResourceDiscovery: Send + Sync {
    async fn discover(&self, identity: &CloudIdentity, session_name: &str)
    -> PortResult<Inventory>;
}

/// Stores the Terraform builds' files by key: the rendered root
/// configurations and the result objects the builds write back.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Writes (overwrites) `key`; answers its URI (`s3://bucket/key`).
    async fn put(&self, key: &str, body: Vec<u8>) -> PortResult<String>;
    /// Reads `key`; `None` when there is no such object.
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>>;
    /// The URI `put` would answer for `key`, for a build to write to.
    fn uri(&self, key: &str) -> String;
}

/// One page of a build's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    pub lines: Vec<String>,
    /// Where the next page starts: give it back for the lines after these
    /// (also those written later, while the build runs).
    pub next_token: String,
}

/// Reads a build's output (CloudWatch Logs on AWS), oldest line first.
#[async_trait]
pub trait BuildLogs: Send + Sync {
    /// Up to `limit` lines of `group`/`stream` from `token` (`None`: from
    /// the first line). A page with no lines means nothing more is written
    /// yet. A stream not written yet reads as empty; a token this store did
    /// not give is `InvalidInput`.
    async fn page(
        &self,
        group: &str,
        stream: &str,
        token: Option<&str>,
        limit: usize,
    ) -> PortResult<LogPage>;
}

/// A worker's credentials in its Secrets Manager secret, which lives in the
/// worker's region (every call names it: a secret is not found elsewhere).
#[async_trait]
pub trait WorkerSecrets: Send + Sync {
    /// Writes `{"worker_id", "token"}` as the secret's current value;
    /// `NotFound` when the secret does not exist in `region`.
    async fn put(
        &self,
        region: &str,
        secret_arn: &str,
        worker_id: &str,
        token: &SecretString,
    ) -> PortResult<()>;
    /// Reads them back; `None` when the secret has no value yet.
    async fn get(
        &self,
        region: &str,
        secret_arn: &str,
    ) -> PortResult<Option<(String, SecretString)>>;
}

/// Secrets the platform keeps for cloud identities (an Azure client
/// secret), one per identity, in the platform's own region.
///
/// `put` is idempotent: it creates the identity's secret or stores a new
/// current value in it, and returns the secret's reference (its ARN), the
/// same for every call with the same owner and identity id.
#[async_trait]
pub trait IdentitySecrets: Send + Sync {
    async fn put(&self, owner: &str, identity_id: &str, value: &SecretString)
    -> PortResult<String>;
    /// The current value; `NotFound` when the secret or its value is gone.
    async fn get(&self, reference: &str) -> PortResult<SecretString>;
}

/// Resolves a container image reference to the image it names now.
///
/// An image in a private ECR registry (`<account>.dkr.ecr.<region>.
/// amazonaws.com/<repository>:<tag>`) answers `…/<repository>@sha256:<digest>`,
/// so that a task definition pins what runs; a reference already pinned by
/// digest, or in a registry we cannot ask, answers itself. `NotFound` when
/// the tag does not exist.
#[async_trait]
pub trait ReleaseImages: Send + Sync {
    async fn resolve(&self, image: &str) -> PortResult<String>;
}

/// A worker's ECS service (in the worker's region).
#[async_trait]
pub trait WorkerServices: Send + Sync {
    async fn set_desired_count(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> PortResult<()>;
    /// The service's current task definition and deployments; `NotFound`
    /// when the service does not exist.
    async fn state(&self, region: &str, cluster: &str, service: &str) -> PortResult<ServiceState>;
}
