//! Lambda `worker-jobs-execution-reconciler`: marks a job FAILED when its execution ended FAILED, TIMED_OUT or ABORTED unreported (EventBridge "Step Functions Execution Status Change").

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_scheduled(jobs_runtime::lambda::Scheduled::Reconcile).await
}
