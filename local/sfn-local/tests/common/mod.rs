//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sfn_local::Clock;

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sfn-local-tests";

/// `local/sfn-local/testdata`.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The text of `testdata/<name>.asl.json` (the files asl-validator checks).
pub fn testdata(name: &str) -> String {
    let path = testdata_dir().join(format!("{name}.asl.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A clock whose wall time starts at a fixed instant and advances with
/// Tokio's (virtual, under `start_paused`) time, so that definitions in
/// testdata can name absolute timestamps.
pub struct TestClock {
    origin_wall: DateTime<Utc>,
    origin: tokio::time::Instant,
}

pub const CLOCK_START: &str = "2030-01-01T00:00:00Z";

impl TestClock {
    pub fn new() -> Self {
        TestClock {
            origin_wall: CLOCK_START.parse().expect("CLOCK_START"),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.origin_wall + chrono::Duration::from_std(self.origin.elapsed()).expect("elapsed")
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Sets the variables the AWS SDK and CLI need so that they never look for
/// real credentials or the instance-metadata endpoint.
pub fn aws_test_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}
