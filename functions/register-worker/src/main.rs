//! Lambda `worker-jobs-register-worker`: the RegisterWorker step of DEPLOY_WORKER (register, fill the worker's secret, start its service).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step("worker-jobs-register-worker").await
}
