//! Lambda `worker-jobs-report-failure`: the ReportFailure step (the job ends FAILED with a cause a person can act on).

use jobs_handlers::steps::ReportFailure;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<ReportFailure>().await
}
