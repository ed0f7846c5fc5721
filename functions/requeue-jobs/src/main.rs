//! Lambda `worker-jobs-requeue-jobs`: the RequeueJobs step of DESTROY_WORKER (unfinished jobs of the runner go back to QUEUED).

use jobs_handlers::steps::RequeueJobs;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<RequeueJobs>().await
}
