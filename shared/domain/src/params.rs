//! The `params` of each job type: validated field by field (errors name
//! the field, e.g. `params.memory`), with defaults applied, so that what is
//! stored is exactly what the steps will use.

use serde_json::{Map, Value, json};

use crate::identity::{MAX_IDENTITY_ID, validate_identity_id};
use crate::job::JobType;
use crate::region::Region;
use crate::validate::{FieldError, Fields, identifier};
use crate::worker::{NetworkSpec, WorkerSpec, validate_image, validate_name, validate_size};

/// Platform defaults for worker deployments.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub runner_image: String,
    pub cpu: u32,
    pub memory: u32,
    pub pool: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            runner_image: "public.ecr.aws/alethia/runner:latest".into(),
            cpu: 512,
            memory: 1024,
            pool: "default".into(),
        }
    }
}

/// Validated params.
#[derive(Debug, Clone, PartialEq)]
pub enum JobParams {
    ConnectionTest {
        cloud_identity_id: String,
    },
    FetchResources {
        cloud_identity_id: String,
    },
    DeployWorker(WorkerSpec),
    /// Without an image, the platform's release image (resolved to its
    /// digest when the job runs).
    UpdateWorker {
        name: String,
        image: Option<String>,
    },
    DestroyWorker {
        name: String,
    },
    RunnerJob {
        pool: String,
        payload: Value,
    },
}

/// The largest runner job payload accepted (it is stored on the job item).
pub const MAX_RUNNER_PAYLOAD_BYTES: usize = 32 * 1024;

fn pool_name(field: &str, value: &str) -> Result<String, FieldError> {
    identifier(field, value, 64)?;
    Ok(value.to_string())
}

fn cloud_identity(params: &Value) -> Result<String, FieldError> {
    let f = Fields::new("params", params, &["cloud_identity_id"])?;
    let id = f.required_string("cloud_identity_id")?;
    validate_identity_id(id).map_err(|e| FieldError::new("params.cloud_identity_id", e.message))?;
    debug_assert!(id.len() <= MAX_IDENTITY_ID);
    Ok(id.to_string())
}

fn u32_field(f: &Fields<'_>, key: &str, default: u32) -> Result<u32, FieldError> {
    match f.integer(key)? {
        None => Ok(default),
        Some(n) => u32::try_from(n).map_err(|_| FieldError::new(f.field(key), "is too large")),
    }
}

impl JobParams {
    /// Validates `params` for `job_type`.
    pub fn parse(
        job_type: JobType,
        params: &Value,
        defaults: &Defaults,
    ) -> Result<JobParams, FieldError> {
        match job_type {
            JobType::ConnectionTest => Ok(JobParams::ConnectionTest {
                cloud_identity_id: cloud_identity(params)?,
            }),
            JobType::FetchResources => Ok(JobParams::FetchResources {
                cloud_identity_id: cloud_identity(params)?,
            }),
            JobType::DeployWorker => {
                let f = Fields::new(
                    "params",
                    params,
                    &[
                        "name", "region", "image", "cpu", "memory", "pool", "network",
                    ],
                )?;
                let name = f.required_string("name")?;
                validate_name("params.name", name)?;
                let region = Region::parse("params.region", f.required_string("region")?)?;
                let image = f
                    .string("image")?
                    .unwrap_or(&defaults.runner_image)
                    .to_string();
                validate_image("params.image", &image)?;
                let cpu = u32_field(&f, "cpu", defaults.cpu)?;
                let memory = u32_field(&f, "memory", defaults.memory)?;
                validate_size(cpu, memory)?;
                let pool = pool_name("params.pool", f.string("pool")?.unwrap_or(&defaults.pool))?;
                let network = match f.get("network") {
                    None => NetworkSpec::default(),
                    Some(n) => network(n)?,
                };
                Ok(JobParams::DeployWorker(WorkerSpec {
                    name: name.to_string(),
                    region,
                    image,
                    cpu,
                    memory,
                    pool,
                    network,
                }))
            }
            JobType::UpdateWorker => {
                let f = Fields::new("params", params, &["name", "image"])?;
                let name = f.required_string("name")?;
                validate_name("params.name", name)?;
                let image = f.string("image")?;
                if let Some(image) = image {
                    validate_image("params.image", image)?;
                }
                Ok(JobParams::UpdateWorker {
                    name: name.to_string(),
                    image: image.map(str::to_string),
                })
            }
            JobType::DestroyWorker => {
                let f = Fields::new("params", params, &["name"])?;
                let name = f.required_string("name")?;
                validate_name("params.name", name)?;
                Ok(JobParams::DestroyWorker {
                    name: name.to_string(),
                })
            }
            JobType::RunnerJob => {
                let f = Fields::new("params", params, &["pool", "payload"])?;
                let pool = pool_name("params.pool", f.string("pool")?.unwrap_or(&defaults.pool))?;
                let payload = f.required("payload")?;
                if !payload.is_object() {
                    return Err(FieldError::new("params.payload", "must be an object"));
                }
                if payload.to_string().len() > MAX_RUNNER_PAYLOAD_BYTES {
                    return Err(FieldError::new(
                        "params.payload",
                        format!("must be at most {MAX_RUNNER_PAYLOAD_BYTES} bytes of JSON"),
                    ));
                }
                Ok(JobParams::RunnerJob {
                    pool,
                    payload: payload.clone(),
                })
            }
        }
    }

    /// The job type these params belong to.
    pub fn job_type(&self) -> JobType {
        match self {
            JobParams::ConnectionTest { .. } => JobType::ConnectionTest,
            JobParams::FetchResources { .. } => JobType::FetchResources,
            JobParams::DeployWorker(_) => JobType::DeployWorker,
            JobParams::UpdateWorker { .. } => JobType::UpdateWorker,
            JobParams::DestroyWorker { .. } => JobType::DestroyWorker,
            JobParams::RunnerJob { .. } => JobType::RunnerJob,
        }
    }

    /// The canonical params document stored on the job.
    pub fn to_value(&self) -> Value {
        match self {
            JobParams::ConnectionTest { cloud_identity_id }
            | JobParams::FetchResources { cloud_identity_id } => {
                json!({ "cloud_identity_id": cloud_identity_id })
            }
            JobParams::DeployWorker(spec) => {
                serde_json::to_value(spec).unwrap_or(Value::Object(Map::new()))
            }
            JobParams::UpdateWorker { name, image: None } => json!({ "name": name }),
            JobParams::UpdateWorker {
                name,
                image: Some(image),
            } => json!({"name": name, "image": image}),
            JobParams::DestroyWorker { name } => json!({ "name": name }),
            JobParams::RunnerJob { pool, payload } => json!({"pool": pool, "payload": payload}),
        }
    }

    /// The cloud identity a job refers to, if any.
    pub fn cloud_identity_id(&self) -> Option<&str> {
        match self {
            JobParams::ConnectionTest { cloud_identity_id }
            | JobParams::FetchResources { cloud_identity_id } => Some(cloud_identity_id),
            _ => None,
        }
    }

    /// The worker a job refers to, if any.
    pub fn worker_name(&self) -> Option<&str> {
        match self {
            JobParams::DeployWorker(s) => Some(&s.name),
            JobParams::UpdateWorker { name, .. } | JobParams::DestroyWorker { name } => Some(name),
            _ => None,
        }
    }
}

fn network(value: &Value) -> Result<NetworkSpec, FieldError> {
    let f = Fields::new(
        "params.network",
        value,
        &["vpc_id", "subnet_ids", "assign_public_ip"],
    )?;
    let vpc_id = match f.string("vpc_id")? {
        Some(v) => {
            if !(v.starts_with("vpc-")
                && v.len() <= 21
                && v[4..].chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(FieldError::new(
                    "params.network.vpc_id",
                    format!("{v:?} is not a VPC id (vpc-…)"),
                ));
            }
            Some(v.to_string())
        }
        None => None,
    };
    let subnet_ids = f.string_list("subnet_ids")?.unwrap_or_default();
    for (i, s) in subnet_ids.iter().enumerate() {
        if !(s.starts_with("subnet-")
            && s.len() <= 24
            && s[7..].chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(FieldError::new(
                format!("params.network.subnet_ids[{i}]"),
                format!("{s:?} is not a subnet id (subnet-…)"),
            ));
        }
    }
    if vpc_id.is_some() == subnet_ids.is_empty() {
        return Err(FieldError::new(
            "params.network",
            "give both vpc_id and subnet_ids (a VPC and its subnets), or neither for the region's default VPC",
        ));
    }
    Ok(NetworkSpec {
        vpc_id,
        subnet_ids: subnet_ids.into_iter().map(str::to_string).collect(),
        assign_public_ip: f.boolean("assign_public_ip")?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: JobType, v: Value) -> Result<JobParams, FieldError> {
        JobParams::parse(t, &v, &Defaults::default())
    }

    #[test]
    fn deploy_worker_defaults_and_errors() {
        let p = parse(
            JobType::DeployWorker,
            json!({"name": "runner-1", "region": "eu-west-1"}),
        )
        .unwrap();
        let JobParams::DeployWorker(spec) = &p else {
            panic!()
        };
        assert_eq!(
            (spec.cpu, spec.memory, spec.pool.as_str()),
            (512, 1024, "default")
        );
        let cases = [
            (json!({"region": "eu-west-1"}), "params.name"),
            (
                json!({"name": "Bad Name", "region": "eu-west-1"}),
                "params.name",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1\n"}),
                "params.region",
            ),
            (
                json!({"name": "runner-1", "region": "mars-1"}),
                "params.region",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1", "cpu": 256, "memory": 8192}),
                "params.memory",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1", "cpu": "512"}),
                "params.cpu",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1", "colour": "red"}),
                "params.colour",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1", "network": {"vpc_id": "vpc-1"}}),
                "params.network",
            ),
            (
                json!({"name": "runner-1", "region": "eu-west-1", "network": {"vpc_id": "vpc-1", "subnet_ids": ["sub-x"]}}),
                "params.network.subnet_ids[0]",
            ),
            (json!("text"), "params"),
        ];
        for (v, field) in cases {
            assert_eq!(
                parse(JobType::DeployWorker, v.clone()).unwrap_err().field,
                field,
                "{v}"
            );
        }
    }

    #[test]
    fn connection_test_needs_an_identity() {
        assert!(
            parse(
                JobType::ConnectionTest,
                json!({"cloud_identity_id": "acme-prod"})
            )
            .is_ok()
        );
        assert_eq!(
            parse(JobType::ConnectionTest, json!({})).unwrap_err().field,
            "params.cloud_identity_id"
        );
        assert_eq!(
            parse(
                JobType::FetchResources,
                json!({"cloud_identity_id": "../x"})
            )
            .unwrap_err()
            .field,
            "params.cloud_identity_id"
        );
    }

    #[test]
    fn runner_jobs() {
        let p = parse(JobType::RunnerJob, json!({"payload": {"script": "echo"}})).unwrap();
        assert_eq!(p.to_value()["pool"], "default");
        assert!(parse(JobType::RunnerJob, json!({"payload": "x"})).is_err());
        let big = "x".repeat(MAX_RUNNER_PAYLOAD_BYTES);
        assert!(parse(JobType::RunnerJob, json!({"payload": {"b": big}})).is_err());
    }

    #[test]
    fn canonical_params_round_trip() {
        let p = parse(
            JobType::DeployWorker,
            json!({"name": "runner-1", "region": "eu-west-1", "cpu": 1024, "memory": 2048}),
        )
        .unwrap();
        let again =
            JobParams::parse(JobType::DeployWorker, &p.to_value(), &Defaults::default()).unwrap();
        assert_eq!(p, again);
    }
}
