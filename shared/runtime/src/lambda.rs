//! The Lambda runtime glue each function's `main.rs` calls: configuration
//! and clients built once per cold start, then `lambda_runtime::run`.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use jobs_domain::StepError;
use jobs_handlers::steps::{Step, invoke};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::config::{
    ConfigError, Env, JobApiConfig, LeaseConfig, RunnersApiConfig, ScheduleConfig, StepConfig,
};
use crate::wire;

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// The Lambda error for a step error: `errorType` is what the state
/// machines' Retry and Catch match on.
pub fn diagnostic(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_string(),
        error_message: e.wire_message(),
    }
}

fn startup(e: ConfigError) -> lambda_runtime::Error {
    tracing::error!(error = %e, "cannot start");
    Box::new(e)
}

/// Serves state machine step `S` (the function's `main.rs` names it, so the
/// binary is linked to its handler by the compiler).
pub async fn serve_step<S: Step>() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = StepConfig::from_env(&Env::process(), S::USES).map_err(startup)?;
    let sdk = jobs_adapters::aws::load_config().await;
    let deps = wire::step_deps_of::<S>(&config, &sdk).map_err(startup)?;
    tracing::debug!(function = S::FUNCTION, "serving");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move { invoke::<S>(&deps, event.payload).await.map_err(diagnostic) }
    }))
    .await
}

/// Serves the job API.
pub async fn serve_job_api() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = JobApiConfig::from_env(&Env::process()).map_err(startup)?;
    let sdk = jobs_adapters::aws::load_config().await;
    let deps = wire::job_api_deps(&config, &sdk, aws_sdk_sfn::Client::new(&sdk));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let deps = deps.clone();
            async move {
                Ok::<_, Diagnostic>(jobs_handlers::jobs_api::handle(&deps, event.payload).await)
            }
        },
    ))
    .await
}

/// Serves the runner registry API.
pub async fn serve_runners_api() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = RunnersApiConfig::from_env(&Env::process()).map_err(startup)?;
    let sdk = jobs_adapters::aws::load_config().await;
    let deps = wire::runners_api_deps(&config, &sdk)
        .await
        .map_err(startup)?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let deps = deps.clone();
            async move {
                Ok::<_, Diagnostic>(jobs_handlers::runners_api::handle(&deps, event.payload).await)
            }
        },
    ))
    .await
}

/// Serves the lease sweeper (an EventBridge schedule): releases the jobs of
/// runners that stopped heartbeating.
pub async fn serve_lease_sweeper() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = LeaseConfig::from_env(&Env::process()).map_err(startup)?;
    let sdk = jobs_adapters::aws::load_config().await;
    let deps = wire::lease_deps(&config, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            jobs_handlers::leases::expire(&deps, event.payload)
                .await
                .map_err(diagnostic)
        }
    }))
    .await
}

/// Which scheduled handler to serve.
#[derive(Debug, Clone, Copy)]
pub enum Scheduled {
    Refresh,
    Reconcile,
    Sweep,
}

/// Serves an EventBridge-triggered handler.
pub async fn serve_scheduled(which: Scheduled) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = ScheduleConfig::from_env(&Env::process()).map_err(startup)?;
    let sdk = jobs_adapters::aws::load_config().await;
    let deps = wire::schedule_deps(&config, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            let result = match which {
                Scheduled::Refresh => {
                    jobs_handlers::schedule::refresh_all(&deps, event.payload).await
                }
                Scheduled::Reconcile => {
                    jobs_handlers::schedule::reconcile(&deps, event.payload).await
                }
                Scheduled::Sweep => {
                    jobs_handlers::schedule::start_unstarted(&deps, event.payload).await
                }
            };
            result.map_err(diagnostic)
        }
    }))
    .await
}
