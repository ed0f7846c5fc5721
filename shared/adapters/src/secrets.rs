//! A worker's credentials in its Secrets Manager secret (created empty by
//! Terraform in the worker's region, filled by the RegisterWorker step, read
//! by ECS through `valueFrom` when the task starts). The client is made for
//! the worker's region on each call; the endpoint still comes from the
//! standard SDK configuration.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_domain::ports::{PortResult, WorkerSecrets};
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
