//! Lambda `worker-jobs-runners-api`: the runner registry API (API Gateway HTTP API: register, heartbeat, claim, remove).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_runners_api().await
}
