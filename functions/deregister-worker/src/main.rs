//! Lambda `worker-jobs-deregister-worker`: the Deregister step of DESTROY_WORKER (remove the worker's registration).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-deregister-worker").await
}
