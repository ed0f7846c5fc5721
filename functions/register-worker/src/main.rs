//! Lambda `worker-jobs-register-worker`: the RegisterWorker step of DEPLOY_WORKER (register, fill the worker's secret, start its service).

use jobs_handlers::steps::RegisterWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<RegisterWorker>().await
}
