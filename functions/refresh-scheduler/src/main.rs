//! Lambda `worker-jobs-refresh-scheduler`: a FETCH_RESOURCES job for every cloud identity, on an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_scheduled(jobs_runtime::lambda::Scheduled::Refresh).await
}
