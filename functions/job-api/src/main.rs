//! Lambda `worker-jobs-job-api`: the job API (API Gateway HTTP API: jobs and cloud identities).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_job_api().await
}
