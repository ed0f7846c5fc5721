//! The pure domain of the worker & utility jobs: jobs and their lifecycle,
//! request validation, cloud identities and their resource inventory, the
//! runner registry's rules, worker deployments (Terraform rendering,
//! Fargate sizes) and the requeue rule. No AWS, HTTP or storage imports:
//! the outside world is reached through the traits in [`ports`].

pub mod error;
pub mod identity;
pub mod inventory;
pub mod job;
pub mod owner;
pub mod params;
pub mod ports;
pub mod provider_errors;
pub mod refresh;
pub mod region;
pub mod runner;
pub mod runs;
pub mod secret;
pub mod terraform;
pub mod terraform_build;
pub mod time;
pub mod validate;
pub mod worker;

pub use error::{ErrorKind, StepError};
pub use secret::SecretString;
pub use validate::FieldError;
