//! Lambda `worker-jobs-discover-resources`: the DiscoverResources step (discover a customer's resources and cache them on the cloud identity).

use jobs_handlers::steps::DiscoverResources;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<DiscoverResources>().await
}
