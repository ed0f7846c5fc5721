//! Lambda `worker-jobs-begin-build`: the BeginBuild step of the worker lifecycle jobs (the Terraform build shown RUNNING as it starts).

use jobs_handlers::steps::BeginBuild;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<BeginBuild>().await
}
