//! SDK configuration for the emulator: region, dummy credentials and the
//! endpoint, set through the standard SDK configuration (never user input).

use aws_config::BehaviorVersion;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_types::SdkConfig;
use aws_types::region::Region;
use jobs_adapters::aws;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// The platform's own SDK configuration against `endpoint`, with the
/// functions' retries and timeouts (`attempt`: how long one attempt may take).
pub async fn sdk_config(endpoint: &str, attempt: Duration) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            None,
            None,
            "local-stack",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws::retries())
        .timeout_config(aws::timeouts(attempt))
        .load()
        .await
}

/// Environment for child processes (Terraform, the AWS CLI) and for a
/// stack's users: region, dummy credentials, the emulator endpoint, and no
/// instance-metadata probing.
pub fn child_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("CHECKPOINT_DISABLE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
