//! Lambda `worker-jobs-check-deployment`: the CheckDeployment step of UPDATE_WORKER (is the new task definition deployed, failed or rolled back?).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-check-deployment").await
}
