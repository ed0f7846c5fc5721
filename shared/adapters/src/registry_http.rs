//! The runner registry over HTTP: what the jobs call "Alethia". The base
//! URL is operator configuration; calls authenticate with the registry's
//! admin token (a secret, never logged).

use std::time::Duration;

use async_trait::async_trait;
use jobs_domain::ports::{PortResult, RunnerRegistry};
use jobs_domain::runner::RegisterRequest;
use jobs_domain::runner::Registration;
use jobs_domain::validate::identifier;
use jobs_domain::{ErrorKind, SecretString, StepError};
use serde_json::{Value, json};

/// Where the admin token comes from: a Secrets Manager secret read on first
/// use (so that steps that never call the registry never read it) and kept
/// for the life of the process.
pub enum AdminToken {
    Secret {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        cached: tokio::sync::OnceCell<SecretString>,
    },
}

impl AdminToken {
    pub fn from_secret(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
    ) -> Self {
        AdminToken::Secret {
            client,
            secret_id: secret_id.into(),
            cached: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn get(&self) -> PortResult<SecretString> {
        match self {
            AdminToken::Secret {
                client,
                secret_id,
                cached,
            } => cached
                .get_or_try_init(|| async {
                    let out = client
                        .get_secret_value()
                        .secret_id(secret_id)
                        .send()
                        .await
                        .map_err(|e| crate::aws::classify("reading the registry admin token", e))?;
                    out.secret_string.map(SecretString::new).ok_or_else(|| {
                        StepError::internal(format!("the secret {secret_id} has no string value"))
                    })
                })
                .await
                .cloned(),
        }
    }
}

pub struct HttpRunnerRegistry {
    base_url: String,
    admin_token: AdminToken,
    client: reqwest::Client,
}

impl HttpRunnerRegistry {
    pub fn new(base_url: &str, admin_token: AdminToken) -> Result<Self, StepError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| StepError::internal(format!("building the registry HTTP client: {e}")))?;
        Ok(HttpRunnerRegistry {
            base_url: base_url.trim_end_matches('/').to_string(),
            admin_token,
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> PortResult<(u16, Value)> {
        let token = self.admin_token.get().await?;
        let resp = req.bearer_auth(token.expose()).send().await.map_err(|e| {
            StepError::unavailable(format!(
                "{what}: the registry at {} could not be reached: {e}",
                self.base_url
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status < 400 || status == 404 {
            return Ok((status, body));
        }
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(300).collect());
        let kind = match status {
            429 => ErrorKind::Throttled,
            401 | 403 => ErrorKind::AccessDenied,
            409 => ErrorKind::Conflict,
            400..=499 => ErrorKind::InvalidInput,
            _ => ErrorKind::Unavailable,
        };
        Err(StepError::new(
            kind,
            format!("{what}: the registry answered {status}: {message}"),
        ))
    }
}

#[async_trait]
impl RunnerRegistry for HttpRunnerRegistry {
    async fn register(&self, request: &RegisterRequest) -> PortResult<Registration> {
        let body = json!({"id": request.id, "name": request.name, "owner": request.owner, "pool": request.pool});
        let (status, out) = self
            .send(
                "registering the worker",
                self.client
                    .post(self.url("/api/runners/register"))
                    .json(&body),
            )
            .await?;
        if status == 404 {
            return Err(StepError::new(
                ErrorKind::Internal,
                "the registry has no /api/runners/register endpoint (check REGISTRY_URL)",
            ));
        }
        let id = out.get("id").and_then(Value::as_str);
        let token = out.get("token").and_then(Value::as_str);
        match (id, token) {
            (Some(id), Some(token)) => Ok(Registration {
                id: id.to_string(),
                token: SecretString::new(token),
                created: status == 201,
            }),
            _ => Err(StepError::internal(
                "the registry's answer lacks id or token",
            )),
        }
    }

    async fn exists(&self, id: &str) -> PortResult<bool> {
        identifier("runner id", id, 64).map_err(|e| StepError::invalid(e.to_string()))?;
        let (status, _) = self
            .send(
                "reading the worker",
                self.client.get(self.url(&format!("/api/runners/{id}"))),
            )
            .await?;
        Ok(status != 404)
    }

    async fn deregister(&self, id: &str) -> PortResult<bool> {
        identifier("runner id", id, 64).map_err(|e| StepError::invalid(e.to_string()))?;
        let (status, _) = self
            .send(
                "removing the worker's registration",
                self.client.delete(self.url(&format!("/api/runners/{id}"))),
            )
            .await?;
        Ok(status != 404)
    }
}
