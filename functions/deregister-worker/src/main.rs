//! Lambda `worker-jobs-deregister-worker`: the Deregister step of DESTROY_WORKER (remove the worker's registration).

use jobs_handlers::steps::DeregisterWorker;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<DeregisterWorker>().await
}
