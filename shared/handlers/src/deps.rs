//! What each family of handlers needs, as trait objects built once per
//! cold start (real adapters) or per test / local stack.

use std::sync::Arc;

use jobs_domain::SecretString;
use jobs_domain::params::Defaults;
use jobs_domain::ports::{
    ArtifactStore, Clock, ExecutionStarter, IdentityStore, IdentityVerifier, JobStore,
    ResourceDiscovery, RunnerRegistry, RunnerStore, WorkerSecrets, WorkerServices, WorkerStore,
};
use jobs_domain::terraform::PlatformSettings;

/// The job API (`POST /api/jobs`, cloud identities).
#[derive(Clone)]
pub struct JobApiDeps {
    pub jobs: Arc<dyn JobStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub workers: Arc<dyn WorkerStore>,
    pub starter: Arc<dyn ExecutionStarter>,
    pub clock: Arc<dyn Clock>,
    pub defaults: Defaults,
}

/// The runner registry API.
#[derive(Clone)]
pub struct RunnersApiDeps {
    pub runners: Arc<dyn RunnerStore>,
    pub jobs: Arc<dyn JobStore>,
    /// Authorises the platform's own calls (register, list, remove).
    pub admin_token: SecretString,
    pub heartbeat_ttl: chrono::Duration,
    pub clock: Arc<dyn Clock>,
}

/// The state machine steps.
#[derive(Clone)]
pub struct StepDeps {
    pub jobs: Arc<dyn JobStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub workers: Arc<dyn WorkerStore>,
    pub verifier: Arc<dyn IdentityVerifier>,
    pub discovery: Arc<dyn ResourceDiscovery>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub secrets: Arc<dyn WorkerSecrets>,
    pub registry: Arc<dyn RunnerRegistry>,
    pub services: Arc<dyn WorkerServices>,
    pub platform: PlatformSettings,
    pub clock: Arc<dyn Clock>,
}
