//! Lambda `worker-jobs-report-success`: the ReportSuccess step (the job ends SUCCESS with its result).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-report-success").await
}
