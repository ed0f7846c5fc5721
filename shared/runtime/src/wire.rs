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
use jobs_handlers::{JobApiDeps, JobService, RunnersApiDeps, StepDeps};

use crate::config::{
    Common, ConfigError, IDENTITY_SECRET_PREFIX, JobApiConfig, RunnersApiConfig, StepConfig,
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

pub fn step_deps(config: &StepConfig, sdk: &SdkConfig) -> Result<StepDeps, ConfigError> {
    let names = TableNames::new(&config.common.table_prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let rest = Rest::new(PROVIDER_ATTEMPT_TIMEOUT).map_err(|e| ConfigError::Startup(e.message))?;
    let cloud = Arc::new(CloudProviders {
        aws: AwsCloud::new(sdk.clone()).with_concurrency(config.discovery_concurrency),
        gcp: GcpCloud::new(rest.clone(), config.gcp.clone(), sdk.clone())
            .with_concurrency(config.discovery_concurrency),
        azure: AzureCloud::new(
            rest,
            config.azure.clone(),
            Arc::new(SecretsManagerIdentitySecrets::new(
                sdk,
                IDENTITY_SECRET_PREFIX,
            )),
        ),
    });
    let registry = HttpRunnerRegistry::new(
        &config.registry_url,
        AdminToken::from_secret(secrets.clone(), config.admin_token_secret_id.clone()),
    )
    .map_err(|e| ConfigError::Startup(e.to_string()))?;
    Ok(StepDeps {
        jobs: job_service(&dynamo, &names, &config.common),
        identities: Arc::new(DynamoIdentityStore::new(dynamo.clone(), &names)),
        workers: Arc::new(DynamoWorkerStore::new(dynamo, &names)),
        verifier: cloud.clone(),
        discovery: cloud,
        artifacts: Arc::new(S3ArtifactStore::new(
            S3ArtifactStore::client(sdk, config.s3_force_path_style),
            config.config_bucket.clone(),
        )),
        secrets: Arc::new(SecretsManagerWorkerSecrets::new(sdk.clone())),
        registry: Arc::new(registry),
        services: Arc::new(EcsWorkerServices::new(sdk.clone())),
        releases: Arc::new(EcrReleaseImages::new(sdk.clone())),
        release_image: config.release_image.clone(),
        platform: config.platform.clone(),
    })
}
