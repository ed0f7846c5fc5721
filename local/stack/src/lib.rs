//! The local stack: the whole system on one machine, on loopback.
//!
//! * [`moto`]: the AWS emulator (moto in server mode), one fresh server per
//!   stack, ended by its PID;
//! * [`stack`]: the tables, buckets and secrets, the Step Functions engine
//!   with the handlers in-process and the Terraform build as a local
//!   process, and the HTTP APIs;
//! * [`http_api`]: API Gateway stand-in handing proxy events to the handlers;
//! * [`build_logs`]: the Terraform builds' output into the emulator's CloudWatch Logs;
//! * [`seed`]: an emulated customer account to test against;
//! * [`bench`], [`latency`], [`throttle`]: the discovery benchmark, its
//!   proxy adding latency and AWS's throttling;
//! * [`api_client`]: the HTTP client the demo, the stand-in and the tests use;
//! * [`cloud_fakes`]: HTTP fakes of the Google Cloud and Azure APIs, for tests and the demo;
//! * [`demo`]: what the README's first command shows.

pub mod api_client;
pub mod aws_env;
pub mod bench;
pub mod build_logs;
pub mod cloud_fakes;
pub mod cold_start;
pub mod demo;
pub mod functions;
pub mod http_api;
pub mod latency;
pub mod leftovers;
pub mod load;
pub mod moto;
pub mod paths;
pub mod seed;
pub mod stack;
pub mod standin;
pub mod terraform;
pub mod throttle;

/// Errors of the local stack, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0}")]
    Setup(String),
    #[error("the emulator failed: {0}")]
    Moto(String),
    #[error("{0}")]
    Step(#[from] jobs_domain::StepError),
    #[error("{0}")]
    Http(String),
}

pub type Result<T> = std::result::Result<T, LocalError>;
