//! Lambda `worker-jobs-lease-sweeper`: releases the jobs of runners that stopped heartbeating (their lease lapsed), on an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_lease_sweeper().await
}
