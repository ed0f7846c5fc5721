//! Renders a worker's root Terraform configuration (JSON syntax): pinned
//! provider, default tags naming the worker and the job, an S3 backend with
//! one state key per worker and lock-file locking, and a call to the Runner
//! template module under `infra/modules/`. Pure: the same inputs give the
//! same bytes, so a replayed GenerateConfig step writes the same file.

use serde_json::{Value, json};

use crate::worker::{WorkerSpec, state_key};

/// The provider version the Runner template is tested with (its lock file
/// is committed beside the buildspec).
pub const AWS_PROVIDER_VERSION: &str = "= 5.100.0";
pub const REQUIRED_TERRAFORM: &str = ">= 1.10.0";

/// Tag keys put on every resource of a worker.
pub const TAG_WORKER_ID: &str = "alethia:worker-id";
pub const TAG_WORKER: &str = "alethia:worker";
pub const TAG_JOB_ID: &str = "alethia:job-id";
pub const TAG_MANAGED_BY: &str = "alethia:managed-by";
pub const MANAGED_BY: &str = "worker-jobs";

/// Platform settings that go into every worker's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSettings {
    /// The S3 bucket holding Terraform state (in the state region).
    pub state_bucket: String,
    pub state_region: String,
    /// The base URL the Runner calls (the registry / platform API).
    pub platform_api_url: String,
    /// The Runner template module, relative to the build's work directory.
    pub module_source: String,
    pub log_retention_days: u32,
    pub stop_timeout_seconds: u32,
}

/// The root configuration for `spec`, deployed by job `job_id`. `rollout`
/// names the job applying it: a new value forces a new deployment of the
/// worker's service even when its task definition did not change (an
/// UPDATE_WORKER always rolls the service).
pub fn render_root(
    spec: &WorkerSpec,
    worker_id: &str,
    job_id: &str,
    rollout: &str,
    platform: &PlatformSettings,
) -> Value {
    let network = &spec.network;
    let subnet_ids = if network.subnet_ids.is_empty() {
        Value::Null
    } else {
        json!(network.subnet_ids)
    };
    json!({
        "terraform": {
            "required_version": REQUIRED_TERRAFORM,
            "required_providers": {
                "aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}
            },
            "backend": {
                "s3": {
                    "bucket": platform.state_bucket,
                    "key": state_key(&spec.name),
                    "region": platform.state_region,
                    "encrypt": true,
                    "use_lockfile": true
                }
            }
        },
        "provider": {
            "aws": {
                "region": spec.region.as_str(),
                "default_tags": {
                    "tags": {
                        TAG_WORKER_ID: worker_id,
                        TAG_WORKER: spec.name,
                        TAG_JOB_ID: job_id,
                        TAG_MANAGED_BY: MANAGED_BY
                    }
                }
            }
        },
        "module": {
            "runner": {
                "source": platform.module_source,
                "worker_name": spec.name,
                "job_id": job_id,
                "image": spec.image,
                "cpu": spec.cpu,
                "memory": spec.memory,
                "platform_api_url": platform.platform_api_url,
                "runner_pool": spec.pool,
                "log_retention_days": platform.log_retention_days,
                "vpc_id": network.vpc_id,
                "subnet_ids": subnet_ids,
                "assign_public_ip": network.assign_public_ip,
                "stop_timeout": platform.stop_timeout_seconds,
                "deployment_trigger": rollout
            }
        },
        "output": {
            "cluster_arn": {"value": "${module.runner.cluster_arn}"},
            "cluster_name": {"value": "${module.runner.cluster_name}"},
            "service_name": {"value": "${module.runner.service_name}"},
            "task_definition_arn": {"value": "${module.runner.task_definition_arn}"},
            "secret_arn": {"value": "${module.runner.secret_arn}"},
            "log_group_name": {"value": "${module.runner.log_group_name}"},
            "execution_role_arn": {"value": "${module.runner.execution_role_arn}"},
            "task_role_arn": {"value": "${module.runner.task_role_arn}"},
            "security_group_id": {"value": "${module.runner.security_group_id}"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Region;
    use crate::worker::NetworkSpec;

    fn spec() -> WorkerSpec {
        WorkerSpec {
            name: "runner-eu-1".into(),
            region: Region::parse("r", "eu-west-1").unwrap(),
            image: "public.ecr.aws/alethia/runner:1.2.3".into(),
            cpu: 1024,
            memory: 2048,
            pool: "default".into(),
            network: NetworkSpec::default(),
        }
    }

    fn platform() -> PlatformSettings {
        PlatformSettings {
            state_bucket: "alethia-tfstate".into(),
            state_region: "us-east-1".into(),
            platform_api_url: "https://api.example.com".into(),
            module_source: "./modules/fargate-runner".into(),
            log_retention_days: 30,
            stop_timeout_seconds: 120,
        }
    }

    #[test]
    fn renders_backend_tags_and_module() {
        let root = render_root(&spec(), "wkr-1", "job-1", "job-1", &platform());
        assert_eq!(
            root["terraform"]["backend"]["s3"]["key"],
            "workers/runner-eu-1/terraform.tfstate"
        );
        assert_eq!(root["terraform"]["backend"]["s3"]["use_lockfile"], true);
        assert_eq!(
            root["terraform"]["required_providers"]["aws"]["version"],
            "= 5.100.0"
        );
        let tags = &root["provider"]["aws"]["default_tags"]["tags"];
        assert_eq!(tags[TAG_WORKER_ID], "wkr-1");
        assert_eq!(tags[TAG_JOB_ID], "job-1");
        assert_eq!(root["provider"]["aws"]["region"], "eu-west-1");
        assert_eq!(root["module"]["runner"]["cpu"], 1024);
        assert_eq!(root["module"]["runner"]["subnet_ids"], Value::Null);
        let update = render_root(&spec(), "wkr-1", "job-1", "job-2", &platform());
        assert_eq!(update["module"]["runner"]["deployment_trigger"], "job-2");
        assert_eq!(
            update["module"]["runner"]["job_id"], "job-1",
            "tags keep the deploy job"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let a = render_root(&spec(), "wkr-1", "job-1", "job-1", &platform()).to_string();
        let b = render_root(&spec(), "wkr-1", "job-1", "job-1", &platform()).to_string();
        assert_eq!(a, b);
    }

    #[test]
    fn explicit_network_is_passed_through() {
        let mut s = spec();
        s.network = NetworkSpec {
            vpc_id: Some("vpc-0abc".into()),
            subnet_ids: vec!["subnet-01".into()],
            assign_public_ip: true,
        };
        let root = render_root(&s, "wkr-1", "job-1", "job-1", &platform());
        assert_eq!(root["module"]["runner"]["vpc_id"], "vpc-0abc");
        assert_eq!(root["module"]["runner"]["subnet_ids"], json!(["subnet-01"]));
    }
}
