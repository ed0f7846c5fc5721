//! Configuration from the environment. Each function family parses only
//! what it needs; a missing or malformed variable is reported by name.

use jobs_adapters::azure::AzureEndpoints;
use jobs_adapters::dynamo::jobs::Retention;
use jobs_adapters::gcp::GcpEndpoints;
use jobs_domain::params::Defaults;
use jobs_domain::terraform::PlatformSettings;
use jobs_handlers::Port;
use jobs_handlers::caller::OwnerSource;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0}")]
    Startup(String),
}

/// Looks a variable up.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables from a source (the process environment, or a map in tests).
pub struct Env<'a> {
    get: Lookup<'a>,
}

impl<'a> Env<'a> {
    pub fn process() -> Env<'static> {
        Env {
            get: Box::new(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        }
    }

    pub fn from_fn(f: impl Fn(&str) -> Option<String> + 'a) -> Env<'a> {
        Env { get: Box::new(f) }
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        (self.get)(name)
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_string())
    }

    pub fn number<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name,
                reason: format!("{v:?} is not a number"),
            }),
        }
    }

    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(v) => Err(ConfigError::Invalid {
                name,
                reason: format!("{v:?} is not true or false"),
            }),
        }
    }

    pub fn url(&self, name: &'static str) -> Result<String, ConfigError> {
        let v = self.required(name)?;
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("{v:?} is not an http(s) URL"),
            });
        }
        Ok(v.trim_end_matches('/').to_string())
    }

    /// A URL that tokens are sent to: https, or http to a loopback address
    /// only (the local stack).
    pub fn secure_url(&self, name: &'static str) -> Result<String, ConfigError> {
        let v = self.url(name)?;
        let Some(rest) = v.strip_prefix("http://") else {
            return Ok(v);
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(v)
        } else {
            Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "{v:?} must be https: tokens are sent to it (http is for loopback only)"
                ),
            })
        }
    }
}

impl Env<'_> {
    /// [`Env::secure_url`] when the variable is set, `default` otherwise.
    pub fn secure_url_or(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        match self.optional(name) {
            Some(_) => self.secure_url(name),
            None => Ok(default.to_string()),
        }
    }
}

/// The Google endpoint variables, each defaulting to the public endpoint.
pub const GOOGLE_ENDPOINT_VARS: [&str; 4] = [
    "GOOGLE_STS_URL",
    "GOOGLE_IAMCREDENTIALS_URL",
    "GOOGLE_COMPUTE_URL",
    "GOOGLE_DNS_URL",
];
/// The Azure endpoint variables, each defaulting to the public cloud's.
pub const AZURE_ENDPOINT_VARS: [&str; 2] = ["AZURE_AUTHORITY_URL", "AZURE_RESOURCE_MANAGER_URL"];

/// `GOOGLE_STS_URL`, `GOOGLE_IAMCREDENTIALS_URL`, `GOOGLE_COMPUTE_URL`,
/// `GOOGLE_DNS_URL`: https (http only to loopback), tokens go there.
pub fn gcp_endpoints(env: &Env<'_>) -> Result<GcpEndpoints, ConfigError> {
    let d = GcpEndpoints::default();
    Ok(GcpEndpoints {
        sts: env.secure_url_or("GOOGLE_STS_URL", &d.sts)?,
        iam_credentials: env.secure_url_or("GOOGLE_IAMCREDENTIALS_URL", &d.iam_credentials)?,
        compute: env.secure_url_or("GOOGLE_COMPUTE_URL", &d.compute)?,
        dns: env.secure_url_or("GOOGLE_DNS_URL", &d.dns)?,
    })
}

/// `AZURE_AUTHORITY_URL`, `AZURE_RESOURCE_MANAGER_URL`.
pub fn azure_endpoints(env: &Env<'_>) -> Result<AzureEndpoints, ConfigError> {
    let d = AzureEndpoints::default();
    Ok(AzureEndpoints {
        authority: env.secure_url_or("AZURE_AUTHORITY_URL", &d.authority)?,
        resource_manager: env.secure_url_or("AZURE_RESOURCE_MANAGER_URL", &d.resource_manager)?,
    })
}

/// The default name prefix of the secrets holding identities' client secrets.
pub const IDENTITY_SECRET_PREFIX: &str = "worker-jobs/cloud-identities/";

/// Settings every function shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// Physical DynamoDB table names are this prefix and the logical name.
    pub table_prefix: String,
    /// `JOB_RETENTION_DAYS` (90) after a job finishes, and
    /// `IDEMPOTENCY_KEY_RETENTION_HOURS` (168) after a key is first used,
    /// DynamoDB's TTL deletes them.
    pub retention: Retention,
}

impl Common {
    pub fn from_env(env: &Env<'_>) -> Result<Common, ConfigError> {
        let days: i64 = env.number("JOB_RETENTION_DAYS", 90)?;
        let hours: i64 = env.number("IDEMPOTENCY_KEY_RETENTION_HOURS", 24 * 7)?;
        if days < 1 || hours < 1 {
            return Err(ConfigError::Invalid {
                name: if days < 1 {
                    "JOB_RETENTION_DAYS"
                } else {
                    "IDEMPOTENCY_KEY_RETENTION_HOURS"
                },
                reason: "must be at least 1".into(),
            });
        }
        Ok(Common {
            table_prefix: env.or("TABLE_PREFIX", "worker-jobs-"),
            retention: Retention {
                jobs: chrono::Duration::days(days),
                keys: chrono::Duration::hours(hours),
            },
        })
    }
}

/// `job-api`, `refresh-scheduler`, `execution-reconciler`.
#[derive(Debug, Clone)]
pub struct JobApiConfig {
    pub common: Common,
    /// ARNs of the state machines are this prefix and the machine name.
    pub state_machine_arn_prefix: String,
    pub defaults: Defaults,
    /// `UNSTARTED_GRACE_SECONDS`: how long a QUEUED job waits for its
    /// execution before the sweeper starts it (120).
    pub start_grace_seconds: i64,
    /// `TF_CONFIG_BUCKET`: where running Terraform builds report their
    /// progress (build id, log, plan), which a job's view shows.
    pub config_bucket: String,
    pub s3_force_path_style: bool,
    /// `IDENTITY_SECRET_PREFIX`: where identities' client secrets are kept.
    pub identity_secret_prefix: String,
    /// `REFRESH_BATCH`: identities one scheduled refresh run starts (100).
    pub refresh_batch: usize,
    /// `IDENTITY_SECRET_KMS_KEY_ID`: the KMS key identity secrets are
    /// encrypted with (unset: Secrets Manager's AWS managed key).
    pub identity_secret_kms_key: Option<String>,
    /// `OWNER_SOURCE`: where a request's owner comes from, `jwt:<claim>`
    /// or `header:<name>` (`header:X-Organization-Id`).
    pub owner_source: OwnerSource,
}

impl JobApiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<JobApiConfig, ConfigError> {
        let prefix = state_machine_arn_prefix(env)?;
        let base = Defaults::default();
        Ok(JobApiConfig {
            common: Common::from_env(env)?,
            state_machine_arn_prefix: prefix,
            defaults: Defaults {
                runner_image: env.or("RUNNER_IMAGE", &base.runner_image),
                cpu: env.number("RUNNER_DEFAULT_CPU", base.cpu)?,
                memory: env.number("RUNNER_DEFAULT_MEMORY", base.memory)?,
                pool: env.or("RUNNER_DEFAULT_POOL", &base.pool),
            },
            start_grace_seconds: env.number("UNSTARTED_GRACE_SECONDS", 120)?,
            config_bucket: env.required("TF_CONFIG_BUCKET")?,
            s3_force_path_style: env.flag("S3_FORCE_PATH_STYLE")?,
            identity_secret_prefix: env.or("IDENTITY_SECRET_PREFIX", IDENTITY_SECRET_PREFIX),
            refresh_batch: env.number("REFRESH_BATCH", 100)?,
            identity_secret_kms_key: env.optional("IDENTITY_SECRET_KMS_KEY_ID"),
            owner_source: match env.optional("OWNER_SOURCE") {
                None => OwnerSource::default(),
                Some(text) => text.parse().map_err(|reason| ConfigError::Invalid {
                    name: "OWNER_SOURCE",
                    reason,
                })?,
            },
        })
    }
}

/// `refresh-scheduler`, `execution-reconciler`, `job-sweeper`: what the
/// scheduled handlers read, a subset of the job API's settings.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub common: Common,
    pub state_machine_arn_prefix: String,
    pub start_grace_seconds: i64,
    pub refresh_batch: usize,
}

impl ScheduleConfig {
    pub fn from_env(env: &Env<'_>) -> Result<ScheduleConfig, ConfigError> {
        Ok(ScheduleConfig {
            common: Common::from_env(env)?,
            state_machine_arn_prefix: state_machine_arn_prefix(env)?,
            start_grace_seconds: env.number("UNSTARTED_GRACE_SECONDS", 120)?,
            refresh_batch: env.number("REFRESH_BATCH", 100)?,
        })
    }
}

/// `lease-sweeper`: the registry's settings but the admin token's.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub common: Common,
    pub heartbeat_ttl_seconds: i64,
}

impl LeaseConfig {
    pub fn from_env(env: &Env<'_>) -> Result<LeaseConfig, ConfigError> {
        Ok(LeaseConfig {
            common: Common::from_env(env)?,
            heartbeat_ttl_seconds: heartbeat_ttl_seconds(env)?,
        })
    }
}

fn heartbeat_ttl_seconds(env: &Env<'_>) -> Result<i64, ConfigError> {
    env.number(
        "HEARTBEAT_TTL_SECONDS",
        jobs_domain::runner::DEFAULT_HEARTBEAT_TTL_SECONDS,
    )
}

/// `STATE_MACHINE_ARN_PREFIX`, checked for its shape.
fn state_machine_arn_prefix(env: &Env<'_>) -> Result<String, ConfigError> {
    let prefix = env.required("STATE_MACHINE_ARN_PREFIX")?;
    if !prefix.starts_with("arn:") || !prefix.contains(":stateMachine:") {
        return Err(ConfigError::Invalid {
            name: "STATE_MACHINE_ARN_PREFIX",
            reason: format!(
                "{prefix:?} is not arn:<partition>:states:<region>:<account>:stateMachine:<name prefix>"
            ),
        });
    }
    Ok(prefix)
}

/// `runners-api`.
#[derive(Debug, Clone)]
pub struct RunnersApiConfig {
    pub common: Common,
    /// The Secrets Manager secret holding the registry's admin token.
    pub admin_token_secret_id: String,
    pub heartbeat_ttl_seconds: i64,
}

impl RunnersApiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<RunnersApiConfig, ConfigError> {
        Ok(RunnersApiConfig {
            common: Common::from_env(env)?,
            admin_token_secret_id: env.required("REGISTRY_ADMIN_TOKEN_SECRET_ID")?,
            heartbeat_ttl_seconds: heartbeat_ttl_seconds(env)?,
        })
    }
}

/// The state machine steps. A step's function parses only the settings of
/// the ports its `USES` names, so `worker-jobs-mark-running` starts with
/// nothing but `TABLE_PREFIX`, and a missing setting is reported by the one
/// function that needs it.
#[derive(Debug, Clone)]
pub struct StepConfig {
    pub common: Common,
    /// [`Port::Platform`]: `TF_STATE_BUCKET`, `TF_STATE_REGION` (else the
    /// function's region), `PLATFORM_API_URL`, `RUNNER_MODULE_SOURCE`,
    /// `RUNNER_LOG_RETENTION_DAYS`, `RUNNER_STOP_TIMEOUT_SECONDS`.
    pub platform: Option<PlatformSettings>,
    /// [`Port::Artifacts`]: `TF_CONFIG_BUCKET`, `S3_FORCE_PATH_STYLE`.
    pub artifacts: Option<ArtifactsConfig>,
    /// [`Port::Registry`]: `REGISTRY_URL`, `REGISTRY_ADMIN_TOKEN_SECRET_ID`.
    pub registry: Option<RegistryConfig>,
    /// [`Port::Verifier`] or [`Port::Discovery`]: `DISCOVERY_CONCURRENCY`
    /// and the Google and Azure endpoints.
    pub clouds: Option<CloudsConfig>,
    /// [`Port::Releases`]: `RUNNER_IMAGE`, the platform's Runner release,
    /// which UPDATE_WORKER rolls out when the job names no image.
    pub release_image: Option<String>,
}

/// Where rendered Terraform configurations and build results are kept.
#[derive(Debug, Clone)]
pub struct ArtifactsConfig {
    pub config_bucket: String,
    /// For emulators on loopback addresses (no bucket host names).
    pub s3_force_path_style: bool,
}

/// The runner registry the steps call.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URL (https, or http to loopback).
    pub url: String,
    /// The Secrets Manager secret holding the registry's admin token.
    pub admin_token_secret_id: String,
}

/// The customers' clouds.
#[derive(Debug, Clone)]
pub struct CloudsConfig {
    pub discovery_concurrency: usize,
    /// `GOOGLE_STS_URL`, `GOOGLE_IAMCREDENTIALS_URL`, `GOOGLE_COMPUTE_URL`,
    /// `GOOGLE_DNS_URL`: the Google APIs (public endpoints by default).
    pub gcp: GcpEndpoints,
    /// `AZURE_AUTHORITY_URL`, `AZURE_RESOURCE_MANAGER_URL`.
    pub azure: AzureEndpoints,
}

impl StepConfig {
    /// The settings of the ports in `uses`.
    pub fn from_env(env: &Env<'_>, uses: &[Port]) -> Result<StepConfig, ConfigError> {
        let wants = |p: Port| uses.contains(&p);
        let platform = if wants(Port::Platform) {
            let region = env
                .optional("AWS_REGION")
                .or_else(|| env.optional("AWS_DEFAULT_REGION"));
            let state_bucket = env.required("TF_STATE_BUCKET")?;
            Some(PlatformSettings {
                state_region: env
                    .optional("TF_STATE_REGION")
                    .or(region)
                    .ok_or(ConfigError::Missing("TF_STATE_REGION"))?,
                state_bucket,
                platform_api_url: env.secure_url("PLATFORM_API_URL")?,
                module_source: env.or("RUNNER_MODULE_SOURCE", "./modules/fargate-runner"),
                log_retention_days: env.number("RUNNER_LOG_RETENTION_DAYS", 30)?,
                stop_timeout_seconds: env.number("RUNNER_STOP_TIMEOUT_SECONDS", 120)?,
            })
        } else {
            None
        };
        let artifacts = if wants(Port::Artifacts) {
            Some(ArtifactsConfig {
                config_bucket: env.required("TF_CONFIG_BUCKET")?,
                s3_force_path_style: env.flag("S3_FORCE_PATH_STYLE")?,
            })
        } else {
            None
        };
        let registry = if wants(Port::Registry) {
            Some(RegistryConfig {
                url: env.secure_url("REGISTRY_URL")?,
                admin_token_secret_id: env.required("REGISTRY_ADMIN_TOKEN_SECRET_ID")?,
            })
        } else {
            None
        };
        let clouds = if wants(Port::Verifier) || wants(Port::Discovery) {
            Some(CloudsConfig {
                discovery_concurrency: env.number("DISCOVERY_CONCURRENCY", 8)?,
                gcp: gcp_endpoints(env)?,
                azure: azure_endpoints(env)?,
            })
        } else {
            None
        };
        Ok(StepConfig {
            common: Common::from_env(env)?,
            platform,
            artifacts,
            registry,
            clouds,
            release_image: wants(Port::Releases)
                .then(|| env.or("RUNNER_IMAGE", &Defaults::default().runner_image)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn provider_endpoints_default_to_the_public_ones_and_must_be_https() {
        let vars = env(&[("GOOGLE_STS_URL", "http://127.0.0.1:9/")]);
        let g = gcp_endpoints(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
        assert_eq!(g.sts, "http://127.0.0.1:9");
        assert_eq!(g.dns, "https://dns.googleapis.com");
        let vars = env(&[("AZURE_AUTHORITY_URL", "http://login.example.com")]);
        let e = azure_endpoints(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert!(e.to_string().contains("AZURE_AUTHORITY_URL"), "{e}");
    }

    #[test]
    fn missing_variables_are_named() {
        let vars = env(&[("TF_STATE_BUCKET", "b"), ("AWS_REGION", "us-east-1")]);
        let e = StepConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned()), &[Port::Platform])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the environment variable PLATFORM_API_URL is required but not set"
        );
        let e = StepConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned()), &[Port::Registry])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the environment variable REGISTRY_URL is required but not set"
        );
    }

    #[test]
    fn a_step_parses_only_the_settings_of_the_ports_it_uses() {
        let vars = env(&[("TABLE_PREFIX", "t-")]);
        let lookup = |k: &str| vars.get(k).cloned();
        let c = StepConfig::from_env(&Env::from_fn(lookup), &[]).unwrap();
        assert_eq!(c.common.table_prefix, "t-");
        assert!(c.platform.is_none() && c.artifacts.is_none() && c.registry.is_none());
        assert!(c.clouds.is_none() && c.release_image.is_none());
        let c = StepConfig::from_env(&Env::from_fn(lookup), &[Port::Discovery, Port::Releases])
            .unwrap();
        assert_eq!(c.clouds.map(|c| c.discovery_concurrency), Some(8));
        assert!(c.release_image.is_some() && c.registry.is_none());
        let e = StepConfig::from_env(&Env::from_fn(lookup), &[Port::Artifacts]).unwrap_err();
        assert!(e.to_string().contains("TF_CONFIG_BUCKET"), "{e}");
    }

    #[test]
    fn token_urls_must_be_https_unless_loopback() {
        for (url, ok) in [
            ("https://api.example.com", true),
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080/", true),
            ("http://[::1]:8080", true),
            ("http://api.example.com", false),
            ("http://10.0.0.5:8080", false),
            ("http://127.0.0.1.evil.com", false),
        ] {
            let e = Env::from_fn(|k| (k == "REGISTRY_URL").then(|| url.to_string()));
            assert_eq!(e.secure_url("REGISTRY_URL").is_ok(), ok, "{url}");
        }
        let e = Env::from_fn(|_| Some("http://api.example.com".to_string()));
        let err = e.secure_url("REGISTRY_URL").unwrap_err().to_string();
        assert!(
            err.contains("REGISTRY_URL") && err.contains("https"),
            "{err}"
        );
    }

    #[test]
    fn malformed_variables_are_named() {
        let vars = env(&[
            (
                "STATE_MACHINE_ARN_PREFIX",
                "arn:aws:states:us-east-1:1:stateMachine:",
            ),
            ("RUNNER_DEFAULT_CPU", "lots"),
        ]);
        let e = JobApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert!(e.to_string().contains("RUNNER_DEFAULT_CPU"), "{e}");
        let vars = env(&[("STATE_MACHINE_ARN_PREFIX", "nope")]);
        let e = JobApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert!(e.to_string().contains("STATE_MACHINE_ARN_PREFIX"), "{e}");
    }
}
