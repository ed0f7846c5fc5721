//! A worker's credentials in its Secrets Manager secret (created empty by
//! Terraform in the worker's region, filled by the RegisterWorker step, read
//! by ECS through `valueFrom` when the task starts). The client is made for
//! the worker's region on each call; the endpoint still comes from the
//! standard SDK configuration.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_domain::owner::scoped;
use jobs_domain::ports::{IdentitySecrets, PortResult, WorkerSecrets};
use jobs_domain::{SecretString, StepError};

use crate::aws::{classify, error_code};

pub struct SecretsManagerWorkerSecrets {
    config: SdkConfig,
}

impl SecretsManagerWorkerSecrets {
    pub fn new(config: SdkConfig) -> Self {
        SecretsManagerWorkerSecrets { config }
    }

    fn client(&self, region: &str) -> Client {
        let conf = aws_sdk_secretsmanager::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()))
            .build();
        Client::from_conf(conf)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Value {
    worker_id: String,
    token: String,
}

#[async_trait]
impl WorkerSecrets for SecretsManagerWorkerSecrets {
    async fn put(
        &self,
        region: &str,
        secret_arn: &str,
        worker_id: &str,
        token: &SecretString,
    ) -> PortResult<()> {
        let body = serde_json::to_string(&Value {
            worker_id: worker_id.to_string(),
            token: token.expose().to_string(),
        })
        .map_err(|e| StepError::internal(format!("encoding the worker secret: {e}")))?;
        self.client(region)
            .put_secret_value()
            .secret_id(secret_arn)
            .secret_string(body)
            .send()
            .await
            .map_err(|e| classify(&format!("writing the worker's secret in {region}"), e))?;
        Ok(())
    }

    async fn get(
        &self,
        region: &str,
        secret_arn: &str,
    ) -> PortResult<Option<(String, SecretString)>> {
        let result = self
            .client(region)
            .get_secret_value()
            .secret_id(secret_arn)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            // A secret without a value yet answers ResourceNotFoundException.
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(classify("reading the worker's secret", e)),
        };
        let Some(text) = out.secret_string else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            StepError::internal("the worker's secret does not hold {worker_id, token}")
        })?;
        Ok(Some((v.worker_id, SecretString::new(v.token))))
    }
}

/// The secrets the platform keeps for cloud identities, one per identity
/// under `{prefix}{identity id}`, in the platform's own region.
pub struct SecretsManagerIdentitySecrets {
    client: Client,
    prefix: String,
    kms_key: Option<String>,
}

impl SecretsManagerIdentitySecrets {
    /// `prefix` is the platform's secret name prefix, e.g.
    /// `worker-jobs/cloud-identities/`.
    pub fn new(config: &SdkConfig, prefix: impl Into<String>) -> Self {
        SecretsManagerIdentitySecrets {
            client: Client::new(config),
            prefix: prefix.into(),
            kms_key: None,
        }
    }

    /// Encrypts new secrets with this KMS key (else the AWS managed key).
    pub fn with_kms_key(mut self, key: Option<String>) -> Self {
        self.kms_key = key;
        self
    }
}

#[async_trait]
impl IdentitySecrets for SecretsManagerIdentitySecrets {
    async fn put(
        &self,
        owner: &str,
        identity_id: &str,
        value: &SecretString,
    ) -> PortResult<String> {
        // One secret per identity: `{prefix}{owner}/{id}`.
        let name = format!("{}{}", self.prefix, scoped(owner, identity_id));
        let created = self
            .client
            .create_secret()
            .name(&name)
            .description(
                "A cloud identity's client secret (written by the job API, read by discovery)",
            )
            .set_kms_key_id(self.kms_key.clone())
            .secret_string(value.expose())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("cloud-identity")
                    .value(identity_id)
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("owner")
                    .value(owner)
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(out) => out
                .arn
                .ok_or_else(|| StepError::internal("CreateSecret answered without an ARN")),
            Err(e) if error_code(&e) == Some("ResourceExistsException") => {
                let out = self
                    .client
                    .put_secret_value()
                    .secret_id(&name)
                    .secret_string(value.expose())
                    .send()
                    .await
                    .map_err(|e| classify("storing the identity's client secret", e))?;
                out.arn
                    .ok_or_else(|| StepError::internal("PutSecretValue answered without an ARN"))
            }
            Err(e) => Err(classify("creating the identity's client secret", e)),
        }
    }

    async fn get(&self, reference: &str) -> PortResult<SecretString> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(reference)
            .send()
            .await
            .map_err(|e| match error_code(&e) {
                Some("ResourceNotFoundException") => StepError::not_found(
                    "the identity's client secret is gone; PUT the identity again with client_secret",
                ),
                _ => classify("reading the identity's client secret", e),
            })?;
        out.secret_string
            .map(SecretString::new)
            .ok_or_else(|| StepError::not_found("the identity's client secret has no value"))
    }
}
