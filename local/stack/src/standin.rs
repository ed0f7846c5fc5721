//! A stand-in for a booting Runner. The emulator runs no containers, so
//! this does what ECS and the Runner would: read the task definition,
//! resolve its `secrets` (`valueFrom` the worker's Secrets Manager secret,
//! JSON keys `worker_id` and `token`) into the variables the container
//! would get, and call the registry with them.

use aws_types::SdkConfig;
use aws_types::region::Region;
use serde_json::Value;

use crate::api_client::Api;
use crate::{LocalError, Result};

/// What the Runner's container would see in its environment.
pub struct RunnerEnv {
    pub worker_id: String,
    pub token: jobs_domain::SecretString,
    pub platform_api_url: String,
}

fn fail(what: &str) -> impl Fn(String) -> LocalError + '_ {
    move |e| LocalError::Setup(format!("standing in for the runner ({what}): {e}"))
}

/// Resolves the container environment of a worker's service, as ECS does
/// when it starts the task.
pub async fn boot(
    sdk: &SdkConfig,
    region: &str,
    cluster: &str,
    service: &str,
) -> Result<RunnerEnv> {
    let conf = |b: aws_sdk_ecs::config::Builder| b.region(Region::new(region.to_string())).build();
    let ecs = aws_sdk_ecs::Client::from_conf(conf(aws_sdk_ecs::config::Builder::from(sdk)));
    let services = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| fail("describe-services")(jobs_adapters::aws::source_chain(&e)))?;
    let svc = services
        .services
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| fail("service")("not found".into()))?;
    if svc.desired_count < 1 {
        return Err(fail("service")(format!(
            "{service} has desired count {}; RegisterWorker should have started it",
            svc.desired_count
        )));
    }
    let task_def = svc
        .task_definition
        .ok_or_else(|| fail("service")("no task definition".into()))?;
    let td = ecs
        .describe_task_definition()
        .task_definition(&task_def)
        .send()
        .await
        .map_err(|e| fail("describe-task-definition")(jobs_adapters::aws::source_chain(&e)))?
        .task_definition
        .ok_or_else(|| fail("task definition")("missing".into()))?;
    let container = td
        .container_definitions
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| fail("task definition")("no container".into()))?;
    let mut platform_api_url = String::new();
    for kv in container.environment.unwrap_or_default() {
        if kv.name.as_deref() == Some("PLATFORM_API_URL") {
            platform_api_url = kv.value.unwrap_or_default();
        }
    }
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .region(Region::new(region.to_string()))
            .build(),
    );
    let mut worker_id = None;
    let mut token = None;
    for s in container.secrets.unwrap_or_default() {
        // valueFrom = <secret arn>:<json key>:<version stage>:<version id>
        let parts: Vec<&str> = s.value_from.rsplitn(4, ':').collect();
        let (key, arn) = match parts.as_slice() {
            [_, _, key, arn] => (key.to_string(), arn.to_string()),
            _ => {
                return Err(fail("secrets")(format!(
                    "unexpected valueFrom {}",
                    s.value_from
                )));
            }
        };
        let value = secrets
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| fail("get-secret-value")(jobs_adapters::aws::source_chain(&e)))?
            .secret_string
            .unwrap_or_default();
        let doc: Value = serde_json::from_str(&value).map_err(|e| fail("secret")(e.to_string()))?;
        let v = doc.get(&key).and_then(Value::as_str).map(str::to_string);
        match s.name.as_str() {
            "WORKER_ID" => worker_id = v,
            "WORKER_TOKEN" => token = v,
            _ => {}
        }
    }
    Ok(RunnerEnv {
        worker_id: worker_id
            .ok_or_else(|| fail("secrets")("WORKER_ID is not in the task's secrets".into()))?,
        token: jobs_domain::SecretString::new(
            token.ok_or_else(|| {
                fail("secrets")("WORKER_TOKEN is not in the task's secrets".into())
            })?,
        ),
        platform_api_url,
    })
}

impl RunnerEnv {
    pub fn api(&self) -> Api {
        Api::new(&self.platform_api_url)
    }

    pub async fn heartbeat(&self) -> Result<Value> {
        self.api()
            .expect(
                200,
                reqwest::Method::POST,
                &format!("/api/runners/{}/heartbeat", self.worker_id),
                None,
                Some(self.token.expose()),
            )
            .await
    }

    /// Claims a job; `None` when the queue is empty.
    pub async fn claim(&self) -> Result<Option<Value>> {
        let (status, job) = self
            .api()
            .call(
                reqwest::Method::POST,
                &format!("/api/runners/{}/claim", self.worker_id),
                None,
                Some(self.token.expose()),
            )
            .await?;
        match status {
            200 => Ok(Some(job)),
            204 => Ok(None),
            other => Err(LocalError::Http(format!("claim answered {other}: {job}"))),
        }
    }

    /// Reports a claimed job's outcome (`SUCCESS` or `FAILED`).
    pub async fn complete(&self, job_id: &str, status: &str) -> Result<Value> {
        self.api()
            .expect(
                200,
                reqwest::Method::POST,
                &format!("/api/runners/{}/jobs/{job_id}/complete", self.worker_id),
                Some(serde_json::json!({ "status": status })),
                Some(self.token.expose()),
            )
            .await
    }
}
