//! What each family of handlers needs, as trait objects built once per
//! cold start (real adapters, in `jobs-runtime`) or per test (the
//! in-memory ports of `jobs-memory`) or local stack.

use std::sync::Arc;

use jobs_domain::params::Defaults;
use jobs_domain::ports::{
    ArtifactStore, BuildLogs, ExecutionStarter, IdentitySecrets, IdentityStore, IdentityVerifier,
    ReleaseImages, ResourceDiscovery, RunnerRegistry, RunnerStore, WorkerSecrets, WorkerServices,
    WorkerStore,
};
use jobs_domain::terraform::PlatformSettings;
use jobs_domain::{SecretString, StepError};

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

/// The scheduled and event-driven handlers (`refresh-scheduler`,
/// `execution-reconciler`, `job-sweeper`): the job service, the identities
/// and the execution starter, nothing else, so that those functions build
/// only these clients.
#[derive(Clone)]
pub struct ScheduleDeps {
    pub jobs: JobService,
    pub identities: Arc<dyn IdentityStore>,
    pub starter: Arc<dyn ExecutionStarter>,
    /// How many identities one scheduled refresh run starts at most.
    pub refresh_batch: usize,
    /// How long a QUEUED job may wait for its execution before the sweeper
    /// starts it.
    pub start_grace: chrono::Duration,
}

impl JobApiDeps {
    /// The part of the job API's dependencies the scheduled handlers use.
    pub fn schedule(&self) -> ScheduleDeps {
        ScheduleDeps {
            jobs: self.jobs.clone(),
            identities: self.identities.clone(),
            starter: self.starter.clone(),
            refresh_batch: self.refresh_batch,
            start_grace: self.start_grace,
        }
    }
}

/// The lease sweeper (`lease-sweeper`): the runners and the job service;
/// not the admin token, which its function therefore never reads.
#[derive(Clone)]
pub struct LeaseDeps {
    pub runners: Arc<dyn RunnerStore>,
    pub jobs: JobService,
    pub heartbeat_ttl: chrono::Duration,
}

impl RunnersApiDeps {
    /// The part of the registry's dependencies the lease sweeper uses.
    pub fn leases(&self) -> LeaseDeps {
        LeaseDeps {
            runners: self.runners.clone(),
            jobs: self.jobs.clone(),
            heartbeat_ttl: self.heartbeat_ttl,
        }
    }
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

/// What a step may use besides the job service, which every step has.
/// Each step lists its ports in [`crate::steps::Step::USES`]; a function
/// builds only those clients at cold start (and parses only their
/// settings), and the local stack hands each step only those, so a step
/// that reaches for another fails its tests instead of working by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// The cloud identities table and the inventories.
    Identities,
    /// The workers table.
    Workers,
    /// Checks that a cloud identity works (`sts:AssumeRole`, token exchanges).
    Verifier,
    /// Lists what a cloud identity can see.
    Discovery,
    /// The config bucket: rendered Terraform configurations, build results.
    Artifacts,
    /// The Runners' credential secrets.
    Secrets,
    /// The runner registry's HTTP API.
    Registry,
    /// The Runners' ECS services.
    Services,
    /// The Runner release images (ECR) and the platform's default release.
    Releases,
    /// The settings rendered into Runner stacks (state bucket, API URL, module).
    Platform,
}

/// The state machine steps' dependencies. The job service is always there;
/// every other port is present only when the step's `USES` names it, and
/// its accessor answers an internal error naming the port otherwise.
#[derive(Clone)]
pub struct StepDeps {
    pub jobs: JobService,
    pub identities: Option<Arc<dyn IdentityStore>>,
    pub workers: Option<Arc<dyn WorkerStore>>,
    pub verifier: Option<Arc<dyn IdentityVerifier>>,
    pub discovery: Option<Arc<dyn ResourceDiscovery>>,
    pub artifacts: Option<Arc<dyn ArtifactStore>>,
    pub secrets: Option<Arc<dyn WorkerSecrets>>,
    pub registry: Option<Arc<dyn RunnerRegistry>>,
    pub services: Option<Arc<dyn WorkerServices>>,
    /// With the platform's Runner release (`RUNNER_IMAGE`): what an
    /// UPDATE_WORKER without an image rolls out, resolved to its digest
    /// when it runs.
    pub releases: Option<(Arc<dyn ReleaseImages>, String)>,
    pub platform: Option<PlatformSettings>,
}

fn unwired(port: Port) -> impl FnOnce() -> StepError {
    move || {
        StepError::internal(format!(
            "this function was built without the {port:?} port: add Port::{port:?} to its step's USES"
        ))
    }
}

impl StepDeps {
    /// Only the job service; add ports with the `with_*` builders.
    pub fn new(jobs: JobService) -> StepDeps {
        StepDeps {
            jobs,
            identities: None,
            workers: None,
            verifier: None,
            discovery: None,
            artifacts: None,
            secrets: None,
            registry: None,
            services: None,
            releases: None,
            platform: None,
        }
    }

    /// The same dependencies without the ports `uses` does not name.
    pub fn only(&self, uses: &[Port]) -> StepDeps {
        let keep = |p: Port| uses.contains(&p);
        StepDeps {
            jobs: self.jobs.clone(),
            identities: self.identities.clone().filter(|_| keep(Port::Identities)),
            workers: self.workers.clone().filter(|_| keep(Port::Workers)),
            verifier: self.verifier.clone().filter(|_| keep(Port::Verifier)),
            discovery: self.discovery.clone().filter(|_| keep(Port::Discovery)),
            artifacts: self.artifacts.clone().filter(|_| keep(Port::Artifacts)),
            secrets: self.secrets.clone().filter(|_| keep(Port::Secrets)),
            registry: self.registry.clone().filter(|_| keep(Port::Registry)),
            services: self.services.clone().filter(|_| keep(Port::Services)),
            releases: self.releases.clone().filter(|_| keep(Port::Releases)),
            platform: self.platform.clone().filter(|_| keep(Port::Platform)),
        }
    }

    pub fn identities(&self) -> Result<&dyn IdentityStore, StepError> {
        self.identities
            .as_deref()
            .ok_or_else(unwired(Port::Identities))
    }

    pub fn workers(&self) -> Result<&dyn WorkerStore, StepError> {
        self.workers.as_deref().ok_or_else(unwired(Port::Workers))
    }

    pub fn verifier(&self) -> Result<&dyn IdentityVerifier, StepError> {
        self.verifier.as_deref().ok_or_else(unwired(Port::Verifier))
    }

    pub fn discovery(&self) -> Result<&dyn ResourceDiscovery, StepError> {
        self.discovery
            .as_deref()
            .ok_or_else(unwired(Port::Discovery))
    }

    pub fn artifacts(&self) -> Result<&dyn ArtifactStore, StepError> {
        self.artifacts
            .as_deref()
            .ok_or_else(unwired(Port::Artifacts))
    }

    pub fn secrets(&self) -> Result<&dyn WorkerSecrets, StepError> {
        self.secrets.as_deref().ok_or_else(unwired(Port::Secrets))
    }

    pub fn registry(&self) -> Result<&dyn RunnerRegistry, StepError> {
        self.registry.as_deref().ok_or_else(unwired(Port::Registry))
    }

    pub fn services(&self) -> Result<&dyn WorkerServices, StepError> {
        self.services.as_deref().ok_or_else(unwired(Port::Services))
    }

    pub fn releases(&self) -> Result<&dyn ReleaseImages, StepError> {
        self.releases
            .as_ref()
            .map(|(r, _)| r.as_ref())
            .ok_or_else(unwired(Port::Releases))
    }

    /// The platform's Runner release (`RUNNER_IMAGE`), with [`Port::Releases`].
    pub fn release_image(&self) -> Result<&str, StepError> {
        self.releases
            .as_ref()
            .map(|(_, image)| image.as_str())
            .ok_or_else(unwired(Port::Releases))
    }

    pub fn platform(&self) -> Result<&PlatformSettings, StepError> {
        self.platform.as_ref().ok_or_else(unwired(Port::Platform))
    }
}
