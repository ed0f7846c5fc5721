//! Lambda `worker-jobs-job-sweeper`: starts every job accepted but never started (its StartExecution was lost), on an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_scheduled(jobs_runtime::lambda::Scheduled::Sweep).await
}
