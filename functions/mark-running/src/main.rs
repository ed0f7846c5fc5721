//! Lambda `worker-jobs-mark-running`: the MarkRunning step (QUEUED to RUNNING).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-mark-running").await
}
