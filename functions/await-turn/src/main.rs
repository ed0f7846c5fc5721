//! Lambda `worker-jobs-await-turn`: the AwaitTurn step of the worker lifecycle jobs (one per worker at a time, in submission order).

use jobs_handlers::steps::AwaitTurn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<AwaitTurn>().await
}
