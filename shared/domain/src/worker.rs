//! Worker (Runner) deployments: names, Fargate sizes, container images and
//! the deterministic names of a worker's cloud resources.

use serde::{Deserialize, Serialize};

use crate::region::Region;
use crate::validate::FieldError;

/// Checks a worker name: 3–32 characters, lowercase letters, digits and
/// '-', starting with a letter and not ending with '-'. The name becomes
/// part of IAM role, log group and ECS names, whose limits this respects.
pub fn validate_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !(3..=32).contains(&name.len())
        || !ok_chars
        || !starts
        || name.ends_with('-')
        || name.contains("--")
    {
        return Err(FieldError::new(
            field,
            format!(
                "{name:?} is not a valid worker name: use 3-32 lowercase letters, digits and single '-', starting with a letter"
            ),
        ));
    }
    Ok(())
}

/// CPU units → allowed memory (MiB), as the Fargate task size table lists.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let range =
        |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect::<Vec<_>>();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// Checks a cpu/memory pair against the Fargate table.
pub fn validate_size(cpu: u32, memory: u32) -> Result<(), FieldError> {
    let Some(options) = fargate_memory_options(cpu) else {
        return Err(FieldError::new(
            "params.cpu",
            format!(
                "Fargate does not offer {cpu} CPU units (use 256, 512, 1024, 2048, 4096, 8192 or 16384)"
            ),
        ));
    };
    if !options.contains(&memory) {
        let (lo, hi) = (options[0], options[options.len() - 1]);
        return Err(FieldError::new(
            "params.memory",
            format!(
                "Fargate does not offer {memory} MiB with {cpu} CPU units (allowed: {lo} to {hi} MiB in the documented steps)"
            ),
        ));
    }
    Ok(())
}

/// Checks a container image reference (`[registry/]repository[:tag][@digest]`).
pub fn validate_image(field: &str, image: &str) -> Result<(), FieldError> {
    let ok = !image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        && !image.starts_with(['-', '.', '/', ':']);
    if !ok {
        return Err(FieldError::new(
            field,
            format!("{image:?} is not a container image reference"),
        ));
    }
    Ok(())
}

/// An image in a private ECR registry, by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    pub account: String,
    pub region: String,
    pub repository: String,
    pub tag: String,
}

impl EcrImage {
    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>]` (tag
    /// `latest` when absent); `None` for other registries and for references
    /// already pinned by digest.
    pub fn parse(image: &str) -> Option<EcrImage> {
        if image.contains('@') {
            return None;
        }
        let (host, path) = image.split_once('/')?;
        let mut parts = host.split('.');
        let (account, dkr, ecr, region) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest: Vec<&str> = parts.collect();
        let ok = account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && dkr == "dkr"
            && ecr == "ecr"
            && matches!(
                rest.as_slice(),
                ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
            );
        if !ok {
            return None;
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) => (r, t),
            None => (path, "latest"),
        };
        Some(EcrImage {
            account: account.into(),
            region: region.into(),
            repository: repository.into(),
            tag: tag.into(),
        })
    }

    /// The reference pinned to `digest` (`sha256:…`).
    pub fn pinned(&self, digest: &str) -> String {
        format!(
            "{}.dkr.ecr.{}.amazonaws.com/{}@{digest}",
            self.account, self.region, self.repository
        )
    }
}

/// The network a worker's tasks run in; empty means the region's default VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Everything needed to render a worker's Terraform configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub name: String,
    pub region: Region,
    pub image: String,
    pub cpu: u32,
    pub memory: u32,
    pub pool: String,
    #[serde(default)]
    pub network: NetworkSpec,
}

/// A worker deployment's lifecycle, as the workers table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerStatus {
    Deploying,
    Deployed,
    Failed,
    Destroying,
    Destroyed,
}

/// A worker deployment record (one per worker name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    pub name: String,
    /// The organization that deployed it. Worker names are one namespace
    /// (they name AWS resources); another owner's worker is, to a caller,
    /// a name that is taken and nothing more.
    pub owner: String,
    /// Our id for the worker: tags, secret name and registry id.
    pub worker_id: String,
    pub spec: WorkerSpec,
    pub status: WorkerStatus,
    /// The job that created this deployment (its id tags every resource).
    pub deploy_job_id: String,
    /// The job that last changed the deployment.
    pub last_job_id: String,
    /// The id the runner registry answered (normally `worker_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
    /// Where the rendered root configuration is stored (object key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_key: Option<String>,
    /// Small Terraform outputs (cluster, service, secret ARN, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<WorkerOutputs>,
    /// Why the deployment is FAILED (code and message of the deploy job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(with = "crate::time")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

/// The outputs of a worker's Terraform apply that later steps need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerOutputs {
    pub cluster_arn: String,
    pub service_name: String,
    pub secret_arn: String,
    pub task_definition_arn: String,
    pub log_group_name: String,
}

/// The worker id for a deployment: derived from the name and the deploy
/// job, so that a replayed step computes the same id.
pub fn worker_id(name: &str, deploy_job_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{name}\n{deploy_job_id}").as_bytes());
    format!("wkr-{}", &hex::encode(digest)[..16])
}

/// The Terraform state key of a worker (one per worker name).
pub fn state_key(name: &str) -> String {
    format!("workers/{name}/terraform.tfstate")
}

/// The object key of the rendered root configuration for a job.
pub fn config_key(name: &str, job_id: &str) -> String {
    format!("workers/{name}/{job_id}/main.tf.json")
}

/// The object key of the result a job's Terraform build writes (exit
/// status and Terraform's errors; see `infra/buildspec/terraform-run.sh`).
pub fn terraform_result_key(name: &str, job_id: &str) -> String {
    format!("workers/{name}/{job_id}/terraform-result.json")
}

/// The object key of the progress a job's running Terraform build reports
/// (its id, where its log is, its plan once planned).
pub fn terraform_progress_key(name: &str, job_id: &str) -> String {
    format!("workers/{name}/{job_id}/terraform-progress.json")
}

/// One deployment of an ECS service, as `ecs:DescribeServices` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED (absent on old services).
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired_count: i32,
    pub running_count: i32,
}

/// A worker's ECS service: what it runs now and its deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
}

/// Where a worker's rolling deployment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// The service runs `target` everywhere and the old tasks are gone.
    Done,
    /// Still deploying (or draining the old tasks); the reason says what.
    InProgress(String),
    /// The deployment failed, or the circuit breaker rolled it back.
    Failed(String),
}

/// Judges a service's deployments against the task definition it should
/// run now (ECS developer guide, "Deployment circuit breaker": a rolled-back
/// deployment leaves the service on the previous task definition).
pub fn rollout(state: &ServiceState, target: &str) -> Rollout {
    if state.task_definition != target {
        return Rollout::Failed(format!(
            "the service runs {} instead of {target}: the deployment was rolled back",
            state.task_definition
        ));
    }
    let Some(primary) = state.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Rollout::InProgress("no primary deployment yet".into());
    };
    match primary.rollout_state.as_deref() {
        Some("FAILED") => {
            return Rollout::Failed(format!(
                "the deployment failed: {}",
                primary
                    .rollout_state_reason
                    .clone()
                    .unwrap_or_else(|| "no reason given".into())
            ));
        }
        Some("IN_PROGRESS") => {
            return Rollout::InProgress(format!(
                "{} of {} tasks running",
                primary.running_count, primary.desired_count
            ));
        }
        _ => {}
    }
    let old = state
        .deployments
        .iter()
        .filter(|d| d.status != "PRIMARY")
        .count();
    if old > 0 {
        return Rollout::InProgress(format!("{old} older deployment(s) still draining"));
    }
    if primary.running_count < primary.desired_count {
        return Rollout::InProgress(format!(
            "{} of {} tasks running",
            primary.running_count, primary.desired_count
        ));
    }
    Rollout::Done
}

#[cfg(test)]
mod rollout_tests {
    use super::*;

    fn dep(status: &str, td: &str, rollout: Option<&str>, running: i32) -> Deployment {
        Deployment {
            status: status.into(),
            task_definition: td.into(),
            rollout_state: rollout.map(str::to_string),
            rollout_state_reason: Some("reason".into()),
            desired_count: 1,
            running_count: running,
        }
    }

    // ECS API reference, Deployment.rolloutState; developer guide,
    // "deployment circuit breaker" (rollback to the last completed deployment).
    #[test]
    fn judges_deployments() {
        let new = "td:2";
        let done = ServiceState {
            task_definition: new.into(),
            deployments: vec![dep("PRIMARY", new, Some("COMPLETED"), 1)],
        };
        assert_eq!(rollout(&done, new), Rollout::Done);
        let draining = ServiceState {
            task_definition: new.into(),
            deployments: vec![
                dep("PRIMARY", new, Some("COMPLETED"), 1),
                dep("ACTIVE", "td:1", Some("COMPLETED"), 1),
            ],
        };
        assert!(matches!(rollout(&draining, new), Rollout::InProgress(_)));
        let starting = ServiceState {
            task_definition: new.into(),
            deployments: vec![dep("PRIMARY", new, Some("IN_PROGRESS"), 0)],
        };
        assert!(matches!(rollout(&starting, new), Rollout::InProgress(_)));
        let failed = ServiceState {
            task_definition: new.into(),
            deployments: vec![dep("PRIMARY", new, Some("FAILED"), 0)],
        };
        assert!(matches!(rollout(&failed, new), Rollout::Failed(_)));
        let rolled_back = ServiceState {
            task_definition: "td:1".into(),
            deployments: vec![dep("PRIMARY", "td:1", Some("COMPLETED"), 1)],
        };
        assert!(
            matches!(rollout(&rolled_back, new), Rollout::Failed(m) if m.contains("rolled back"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("n", "runner-eu-1").is_ok());
        for bad in [
            "ab",
            "Runner",
            "1runner",
            "runner-",
            "run--ner",
            "run_ner",
            &"a".repeat(33),
        ] {
            assert!(validate_name("n", bad).is_err(), "{bad}");
        }
    }

    // Amazon ECS developer guide, "Task size" table for Fargate.
    #[test]
    fn fargate_sizes() {
        assert!(validate_size(256, 512).is_ok());
        assert!(validate_size(512, 4096).is_ok());
        assert!(validate_size(4096, 30720).is_ok());
        assert!(validate_size(8192, 20480).is_ok());
        assert_eq!(validate_size(256, 4096).unwrap_err().field, "params.memory");
        assert_eq!(
            validate_size(8192, 17408).unwrap_err().field,
            "params.memory"
        );
        assert_eq!(validate_size(300, 1024).unwrap_err().field, "params.cpu");
    }

    #[test]
    fn worker_ids_are_deterministic() {
        assert_eq!(worker_id("a", "job-1"), worker_id("a", "job-1"));
        assert_ne!(worker_id("a", "job-1"), worker_id("a", "job-2"));
        assert_eq!(worker_id("a", "job-1").len(), 20);
    }

    #[test]
    fn ecr_images_are_recognised_and_pinned() {
        let e = EcrImage::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/alethia/runner:1.4")
            .unwrap();
        assert_eq!(
            (e.region.as_str(), e.repository.as_str(), e.tag.as_str()),
            ("eu-west-1", "alethia/runner", "1.4")
        );
        assert_eq!(
            e.pinned("sha256:ab"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/alethia/runner@sha256:ab"
        );
        assert_eq!(
            EcrImage::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/r")
                .unwrap()
                .tag,
            "latest"
        );
        for other in [
            "public.ecr.aws/alethia/runner:latest",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/r@sha256:ab",
            "docker.io/library/busybox:1",
            "12345.dkr.ecr.us-east-1.amazonaws.com/r:1",
        ] {
            assert_eq!(EcrImage::parse(other), None, "{other}");
        }
    }

    #[test]
    fn images() {
        assert!(validate_image("i", "public.ecr.aws/alethia/runner:1.4.2").is_ok());
        assert!(validate_image("i", "repo@sha256:abc").is_ok());
        assert!(validate_image("i", "bad image").is_err());
        assert!(validate_image("i", "").is_err());
    }
}
