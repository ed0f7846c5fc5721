//! Lambda `worker-jobs-mark-running`: the MarkRunning step (QUEUED to RUNNING).

use jobs_handlers::steps::MarkRunning;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<MarkRunning>().await
}
