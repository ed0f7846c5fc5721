//! Lambda `worker-jobs-abandon-deployment`: the AbandonDeployment step of DEPLOY_WORKER (a failed deploy leaves nothing live).

use jobs_handlers::steps::AbandonDeployment;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<AbandonDeployment>().await
}
