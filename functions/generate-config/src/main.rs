//! Lambda `worker-jobs-generate-config`: the GenerateConfig step of DEPLOY_WORKER and DESTROY_WORKER (render the worker's root Terraform configuration).

use jobs_handlers::steps::GenerateConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<GenerateConfig>().await
}
