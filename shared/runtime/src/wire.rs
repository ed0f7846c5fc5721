//! Real adapters assembled into each handler family's dependencies.

use std::sync::Arc;

use aws_types::SdkConfig;
use jobs_adapters::azure::AzureCloud;
use jobs_adapters::cloud::AwsCloud;
use jobs_adapters::dynamo::identities::DynamoIdentityStore;
use jobs_adapters::dynamo::jobs::DynamoJobStore;
use jobs_adapters::dynamo::runners::DynamoRunnerStore;
use jobs_adapters::dynamo::workers::{DynamoRunQueues, DynamoWorkerStore};
use jobs_adapters::ecr::EcrReleaseImages;
use jobs_adapters::ecs::EcsWorkerServices;
use jobs_adapters::gcp::GcpCloud;
use jobs_adapters::logs::CloudWatchBuildLogs;
use jobs_adapters::providers::CloudProviders;
use jobs_adapters::registry_http::{AdminToken, HttpRunnerRegistry};
use jobs_adapters::rest::Rest;
use jobs_adapters::s3::S3ArtifactStore;
use jobs_adapters::secrets::{SecretsManagerIdentitySecrets, SecretsManagerWorkerSecrets};
use jobs_adapters::sfn::SfnExecutionStarter;
use jobs_adapters::tables::TableNames;
use jobs_domain::ports::SystemClock;
use jobs_handlers::steps::Step;
use jobs_handlers::{
    JobApiDeps, JobService, LeaseDeps, Port, RunnersApiDeps, ScheduleDeps, StepDeps,
};

use crate::config::{
    Common, ConfigError, IDENTITY_SECRET_PREFIX, JobApiConfig, LeaseConfig, RunnersApiConfig,
    ScheduleConfig, StepConfig,
};

/// How long one HTTP attempt to Google or Azure may take.
const PROVIDER_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The job service over the jobs table and the run queues, on the wall clock.
pub fn job_service(
    dynamo: &aws_sdk_dynamodb::Client,
    names: &TableNames,
    common: &Common,
) -> JobService {
    JobService::new(
        Arc::new(DynamoJobStore::new(dynamo.clone(), names).with_retention(common.retention)),
        Arc::new(DynamoRunQueues::new(dynamo.clone(), names)),
        Arc::new(SystemClock),
    )
}

/// The job API's dependencies. `sfn_client` may point elsewhere than the
/// other clients (the local stack's Step Functions engine).
pub fn job_api_deps(
    config: &JobApiConfig,
    sdk: &SdkConfig,
    sfn_client: aws_sdk_sfn::Client,
) -> JobApiDeps {
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    JobApiDeps {
        jobs: job_service(&dynamo, &names, &config.common),
        identities: Arc::new(DynamoIdentityStore::new(dynamo.clone(), &names)),
        identity_secrets: Arc::new(
            SecretsManagerIdentitySecrets::new(sdk, config.identity_secret_prefix.clone())
                .with_kms_key(config.identity_secret_kms_key.clone()),
        ),
        workers: Arc::new(DynamoWorkerStore::new(dynamo, &names)),
        starter: Arc::new(SfnExecutionStarter::new(
            sfn_client,
            config.state_machine_arn_prefix.clone(),
        )),
        defaults: config.defaults.clone(),
        start_grace: chrono::Duration::seconds(config.start_grace_seconds),
        build_reports: Arc::new(S3ArtifactStore::new(
            S3ArtifactStore::client(sdk, config.s3_force_path_style),
            config.config_bucket.clone(),
        )),
        build_logs: Arc::new(CloudWatchBuildLogs::from_sdk(sdk)),
        refresh_batch: config.refresh_batch.max(1),
        owner_source: config.owner_source.clone(),
    }
}

/// The scheduled handlers' dependencies: DynamoDB and Step Functions only.
pub fn schedule_deps(config: &ScheduleConfig, sdk: &SdkConfig) -> ScheduleDeps {
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    ScheduleDeps {
        jobs: job_service(&dynamo, &names, &config.common),
        identities: Arc::new(DynamoIdentityStore::new(dynamo, &names)),
        starter: Arc::new(SfnExecutionStarter::new(
            aws_sdk_sfn::Client::new(sdk),
            config.state_machine_arn_prefix.clone(),
        )),
        refresh_batch: config.refresh_batch.max(1),
        start_grace: chrono::Duration::seconds(config.start_grace_seconds),
    }
}

/// The lease sweeper's dependencies: DynamoDB only (no admin token).
pub fn lease_deps(config: &LeaseConfig, sdk: &SdkConfig) -> LeaseDeps {
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    LeaseDeps {
        runners: Arc::new(DynamoRunnerStore::new(dynamo.clone(), &names)),
        jobs: job_service(&dynamo, &names, &config.common),
        heartbeat_ttl: chrono::Duration::seconds(config.heartbeat_ttl_seconds),
    }
}

/// Reads the registry's admin token from Secrets Manager.
pub async fn admin_token(
    sdk: &SdkConfig,
    secret_id: &str,
) -> Result<jobs_domain::SecretString, ConfigError> {
    AdminToken::from_secret(aws_sdk_secretsmanager::Client::new(sdk), secret_id)
        .get()
        .await
        .map_err(|e| {
            ConfigError::Startup(format!(
                "reading REGISTRY_ADMIN_TOKEN_SECRET_ID {secret_id}: {e}"
            ))
        })
}

pub async fn runners_api_deps(
    config: &RunnersApiConfig,
    sdk: &SdkConfig,
) -> Result<RunnersApiDeps, ConfigError> {
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    Ok(RunnersApiDeps {
        runners: Arc::new(DynamoRunnerStore::new(dynamo.clone(), &names)),
        jobs: job_service(&dynamo, &names, &config.common),
        admin_token: admin_token(sdk, &config.admin_token_secret_id).await?,
        heartbeat_ttl: chrono::Duration::seconds(config.heartbeat_ttl_seconds),
    })
}

/// A set of [`Port`]s as bits, so that a step's `USES` can become a
/// compile-time constant (`const fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSet(u16);

impl PortSet {
    pub const fn of(uses: &[Port]) -> PortSet {
        let mut bits = 0u16;
        let mut i = 0;
        while i < uses.len() {
            bits |= 1 << uses[i] as u16;
            i += 1;
        }
        PortSet(bits)
    }

    pub const fn has(self, port: Port) -> bool {
        self.0 & (1 << port as u16) != 0
    }
}

/// The dependencies of step `S`, for its Lambda function. `S::USES` is a
/// constant here, so the branches that build other ports' adapters are
/// dead code and the linker leaves those adapters, and the SDKs only they
/// call, out of the function's binary: what keeps each zip small.
pub fn step_deps_of<S: Step>(
    config: &StepConfig,
    sdk: &SdkConfig,
) -> Result<StepDeps, ConfigError> {
    wire_ports(config, sdk, const { PortSet::of(S::USES) })
}

/// The dependencies of a step whose `USES` is `uses`, chosen when the
/// program runs (the local stack, which serves every step from one
/// process). `config` must have been parsed with the same `uses`.
pub fn step_deps(
    config: &StepConfig,
    sdk: &SdkConfig,
    uses: &[Port],
) -> Result<StepDeps, ConfigError> {
    wire_ports(config, sdk, PortSet::of(uses))
}

/// The job service, and only the clients of the ports in `ports` (each SDK
/// client, the HTTP client for Google and Azure, the registry's, costs
/// cold-start time). Always inlined: in [`step_deps_of`] that is what makes
/// `ports` a constant the optimizer folds.
#[inline(always)]
fn wire_ports(
    config: &StepConfig,
    sdk: &SdkConfig,
    ports: PortSet,
) -> Result<StepDeps, ConfigError> {
    let wants = |p: Port| ports.has(p);
    let missing = |what: &str| {
        ConfigError::Startup(format!(
            "the step configuration has no {what} settings: parse it with the step's USES"
        ))
    };
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let mut deps = StepDeps::new(job_service(&dynamo, &names, &config.common));
    if wants(Port::Identities) {
        deps.identities = Some(Arc::new(DynamoIdentityStore::new(dynamo.clone(), &names)));
    }
    if wants(Port::Workers) {
        deps.workers = Some(Arc::new(DynamoWorkerStore::new(dynamo, &names)));
    }
    if wants(Port::Verifier) || wants(Port::Discovery) {
        let clouds = config.clouds.as_ref().ok_or_else(|| missing("cloud"))?;
        let rest =
            Rest::new(PROVIDER_ATTEMPT_TIMEOUT).map_err(|e| ConfigError::Startup(e.message))?;
        let providers = Arc::new(CloudProviders {
            aws: AwsCloud::new(sdk.clone()).with_concurrency(clouds.discovery_concurrency),
            gcp: GcpCloud::new(rest.clone(), clouds.gcp.clone(), sdk.clone())
                .with_concurrency(clouds.discovery_concurrency),
            azure: AzureCloud::new(
                rest,
                clouds.azure.clone(),
                Arc::new(SecretsManagerIdentitySecrets::new(
                    sdk,
                    IDENTITY_SECRET_PREFIX,
                )),
            ),
        });
        if wants(Port::Verifier) {
            deps.verifier = Some(providers.clone());
        }
        if wants(Port::Discovery) {
            deps.discovery = Some(providers);
        }
    }
    if wants(Port::Artifacts) {
        let a = config
            .artifacts
            .as_ref()
            .ok_or_else(|| missing("artifacts"))?;
        deps.artifacts = Some(Arc::new(S3ArtifactStore::new(
            S3ArtifactStore::client(sdk, a.s3_force_path_style),
            a.config_bucket.clone(),
        )));
    }
    if wants(Port::Secrets) {
        deps.secrets = Some(Arc::new(SecretsManagerWorkerSecrets::new(sdk.clone())));
    }
    if wants(Port::Registry) {
        let r = config
            .registry
            .as_ref()
            .ok_or_else(|| missing("registry"))?;
        let registry = HttpRunnerRegistry::new(
            &r.url,
            AdminToken::from_secret(
                aws_sdk_secretsmanager::Client::new(sdk),
                r.admin_token_secret_id.clone(),
            ),
        )
        .map_err(|e| ConfigError::Startup(e.to_string()))?;
        deps.registry = Some(Arc::new(registry));
    }
    if wants(Port::Services) {
        deps.services = Some(Arc::new(EcsWorkerServices::new(sdk.clone())));
    }
    if wants(Port::Releases) {
        let image = config
            .release_image
            .clone()
            .ok_or_else(|| missing("release"))?;
        deps.releases = Some((Arc::new(EcrReleaseImages::new(sdk.clone())), image));
    }
    if wants(Port::Platform) {
        deps.platform = Some(config.platform.clone().ok_or_else(|| missing("platform"))?);
    }
    Ok(deps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;
    use jobs_handlers::steps::{self, DiscoverResources};

    const ALL: [Port; 10] = [
        Port::Identities,
        Port::Workers,
        Port::Verifier,
        Port::Discovery,
        Port::Artifacts,
        Port::Secrets,
        Port::Registry,
        Port::Services,
        Port::Releases,
        Port::Platform,
    ];

    #[test]
    fn a_port_set_holds_exactly_the_ports_it_was_made_of() {
        for step in steps::all() {
            let set = PortSet::of(step.uses);
            for port in ALL {
                assert_eq!(
                    set.has(port),
                    step.uses.contains(&port),
                    "{} {port:?}",
                    step.function
                );
            }
        }
        assert!(ALL.iter().all(|p| PortSet::of(&ALL).has(*p)));
        assert!(ALL.iter().all(|p| !PortSet::of(&[]).has(*p)));
    }

    #[test]
    fn a_function_wires_its_steps_ports_and_no_other() {
        let vars = [("TABLE_PREFIX", "t-")];
        let env = Env::from_fn(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        });
        let config = StepConfig::from_env(&env, DiscoverResources::USES).unwrap();
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("eu-west-1"))
            .build();
        let deps = step_deps_of::<DiscoverResources>(&config, &sdk).unwrap();
        assert!(deps.discovery.is_some() && deps.identities.is_some());
        assert!(deps.verifier.is_none() && deps.workers.is_none() && deps.registry.is_none());
        let same = step_deps(&config, &sdk, DiscoverResources::USES).unwrap();
        assert!(same.discovery.is_some() && same.verifier.is_none());
    }
}
