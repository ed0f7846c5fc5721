//! Lambda `worker-jobs-check-deployment`: the CheckDeployment step of UPDATE_WORKER (is the new task definition deployed, failed or rolled back?).

use jobs_handlers::steps::CheckDeployment;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<CheckDeployment>().await
}
