//! Lambda `worker-jobs-report-success`: the ReportSuccess step (the job ends SUCCESS with its result).

use jobs_handlers::steps::ReportSuccess;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<ReportSuccess>().await
}
