//! What each family of handlers needs, as trait objects built once per
//! cold start (real adapters, in `jobs-runtime`) or per test (the
//! in-memory ports of `jobs-memory`) or local stack.

use std::sync::Arc;

use jobs_domain::SecretString;
use jobs_domain::params::Defaults;
use jobs_domain::ports::{
    ArtifactStore, BuildLogs, ExecutionStarter, IdentitySecrets, IdentityStore, IdentityVerifier,
    ReleaseImages, ResourceDiscovery, RunnerRegistry, RunnerStore, WorkerSecrets, WorkerServices,
    WorkerStore,
};
use jobs_domain::terraform::PlatformSettings;

use crate::caller::OwnerSource;
use crate::job_service::JobService;

/// The job API (`POST /api/jobs`, cloud identities), the scheduled refresh
/// and the execution reconciler.
#[derive(Clone)]
pub struct JobApiDeps {
    pub jobs: JobService,
    pub identities: Arc<dyn IdentityStore>,
    /// Where identities' client secrets are written (write-only here).
    pub identity_secrets: Arc<dyn IdentitySecrets>,
    pub workers: Arc<dyn WorkerStore>,
    pub starter: Arc<dyn ExecutionStarter>,
    pub defaults: Defaults,
    /// How long a QUEUED job may wait for its execution before the sweeper
    /// starts it (a start lost between the write and StartExecution).
    pub start_grace: chrono::Duration,
    /// Where running Terraform builds report their progress.
    pub build_reports: Arc<dyn ArtifactStore>,
    /// The builds' output (CloudWatch Logs).
    pub build_logs: Arc<dyn BuildLogs>,
    /// How many identities one scheduled refresh run starts at most.
    pub refresh_batch: usize,
    /// Where a request's owner comes from (a JWT claim or a header).
    pub owner_source: OwnerSource,
}

/// The runner registry API.
#[derive(Clone)]
pub struct RunnersApiDeps {
    pub runners: Arc<dyn RunnerStore>,
    pub jobs: JobService,
    /// Authorises the platform's own calls (register, list, remove).
    pub admin_token: SecretString,
    pub heartbeat_ttl: chrono::Duration,
}

/// The state machine steps.
#[derive(Clone)]
pub struct StepDeps {
    pub jobs: JobService,
    pub identities: Arc<dyn IdentityStore>,
    pub workers: Arc<dyn WorkerStore>,
    pub verifier: Arc<dyn IdentityVerifier>,
    pub discovery: Arc<dyn ResourceDiscovery>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub secrets: Arc<dyn WorkerSecrets>,
    pub registry: Arc<dyn RunnerRegistry>,
    pub services: Arc<dyn WorkerServices>,
    pub releases: Arc<dyn ReleaseImages>,
    /// The platform's Runner release (`RUNNER_IMAGE`): what an UPDATE_WORKER
    /// without an image rolls out, resolved to its digest when it runs.
    pub release_image: String,
    pub platform: PlatformSettings,
}
