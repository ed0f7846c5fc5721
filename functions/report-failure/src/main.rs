//! Lambda `worker-jobs-report-failure`: the ReportFailure step (the job ends FAILED with a cause a person can act on).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-report-failure").await
}
