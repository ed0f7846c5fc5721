//! The state machines' step functions, run one of two ways:
//!
//! * in-process (the default): the engine calls each step's handler inside
//!   this process, wired exactly as its function wires itself (the settings
//!   parsed from the same environment, the clients of its `USES` only);
//! * as Lambda processes ([`FunctionMode::Processes`]): each step is its real
//!   `functions/<name>` binary, polling a Lambda runtime API that
//!   `cargo lambda watch --only-lambda-apis` serves on loopback, and the
//!   engine calls it through that tool's Invoke endpoint. This runs what
//!   ships to AWS: `main.rs`, configuration parsing at cold start, and the
//!   `lambda_runtime` error path whose `errorType` the state machines'
//!   Retry and Catch match.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_types::SdkConfig;
use jobs_adapters::azure::AzureEndpoints;
use jobs_adapters::gcp::GcpEndpoints;
use jobs_handlers::steps::{self, StepEntry};
use jobs_runtime::config::{Env, StepConfig};
use jobs_runtime::wire;
use sfn_local::integrations::lambda::function;
use sfn_local::{FunctionError, HttpLambdaInvoker, InProcessLambdas};
use tokio::process::{Child, Command};
use tracing::Instrument;

use crate::moto::free_port;
use crate::{LocalError, Result, paths};

/// How the stack runs the step functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FunctionMode {
    /// The handlers inside the stack's process.
    #[default]
    InProcess,
    /// Each function's binary as its own process under a Lambda runtime API.
    Processes,
}

/// The prefix of every function's name (`infra/platform/lambda.tf`); the
/// rest is its crate and binary name.
pub const FUNCTION_PREFIX: &str = "worker-jobs-";

/// The settings the step functions read, as `infra/platform/lambda.tf`
/// sets them on AWS.
pub struct StepSettings<'a> {
    pub table_prefix: &'a str,
    pub api_url: &'a str,
    pub state_bucket: &'a str,
    pub state_region: &'a str,
    pub config_bucket: &'a str,
    pub admin_secret: &'a str,
    pub release_image: &'a str,
    pub gcp: &'a GcpEndpoints,
    pub azure: &'a AzureEndpoints,
}

impl StepSettings<'_> {
    /// The functions' environment variables (without the AWS SDK's).
    pub fn environment(&self) -> Vec<(String, String)> {
        [
            ("TABLE_PREFIX", self.table_prefix),
            ("TF_STATE_BUCKET", self.state_bucket),
            ("TF_STATE_REGION", self.state_region),
            ("TF_CONFIG_BUCKET", self.config_bucket),
            // The emulator is on a loopback address: no bucket host names.
            ("S3_FORCE_PATH_STYLE", "true"),
            ("PLATFORM_API_URL", self.api_url),
            ("REGISTRY_URL", self.api_url),
            ("REGISTRY_ADMIN_TOKEN_SECRET_ID", self.admin_secret),
            ("DISCOVERY_CONCURRENCY", "8"),
            ("RUNNER_LOG_RETENTION_DAYS", "7"),
            ("RUNNER_STOP_TIMEOUT_SECONDS", "30"),
            ("RUNNER_MODULE_SOURCE", "./modules/fargate-runner"),
            ("RUNNER_IMAGE", self.release_image),
            ("GOOGLE_STS_URL", &self.gcp.sts),
            ("GOOGLE_IAMCREDENTIALS_URL", &self.gcp.iam_credentials),
            ("GOOGLE_COMPUTE_URL", &self.gcp.compute),
            ("GOOGLE_DNS_URL", &self.gcp.dns),
            ("AZURE_AUTHORITY_URL", &self.azure.authority),
            ("AZURE_RESOURCE_MANAGER_URL", &self.azure.resource_manager),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// Every step handler registered under its function name, each wired from
/// `environment` with only the ports its `USES` names, as its function's
/// `main.rs` would be. With `twice`, every event is delivered twice and the
/// second answer counts (at-least-once delivery).
pub fn in_process(
    environment: &[(String, String)],
    sdk: &SdkConfig,
    twice: bool,
) -> Result<InProcessLambdas> {
    let env = Env::from_fn(|k| {
        environment
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    });
    let mut lambdas = InProcessLambdas::new();
    for step in steps::all() {
        let wiring = |e: jobs_runtime::config::ConfigError| {
            LocalError::Setup(format!("wiring {}: {e}", step.function))
        };
        let config = StepConfig::from_env(&env, step.uses).map_err(wiring)?;
        let deps = wire::step_deps(&config, sdk, step.uses).map_err(wiring)?;
        let handler = step.invoke;
        let fname = step.function.to_string();
        lambdas.register(
            step.function,
            function(move |payload| {
                let (deps, fname) = (deps.clone(), fname.clone());
                async move {
                    let span = || tracing::info_span!("lambda", function = %fname);
                    if twice {
                        let first = handler(deps.clone(), payload.clone())
                            .instrument(span())
                            .await;
                        tracing::info!(function = %fname, first_ok = first.is_ok(), "delivering the event a second time");
                    }
                    handler(deps, payload)
                        .instrument(span())
                        .await
                        .map_err(|e| FunctionError {
                            error_type: e.error_type().to_string(),
                            error_message: e.wire_message(),
                        })
                }
            }),
        );
    }
    Ok(lambdas)
}

/// The binary name of a function (`worker-jobs-mark-running` → `mark-running`).
pub fn binary_name(function: &str) -> &str {
    function.strip_prefix(FUNCTION_PREFIX).unwrap_or(function)
}

/// Where the step functions' binaries are: `WORKER_JOBS_FUNCTIONS_DIR`
/// (prebuilt ones, used as they are), else the debug profile of the cargo
/// target directory, where they must be newer than the sources
/// ([`check_fresh`]).
pub fn binaries_dir() -> (PathBuf, bool) {
    if let Some(dir) = std::env::var_os("WORKER_JOBS_FUNCTIONS_DIR") {
        return (PathBuf::from(dir), true);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::root().join("target"));
    (target.join("debug"), false)
}

/// The newest modification time of the Rust sources and manifests the
/// functions are built from.
fn newest_source(dir: &std::path::Path, newest: &mut std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            newest_source(&path, newest);
        } else if path
            .extension()
            .is_some_and(|x| x == "rs" || x == "toml" || x == "json")
            && let Ok(modified) = e.metadata().and_then(|m| m.modified())
        {
            *newest = (*newest).max(modified);
        }
    }
}

/// The stack runs the binaries it finds, so it refuses ones older than the
/// sources (`functions/`, `shared/`, `statemachines/`): the command that
/// builds them is in the message. It does not build them itself: a build
/// of only the functions resolves the dependencies' features differently
/// from the workspace's and would compile the AWS SDKs a second time.
pub fn check_fresh(dir: &std::path::Path, entries: &[StepEntry]) -> Result<()> {
    let root = paths::root();
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for sub in ["functions", "shared", "statemachines"] {
        newest_source(&root.join(sub), &mut newest);
    }
    let stale: Vec<&str> = entries
        .iter()
        .map(|e| binary_name(e.function))
        .filter(|name| {
            std::fs::metadata(dir.join(name))
                .and_then(|m| m.modified())
                .map_or(true, |built| built < newest)
        })
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(LocalError::Setup(format!(
            "the function binaries {stale:?} in {} are missing or older than the sources: run `cargo build --workspace --all-targets` (local/test.sh does)",
            dir.display()
        )))
    }
}

/// `cargo lambda watch --only-lambda-apis` and one process per step
/// function polling it. Stopped (by PID) by [`LambdaProcesses::stop`] or
/// when dropped.
pub struct LambdaProcesses {
    /// The Invoke endpoint (`POST /2015-03-31/functions/{name}/invocations`).
    pub endpoint: String,
    watch: Child,
    functions: Vec<(String, Child)>,
}

/// How long `cargo lambda watch` may take to answer on its port.
const WATCH_START: Duration = Duration::from_secs(60);

impl LambdaProcesses {
    /// Starts the runtime API and every step function's binary with
    /// `environment` (the SDK's and [`StepSettings::environment`]).
    pub async fn start(environment: &[(String, String)]) -> Result<LambdaProcesses> {
        let entries = steps::all();
        let (dir, prebuilt) = binaries_dir();
        if !prebuilt {
            check_fresh(&dir, &entries)?;
        }
        let port = free_port()?;
        // One directory per stack: tests may run several at once.
        let logs = paths::root().join(format!(".local/logs/lambda-{port}"));
        std::fs::create_dir_all(&logs).map_err(io("creating the functions' log directory"))?;
        let watch = start_watch(port, &logs).await?;
        let mut processes = LambdaProcesses {
            endpoint: format!("http://127.0.0.1:{port}"),
            watch,
            functions: Vec::new(),
        };
        for e in entries {
            let name = binary_name(e.function);
            let log = log_file(&logs, name)?;
            let child =
                spawn_function(&dir.join(name), name, &processes.endpoint, environment, log)?;
            processes.functions.push((name.to_string(), child));
        }
        Ok(processes)
    }

    /// The engine's view: Invoke calls by function name, mapped to the
    /// binary names `cargo lambda` knows them by.
    pub fn invoker(&self) -> HttpLambdaInvoker {
        HttpLambdaInvoker::new(&self.endpoint).with_name_prefix_stripped(FUNCTION_PREFIX)
    }

    /// The PIDs of the function processes, by binary name.
    pub fn pids(&self) -> Vec<(String, Option<u32>)> {
        self.functions
            .iter()
            .map(|(n, c)| (n.clone(), c.id()))
            .collect()
    }

    /// Ends every process this started (by PID) and waits for them.
    pub async fn stop(mut self) {
        for (_, child) in &mut self.functions {
            let _ = child.kill().await;
        }
        let _ = self.watch.kill().await;
    }
}

/// Starts `cargo lambda watch` on loopback `port` and waits until its
/// Invoke endpoint answers.
async fn start_watch(port: u16, logs: &std::path::Path) -> Result<Child> {
    let bin = paths::venv_bin("cargo-lambda")?;
    let log = log_file(logs, "cargo-lambda-watch")?;
    let child = Command::new(&bin)
        .args(["lambda", "watch", "--only-lambda-apis", "--quiet"])
        .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(port.to_string())
        // An invocation waits for its function however long the step takes;
        // the state machines' TimeoutSeconds bound it.
        .args(["--timeout", "900"])
        .current_dir(paths::root())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("the watch log"))?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LocalError::Setup(format!("cannot start {}: {e}", bin.display())))?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if started.elapsed() > WATCH_START {
            return Err(LocalError::Setup(format!(
                "cargo lambda watch did not listen on port {port} within {WATCH_START:?} (see {}/cargo-lambda-watch.log)",
                logs.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(child)
}

/// Starts one function binary against the runtime API (its path segment
/// `/.rt/<name>` tells `cargo lambda` which function's queue it polls).
pub fn spawn_function(
    binary: &std::path::Path,
    name: &str,
    endpoint: &str,
    environment: &[(String, String)],
    log: std::fs::File,
) -> Result<Child> {
    if !binary.exists() {
        return Err(LocalError::Setup(format!(
            "no function binary {} (cargo build --workspace --all-targets, or set WORKER_JOBS_FUNCTIONS_DIR)",
            binary.display()
        )));
    }
    Command::new(binary)
        .env_clear()
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", format!("{endpoint}/.rt/{name}"))
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("{FUNCTION_PREFIX}{name}"),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("a function log"))?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LocalError::Setup(format!("cannot start {}: {e}", binary.display())))
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> LocalError {
    move |e| LocalError::Setup(format!("{what}: {e}"))
}

/// `<dir>/<name>.log`, truncated: where a process's output goes.
pub fn log_file(dir: &std::path::Path, name: &str) -> Result<std::fs::File> {
    std::fs::File::create(dir.join(format!("{name}.log"))).map_err(io("creating a log file"))
}
