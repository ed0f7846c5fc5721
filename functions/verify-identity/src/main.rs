//! Lambda `worker-jobs-verify-identity`: the VerifyIdentity step of CONNECTION_TEST (sts:AssumeRole with the ExternalId, sts:GetCallerIdentity).

use jobs_handlers::steps::VerifyIdentity;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    jobs_runtime::lambda::serve_step::<VerifyIdentity>().await
}
