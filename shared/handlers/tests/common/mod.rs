//! The unit tier's harness: every port in memory (`jobs-memory`), wired
//! into the handlers' dependencies exactly as `jobs-runtime` wires the real
//! adapters, plus helpers to put a job where a test needs it.
#![allow(dead_code)]

use std::sync::Arc;

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Duration;
use jobs_domain::SecretString;
use jobs_domain::identity::{AwsAccount, CloudAccount, CloudIdentity, RegionSelection};
use jobs_domain::job::{Job, JobStatus, JobType};
use jobs_domain::params::{Defaults, JobParams};
use jobs_domain::ports::{Clock, IdentityStore, JobStore};
use jobs_domain::region::Region;
use jobs_domain::terraform::PlatformSettings;
use jobs_domain::worker::{Deployment, ServiceState, WorkerSpec};
use jobs_handlers::steps::{Step, invoke};
use jobs_handlers::{JobApiDeps, JobService, RunnersApiDeps, StepDeps};
use jobs_memory::*;
use serde_json::{Value, json};

pub const REGION: &str = "eu-west-1";
/// The organization the tests act for (the job API's owner header), unless
/// a test names another.
pub const OWNER: &str = "org-1";
/// The platform's release image (a private ECR repository's tag).
pub const RELEASE_IMAGE: &str =
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/alethia/runner:latest";
pub const SECRET_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:worker-jobs/runner-1-AbCdEf";
pub const CLUSTER_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/runner-1";
pub const SERVICE: &str = "runner-1";
pub const TASK_DEF_1: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/runner-1:1";
pub const TASK_DEF_2: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/runner-1:2";

/// Every port in memory.
pub struct World {
    pub clock: Arc<ManualClock>,
    pub jobs: Arc<MemoryJobStore>,
    pub identities: Arc<MemoryIdentityStore>,
    pub workers: Arc<MemoryWorkerStore>,
    pub runs: Arc<MemoryRunQueues>,
    pub runners: Arc<MemoryRunnerStore>,
    pub registry: Arc<MemoryRegistry>,
    pub secrets: Arc<MemoryWorkerSecrets>,
    pub identity_secrets: Arc<MemoryIdentitySecrets>,
    pub services: Arc<MemoryServices>,
    pub artifacts: Arc<MemoryArtifacts>,
    pub logs: Arc<MemoryBuildLogs>,
    pub starter: Arc<MemoryStarter>,
    pub releases: Arc<MemoryReleases>,
    pub cloud: Arc<MemoryCloud>,
    pub admin_token: SecretString,
}

impl World {
    pub fn new() -> World {
        World {
            clock: Arc::new(ManualClock::default()),
            jobs: Arc::new(MemoryJobStore::new()),
            identities: Arc::new(MemoryIdentityStore::new()),
            workers: Arc::new(MemoryWorkerStore::new()),
            runs: Arc::new(MemoryRunQueues::new()),
            runners: Arc::new(MemoryRunnerStore::new()),
            registry: Arc::new(MemoryRegistry::new()),
            secrets: Arc::new(MemoryWorkerSecrets::new()),
            identity_secrets: Arc::new(MemoryIdentitySecrets::new()),
            services: Arc::new(MemoryServices::new()),
            artifacts: Arc::new(MemoryArtifacts::new()),
            logs: Arc::new(MemoryBuildLogs::new()),
            starter: Arc::new(MemoryStarter::new()),
            releases: Arc::new(MemoryReleases::new()),
            cloud: Arc::new(MemoryCloud::new()),
            admin_token: SecretString::new("admin-token-for-tests"),
        }
    }

    pub fn service(&self) -> JobService {
        JobService::new(self.jobs.clone(), self.runs.clone(), self.clock.clone())
    }

    pub fn steps(&self) -> StepDeps {
        StepDeps {
            jobs: self.service(),
            identities: Some(self.identities.clone()),
            workers: Some(self.workers.clone()),
            verifier: Some(self.cloud.clone()),
            discovery: Some(self.cloud.clone()),
            artifacts: Some(self.artifacts.clone()),
            secrets: Some(self.secrets.clone()),
            registry: Some(self.registry.clone()),
            services: Some(self.services.clone()),
            releases: Some((self.releases.clone(), RELEASE_IMAGE.into())),
            platform: Some(platform()),
        }
    }

    pub fn job_api(&self) -> JobApiDeps {
        JobApiDeps {
            jobs: self.service(),
            identities: self.identities.clone(),
            identity_secrets: self.identity_secrets.clone(),
            workers: self.workers.clone(),
            starter: self.starter.clone(),
            defaults: Defaults::default(),
            start_grace: Duration::seconds(120),
            build_reports: self.artifacts.clone(),
            build_logs: self.logs.clone(),
            refresh_batch: 100,
            owner_source: Default::default(),
        }
    }

    pub fn runners_api(&self) -> RunnersApiDeps {
        RunnersApiDeps {
            runners: self.runners.clone(),
            jobs: self.service(),
            admin_token: self.admin_token.clone(),
            heartbeat_ttl: Duration::seconds(90),
        }
    }

    /// Runs step `S` with `payload` (JSON, as the state machine passes it).
    pub async fn run<S: Step>(&self, payload: Value) -> Result<Value, jobs_domain::StepError> {
        invoke::<S>(&self.steps().only(S::USES), payload).await
    }

    /// A job of `params` as the API stores it, already RUNNING (MarkRunning done).
    pub async fn running_job(&self, params: JobParams) -> Job {
        let mut job = Job::new(
            OWNER,
            params.job_type(),
            params.to_value(),
            self.clock.now(),
        );
        if let JobParams::RunnerJob { pool, .. } = &params {
            job.pool = Some(pool.clone());
        }
        job.status = JobStatus::Running;
        job.execution_arn = Some(format!(
            "arn:aws:states:us-east-1:123456789012:execution:m:{}",
            job.id
        ));
        self.jobs.create(&job, None).await.unwrap();
        job
    }

    pub async fn job(&self, id: &str) -> Job {
        self.jobs.get(id).await.unwrap().unwrap()
    }

    /// A registered AWS identity.
    pub async fn identity(&self, id: &str) -> CloudIdentity {
        let now = self.clock.now();
        let identity = CloudIdentity {
            id: id.into(),
            owner: OWNER.into(),
            account: CloudAccount::Aws(AwsAccount {
                role_arn: "arn:aws:iam::111122223333:role/AlethiaDiscovery".into(),
                external_id: "ext-123".into(),
                regions: RegionSelection::Listed {
                    regions: vec![Region::parse("r", REGION).unwrap()],
                },
            }),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.identities.put(&identity, None).await.unwrap();
        identity
    }

    /// What Terraform would have created for runner-1 in its region: its
    /// ECS service and its (empty) secret.
    pub fn terraform_created_service(&self, task_definition: &str) {
        self.secrets.create(REGION, SECRET_ARN);
        self.services.put(
            REGION,
            CLUSTER_ARN,
            SERVICE,
            ServiceState {
                task_definition: task_definition.into(),
                deployments: vec![deployment("PRIMARY", task_definition, "COMPLETED", 1)],
            },
        );
    }

    /// An API Gateway event through the job API.
    pub async fn call_jobs(
        &self,
        event: ApiGatewayV2httpRequest,
    ) -> (u16, Value, ApiGatewayV2httpResponse) {
        let r = jobs_handlers::jobs_api::handle(&self.job_api(), event).await;
        let body = body_of(&r);
        (r.status_code as u16, body, r)
    }

    /// An API Gateway event through the runners API.
    pub async fn call_runners(&self, event: ApiGatewayV2httpRequest) -> (u16, Value) {
        let r = jobs_handlers::runners_api::handle(&self.runners_api(), event).await;
        (r.status_code as u16, body_of(&r))
    }
}

pub fn body_of(r: &ApiGatewayV2httpResponse) -> Value {
    match &r.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    }
}

pub fn deployment(status: &str, td: &str, rollout: &str, running: i32) -> Deployment {
    Deployment {
        status: status.into(),
        task_definition: td.into(),
        rollout_state: Some(rollout.into()),
        rollout_state_reason: Some("ECS deployment ecs-svc/1 completed.".into()),
        desired_count: 1,
        running_count: running,
    }
}

pub fn platform() -> PlatformSettings {
    PlatformSettings {
        state_bucket: "worker-jobs-tfstate".into(),
        state_region: "us-east-1".into(),
        platform_api_url: "https://api.example.com".into(),
        module_source: "./modules/fargate-runner".into(),
        log_retention_days: 30,
        stop_timeout_seconds: 120,
    }
}

pub fn spec(name: &str) -> WorkerSpec {
    WorkerSpec {
        name: name.into(),
        region: Region::parse("r", REGION).unwrap(),
        image: "public.ecr.aws/alethia/runner:1.0.0".into(),
        cpu: 512,
        memory: 1024,
        pool: "default".into(),
        network: Default::default(),
    }
}

/// The Terraform Task's ResultSelector output for runner-1.
pub fn terraform_facts(task_definition: &str) -> Value {
    let exported = [
        ("TF_OUT_CLUSTER_ARN", CLUSTER_ARN),
        ("TF_OUT_SERVICE_NAME", SERVICE),
        ("TF_OUT_SECRET_ARN", SECRET_ARN),
        ("TF_OUT_TASK_DEFINITION_ARN", task_definition),
        ("TF_OUT_LOG_GROUP_NAME", "/alethia/runners/runner-1"),
    ]
    .map(|(n, v)| json!({"Name": n, "Value": v}));
    json!({
        "build_id": "worker-jobs-terraform:0001",
        "started_ms": 1_893_456_000_000.0_f64,
        "ended_ms": 1_893_456_020_000.0_f64,
        "exported": exported,
    })
}

/// An API Gateway HTTP API (payload 2.0) event, acting for [`OWNER`]
/// unless `headers` name another `X-Organization-Id`.
pub fn event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> ApiGatewayV2httpRequest {
    let mut with_owner = vec![("x-organization-id", OWNER)];
    with_owner.extend_from_slice(headers);
    bare_event(method, path_and_query, &with_owner, body)
}

/// An event with exactly `headers` (no owner unless they name one).
pub fn bare_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> ApiGatewayV2httpRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_lowercase(), Value::String(v.to_string())))
        .collect();
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}, "timeEpoch": 0},
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}

pub fn job_type_of(v: &Value) -> JobType {
    serde_json::from_value(v["type"].clone()).unwrap()
}
