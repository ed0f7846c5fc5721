//! The platform's own dependencies in memory: the runner registry, the
//! workers' secrets, their ECS services, the rendered configurations and
//! the Step Functions starter and the image registry. Each records what it was asked, so that
//! tests can assert on effects (one registration, the token in the secret,
//! the region a call went to).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use jobs_domain::ports::{
    ArtifactStore, ExecutionStarter, IdentitySecrets, PortResult, ReleaseImages, RunnerRegistry,
    WorkerSecrets, WorkerServices,
};
use jobs_domain::runner::{RegisterRequest, Registration, new_token};
use jobs_domain::worker::{EcrImage, ServiceState};
use jobs_domain::{SecretString, StepError};
use serde_json::Value;

use crate::{Faults, lock};

/// A registered runner as the registry keeps it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub name: String,
    pub owner: String,
    pub pool: String,
    pub token: SecretString,
}

/// The registry: idempotent per runner id (registering again rotates the
/// token), as the runners API behaves.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    runners: Mutex<HashMap<String, Registered>>,
    registrations: Mutex<u32>,
    pub faults: Faults,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, id: &str) -> Option<Registered> {
        lock(&self.runners).get(id).cloned()
    }

    pub fn count(&self) -> usize {
        lock(&self.runners).len()
    }

    /// How many times `register` succeeded (new or again).
    pub fn registrations(&self) -> u32 {
        *lock(&self.registrations)
    }
}

#[async_trait]
impl RunnerRegistry for MemoryRegistry {
    async fn register(&self, request: &RegisterRequest) -> PortResult<Registration> {
        self.faults.check("register")?;
        let id = request
            .id
            .clone()
            .unwrap_or_else(|| format!("rnr-{}", request.name));
        let token = new_token();
        let mut runners = lock(&self.runners);
        if let Some(existing) = runners.get(&id)
            && existing.name != request.name
        {
            return Err(StepError::conflict(format!(
                "runner {id} is registered under the name {:?}",
                existing.name
            )));
        }
        let created = runners
            .insert(
                id.clone(),
                Registered {
                    name: request.name.clone(),
                    owner: request.owner.clone(),
                    pool: request.pool.clone(),
                    token: token.clone(),
                },
            )
            .is_none();
        *lock(&self.registrations) += 1;
        Ok(Registration { id, token, created })
    }

    async fn exists(&self, id: &str) -> PortResult<bool> {
        self.faults.check("exists")?;
        Ok(lock(&self.runners).contains_key(id))
    }

    async fn deregister(&self, id: &str) -> PortResult<bool> {
        self.faults.check("deregister")?;
        Ok(lock(&self.runners).remove(id).is_some())
    }
}

/// What a worker's secret holds: its runner id and token.
type SecretValue = (String, SecretString);

/// Worker secrets by region and ARN: created empty (as Terraform does), then
/// `(worker id, token)` once written. A secret exists only in its region.
#[derive(Debug, Default)]
pub struct MemoryWorkerSecrets {
    values: Mutex<HashMap<(String, String), Option<SecretValue>>>,
    pub faults: Faults,
}

impl MemoryWorkerSecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty secret in `region`, as the worker's Terraform does.
    pub fn create(&self, region: &str, secret_arn: &str) {
        lock(&self.values)
            .entry((region.into(), secret_arn.into()))
            .or_insert(None);
    }

    /// The value of a secret, wherever it is.
    pub fn value(&self, secret_arn: &str) -> Option<(String, SecretString)> {
        lock(&self.values)
            .iter()
            .find(|((_, arn), _)| arn == secret_arn)
            .and_then(|(_, v)| v.clone())
    }
}

#[async_trait]
impl WorkerSecrets for MemoryWorkerSecrets {
    async fn put(
        &self,
        region: &str,
        secret_arn: &str,
        worker_id: &str,
        token: &SecretString,
    ) -> PortResult<()> {
        self.faults.check("put")?;
        match lock(&self.values).get_mut(&(region.to_string(), secret_arn.to_string())) {
            Some(v) => {
                *v = Some((worker_id.to_string(), token.clone()));
                Ok(())
            }
            None => Err(StepError::not_found(format!(
                "the secret {secret_arn} does not exist in {region}"
            ))),
        }
    }

    async fn get(
        &self,
        region: &str,
        secret_arn: &str,
    ) -> PortResult<Option<(String, SecretString)>> {
        self.faults.check("get")?;
        Ok(lock(&self.values)
            .get(&(region.to_string(), secret_arn.to_string()))
            .cloned()
            .flatten())
    }
}

/// Identities' client secrets by reference (`memory:secret:{owner}/{identity}`).
#[derive(Debug, Default)]
pub struct MemoryIdentitySecrets {
    values: Mutex<HashMap<String, SecretString>>,
    pub faults: Faults,
}

impl MemoryIdentitySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every value stored (tests look for them where they must not be).
    pub fn values(&self) -> Vec<SecretString> {
        lock(&self.values).values().cloned().collect()
    }
}

#[async_trait]
impl IdentitySecrets for MemoryIdentitySecrets {
    async fn put(
        &self,
        owner: &str,
        identity_id: &str,
        value: &SecretString,
    ) -> PortResult<String> {
        self.faults.check("put")?;
        let reference = format!("memory:secret:{owner}/{identity_id}");
        lock(&self.values).insert(reference.clone(), value.clone());
        Ok(reference)
    }

    async fn get(&self, reference: &str) -> PortResult<SecretString> {
        self.faults.check("get")?;
        lock(&self.values)
            .get(reference)
            .cloned()
            .ok_or_else(|| StepError::not_found(format!("no secret {reference}")))
    }
}

/// A service's address: (region, cluster, service).
type ServiceKey = (String, String, String);

/// ECS services by region, cluster and name, with their desired count.
#[derive(Debug, Default)]
pub struct MemoryServices {
    services: Mutex<HashMap<ServiceKey, (ServiceState, i32)>>,
    pub faults: Faults,
}

impl MemoryServices {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces a service (desired count 0), as Terraform would.
    pub fn put(&self, region: &str, cluster: &str, service: &str, state: ServiceState) {
        lock(&self.services).insert((region.into(), cluster.into(), service.into()), (state, 0));
    }

    /// The desired count of a service, if it exists in that region.
    pub fn desired_count(&self, region: &str, cluster: &str, service: &str) -> Option<i32> {
        lock(&self.services)
            .get(&(region.into(), cluster.into(), service.into()))
            .map(|(_, n)| *n)
    }
}

fn missing(region: &str, cluster: &str, service: &str) -> StepError {
    StepError::not_found(format!(
        "service {service} of cluster {cluster} does not exist in {region}"
    ))
}

#[async_trait]
impl WorkerServices for MemoryServices {
    async fn set_desired_count(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        count: i32,
    ) -> PortResult<()> {
        self.faults.check("set_desired_count")?;
        match lock(&self.services).get_mut(&(region.into(), cluster.into(), service.into())) {
            Some((_, n)) => {
                *n = count;
                Ok(())
            }
            None => Err(missing(region, cluster, service)),
        }
    }

    async fn state(&self, region: &str, cluster: &str, service: &str) -> PortResult<ServiceState> {
        self.faults.check("state")?;
        lock(&self.services)
            .get(&(region.into(), cluster.into(), service.into()))
            .map(|(s, _)| s.clone())
            .ok_or_else(|| missing(region, cluster, service))
    }
}

/// Rendered configurations by key; URIs look like `s3://memory/<key>`.
#[derive(Debug, Default)]
pub struct MemoryArtifacts {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    pub faults: Faults,
}

impl MemoryArtifacts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.objects).keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl ArtifactStore for MemoryArtifacts {
    async fn put(&self, key: &str, body: Vec<u8>) -> PortResult<String> {
        self.faults.check("put")?;
        lock(&self.objects).insert(key.to_string(), body);
        Ok(self.uri(key))
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://memory/{key}")
    }

    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        self.faults.check("get")?;
        Ok(lock(&self.objects).get(key).cloned())
    }
}

/// One StartExecution.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub state_machine: String,
    pub name: String,
    pub input: Value,
}

/// Step Functions' StartExecution: an execution per name; the same name
/// with the same input answers the same execution, another input is refused
/// (`ExecutionAlreadyExists`).
#[derive(Debug, Default)]
pub struct MemoryStarter {
    started: Mutex<Vec<Started>>,
    pub faults: Faults,
}

impl MemoryStarter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn started(&self) -> Vec<Started> {
        lock(&self.started).clone()
    }
}

#[async_trait]
impl ExecutionStarter for MemoryStarter {
    async fn start(&self, state_machine: &str, job_id: &str, input: &Value) -> PortResult<String> {
        self.faults.check("start")?;
        let arn =
            format!("arn:aws:states:us-east-1:123456789012:execution:{state_machine}:{job_id}");
        let mut started = lock(&self.started);
        match started
            .iter()
            .find(|s| s.state_machine == state_machine && s.name == job_id)
        {
            Some(s) if &s.input == input => Ok(arn),
            Some(_) => Err(StepError::conflict(format!(
                "execution {job_id} already exists with another input"
            ))),
            None => {
                started.push(Started {
                    state_machine: state_machine.into(),
                    name: job_id.into(),
                    input: input.clone(),
                });
                Ok(arn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registering_again_rotates_the_token() {
        let r = MemoryRegistry::new();
        let req = RegisterRequest {
            id: Some("wkr-1".into()),
            name: "runner-1".into(),
            owner: "org-1".into(),
            pool: "default".into(),
        };
        let a = r.register(&req).await.unwrap();
        let b = r.register(&req).await.unwrap();
        assert!(a.created && !b.created);
        assert_ne!(a.token, b.token);
        assert_eq!(r.count(), 1);
        assert!(r.deregister("wkr-1").await.unwrap());
        assert!(!r.exists("wkr-1").await.unwrap());
    }

    #[tokio::test]
    async fn starting_twice_is_one_execution() {
        let s = MemoryStarter::new();
        let input = serde_json::json!({"job_id": "j"});
        let a = s.start("m", "j", &input).await.unwrap();
        assert_eq!(s.start("m", "j", &input).await.unwrap(), a);
        assert!(s.start("m", "j", &serde_json::json!({})).await.is_err());
        assert_eq!(s.started().len(), 1);
    }
}

/// The platform's image registry: tags of private ECR repositories and the
/// digests they point at now.
#[derive(Debug, Default)]
pub struct MemoryReleases {
    digests: Mutex<HashMap<String, String>>,
    pub faults: Faults,
}

impl MemoryReleases {
    pub fn new() -> Self {
        Self::default()
    }

    /// Points `image` (`<registry>/<repository>:<tag>`) at `digest`, as a push does.
    pub fn push(&self, image: &str, digest: &str) {
        lock(&self.digests).insert(image.to_string(), digest.to_string());
    }
}

#[async_trait]
impl ReleaseImages for MemoryReleases {
    async fn resolve(&self, image: &str) -> PortResult<String> {
        self.faults.check("resolve")?;
        let Some(ecr) = EcrImage::parse(image) else {
            return Ok(image.to_string());
        };
        let tagged = format!(
            "{}.dkr.ecr.{}.amazonaws.com/{}:{}",
            ecr.account, ecr.region, ecr.repository, ecr.tag
        );
        match lock(&self.digests).get(&tagged) {
            Some(digest) => Ok(ecr.pinned(digest)),
            None => Err(StepError::not_found(format!(
                "the image {tagged} does not exist"
            ))),
        }
    }
}
