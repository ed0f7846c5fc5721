//! `sfn-local`: serves the Step Functions API on loopback.
//!
//! ```text
//! sfn-local --port 8083 --definitions statemachines \
//!           --lambda-endpoint http://127.0.0.1:9000 \
//!           --codebuild-project worker-jobs-terraform=infra/buildspec/terraform.yml
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use sfn_local::{Builder, CodeBuildProject, HttpLambdaInvoker};

#[derive(Parser, Debug)]
#[command(
    name = "sfn-local",
    about = "A local AWS Step Functions engine and API server"
)]
struct Args {
    /// Port to listen on (127.0.0.1 only); 0 picks a free port.
    #[arg(long, default_value_t = 8083)]
    port: u16,
    /// Load every *.asl.json in this directory as a state machine named after the file.
    #[arg(long)]
    definitions: Option<PathBuf>,
    /// Forward Lambda invocations to this Lambda Invoke API endpoint.
    #[arg(long)]
    lambda_endpoint: Option<String>,
    /// A CodeBuild project: NAME=BUILDSPEC[:SOURCE_DIR] (source defaults to the current directory).
    #[arg(long = "codebuild-project", value_name = "NAME=BUILDSPEC[:SOURCE_DIR]")]
    codebuild_projects: Vec<String>,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// Role ARN recorded for the preloaded state machines.
    #[arg(long, default_value = "arn:aws:iam::123456789012:role/sfn-local")]
    role_arn: String,
    /// Finished executions kept in memory with their history.
    #[arg(long, default_value_t = 10_000)]
    max_retained_executions: usize,
}

fn parse_project(spec: &str) -> Result<CodeBuildProject, String> {
    let (name, rest) = spec.split_once('=').ok_or_else(|| {
        format!("--codebuild-project '{spec}': expected NAME=BUILDSPEC[:SOURCE_DIR]")
    })?;
    let (buildspec, source) = match rest.split_once(':') {
        Some((b, s)) => (PathBuf::from(b), PathBuf::from(s)),
        None => (
            PathBuf::from(rest),
            std::env::current_dir().map_err(|e| e.to_string())?,
        ),
    };
    Ok(CodeBuildProject {
        name: name.to_string(),
        buildspec,
        source_dir: source,
        environment: Vec::new(),
        logs_dir: None,
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("sfn-local: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut builder = Builder::new()
        .region(&args.region)
        .account_id(&args.account_id)
        .max_retained_executions(args.max_retained_executions);
    if let Some(endpoint) = &args.lambda_endpoint {
        builder = builder.lambda(Arc::new(HttpLambdaInvoker::new(endpoint.clone())));
    }
    for spec in &args.codebuild_projects {
        builder = builder.codebuild_project(parse_project(spec)?);
    }
    let service = builder.build();
    if let Some(dir) = &args.definitions {
        let names = sfn_local::load_definitions(&service, dir, &args.role_arn)?;
        for n in names {
            eprintln!("loaded state machine {}", service.state_machine_arn(&n));
        }
    }
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port);
    let server = sfn_local::server::serve(service, addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("sfn-local listening on {}", server.endpoint());
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    server.shutdown().await;
    Ok(())
}
