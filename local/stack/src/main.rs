//! `local-stack`: the whole system on one machine.
//!
//! ```text
//! local-stack demo   # start everything, run the demo jobs, stop everything
//! local-stack up     # start everything and keep it running (Ctrl-C stops it)
//! local-stack up --functions processes   # the steps as their Lambda binaries
//! ```

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use jobs_runtime::config::{AZURE_ENDPOINT_VARS, Env, GOOGLE_ENDPOINT_VARS};
use local_stack::cloud_fakes::{AzureFake, GoogleFake, demo as fakes};
use local_stack::functions::FunctionMode;
use local_stack::stack::{LocalStack, StackOptions};

#[derive(Parser)]
#[command(
    name = "local-stack",
    about = "The worker jobs on one machine: moto, the local Step Functions engine, the HTTP API, real Terraform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// How the step functions run.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Functions {
    /// Their handlers inside this process (fast).
    InProcess,
    /// Each `functions/<name>` binary as its own process polling a Lambda
    /// runtime API (`cargo lambda watch`), called through its Invoke endpoint.
    Processes,
}

impl From<Functions> for FunctionMode {
    fn from(f: Functions) -> Self {
        match f {
            Functions::InProcess => FunctionMode::InProcess,
            Functions::Processes => FunctionMode::Processes,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the stack, run the demo jobs through the HTTP API, print what they did, stop.
    Demo {
        /// How the step functions run.
        #[arg(long, value_enum, default_value_t = Functions::InProcess)]
        functions: Functions,
    },
    /// Start the stack and keep it running for scripts and the AWS CLI.
    Up {
        /// Port of the HTTP API.
        #[arg(long, default_value_t = 8080)]
        api_port: u16,
        /// Port of the Step Functions API.
        #[arg(long, default_value_t = 8083)]
        sfn_port: u16,
        /// Where to write the endpoints (NAME=value lines).
        #[arg(long, default_value = ".local/stack.env")]
        env_file: PathBuf,
        /// How the step functions run.
        #[arg(long, value_enum, default_value_t = Functions::InProcess)]
        functions: Functions,
    },
    /// Drive the HTTP API with concurrent clients in a realistic mix; print throughput, p50, p99, 5xx.
    BenchApi {
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// How long to drive it.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Start each function's release bootstrap (local/build-lambdas.sh) against a runtime API,
    /// median of N starts each; print the cold start and each zip's size.
    BenchColdStart {
        /// Starts of each function (the median is printed).
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Benchmark discovery of a seeded AWS account against a sequential boto3 script,
    /// then of a Google Cloud project and an Azure subscription (fakes, 50 ms per request).
    BenchDiscovery {
        /// Runs of each (the median is printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only the Google Cloud and Azure part.
        #[arg(long)]
        other_clouds_only: bool,
    },
}

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo {
        functions: Functions::InProcess,
    }) {
        Command::Demo { functions } => demo(functions.into()).await,
        Command::Up {
            api_port,
            sfn_port,
            env_file,
            functions,
        } => up(api_port, sfn_port, env_file, functions.into()).await,
        Command::BenchApi { clients, seconds } => bench_api(clients, seconds).await,
        Command::BenchColdStart { runs } => local_stack::cold_start::run(runs.max(1)).await,
        Command::BenchDiscovery {
            runs,
            other_clouds_only,
        } => bench(runs, other_clouds_only).await,
    };
    if let Err(e) = result {
        eprintln!("local-stack: {e}");
        std::process::exit(1);
    }
}

/// Google Cloud and Azure for the stack: the endpoints the operator set
/// (`GOOGLE_*_URL`, `AZURE_*_URL`, passed through from this process's
/// environment), else the fakes of `local_stack::cloud_fakes`, started here.
struct OtherClouds {
    google: Option<GoogleFake>,
    azure: Option<AzureFake>,
}

impl OtherClouds {
    async fn start(options: &mut StackOptions) -> local_stack::Result<OtherClouds> {
        let env = Env::process();
        let set = |vars: &[&str]| vars.iter().any(|v| env.optional(v).is_some());
        let bad =
            |e: jobs_runtime::config::ConfigError| local_stack::LocalError::Setup(e.to_string());
        let (mut google, mut azure) = (None, None);
        let (g, a) = fakes::start(12, 5).await?;
        if set(&GOOGLE_ENDPOINT_VARS) {
            options.gcp = jobs_runtime::config::gcp_endpoints(&env).map_err(bad)?;
        } else {
            options.gcp = fakes::gcp_endpoints(&g);
            google = Some(g);
        }
        if set(&AZURE_ENDPOINT_VARS) {
            options.azure = jobs_runtime::config::azure_endpoints(&env).map_err(bad)?;
        } else {
            options.azure = fakes::azure_endpoints(&a);
            azure = Some(a);
        }
        Ok(OtherClouds { google, azure })
    }

    fn banner(&self) {
        match &self.google {
            Some(g) => println!(
                "Google Cloud (fake)     {}   (set GOOGLE_*_URL to use others)",
                g.url()
            ),
            None => println!("Google Cloud            from GOOGLE_*_URL"),
        }
        match &self.azure {
            Some(a) => println!(
                "Azure (fake)            {}   (set AZURE_*_URL to use others)",
                a.url()
            ),
            None => println!("Azure                   from AZURE_*_URL"),
        }
    }
}

fn banner(stack: &LocalStack) {
    println!("AWS emulator (moto)     {}", stack.aws_endpoint);
    println!("Step Functions (local)  {}", stack.sfn_url);
    println!("HTTP API                {}", stack.api_url);
}

async fn demo(functions: FunctionMode) -> local_stack::Result<()> {
    println!("Starting the local stack ...");
    let mut options = StackOptions {
        functions,
        ..StackOptions::default()
    };
    let clouds = OtherClouds::start(&mut options).await?;
    let stack = LocalStack::start(options).await?;
    banner(&stack);
    clouds.banner();
    let mut outcome = local_stack::demo::connection_test(&stack).await.map(|_| ());
    if outcome.is_ok() {
        outcome = local_stack::demo::other_clouds(
            &stack,
            clouds.google.is_some(),
            clouds.azure.is_some(),
        )
        .await;
    }
    if outcome.is_ok() {
        outcome = local_stack::demo::worker_lifecycle(&stack).await;
    }
    if outcome.is_ok() {
        println!(
            "\nEvery job above is an execution named by its job id. To look at them with the AWS CLI, keep the stack\nrunning with `local/demo.sh up`, then: aws --endpoint-url <its Step Functions endpoint> stepfunctions\nlist-executions --state-machine-arn arn:aws:states:us-east-1:123456789012:stateMachine:connection_test"
        );
    }
    println!("\nStopping the local stack.");
    stack.stop().await;
    outcome
}

async fn up(
    api_port: u16,
    sfn_port: u16,
    env_file: PathBuf,
    functions: FunctionMode,
) -> local_stack::Result<()> {
    let mut options = StackOptions {
        api_port,
        sfn_port,
        functions,
        ..StackOptions::default()
    };
    let clouds = OtherClouds::start(&mut options).await?;
    let stack = LocalStack::start(options).await?;
    if let Some(parent) = env_file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    stack.write_env_file(&env_file)?;
    banner(&stack);
    clouds.banner();
    println!(
        "Endpoints written to {} (source it to point the AWS CLI at the stack). Ctrl-C stops everything.",
        env_file.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    println!("Stopping.");
    stack.stop().await;
    Ok(())
}

async fn bench_api(clients: usize, seconds: u64) -> local_stack::Result<()> {
    let stack = LocalStack::start(StackOptions::default()).await?;
    let result = local_stack::load::api(&stack, clients.max(1), seconds.max(1)).await;
    stack.stop().await;
    result
}

async fn bench(runs: usize, other_clouds_only: bool) -> local_stack::Result<()> {
    if other_clouds_only {
        return local_stack::bench::other_clouds(runs.max(1)).await;
    }
    let stack = LocalStack::start(StackOptions::default()).await?;
    let result = local_stack::bench::discovery(&stack, runs.max(1)).await;
    stack.stop().await;
    result?;
    local_stack::bench::other_clouds(runs.max(1)).await
}
