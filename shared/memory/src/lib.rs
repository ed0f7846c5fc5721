//! In-memory implementations of every port in `jobs_domain::ports`, as
//! `serverless-rust-demo`'s memory store is for its DynamoDB store: the
//! handlers' unit tests run on them (no emulator, no network), and their
//! own tests pin down what each port promises (conditional writes on a
//! version, idempotency keys, paging, "already done" answers).
//!
//! Each one can be told to fail its next calls ([`Faults`]) so that tests
//! reach the error paths (a conflict, a throttled dependency, an
//! unavailable registry) the same way a real adapter would report them.
//!
//! * [`jobs`]: jobs and idempotency keys;
//! * [`stores`]: cloud identities (with their inventory), worker
//!   deployments, the workers' run queues and the registry's runners;
//! * [`platform`]: the runner registry, worker secrets, ECS services,
//!   rendered configurations and the Step Functions starter;
//! * [`logs`]: the Terraform builds' output, as CloudWatch Logs keeps it;
//! * [`customer`]: a customer's cloud account (verification, discovery);
//! * [`clock`]: a clock that moves only when told to.

pub mod clock;
pub mod customer;
pub mod faults;
pub mod jobs;
pub mod logs;
pub mod platform;
pub mod stores;

pub use clock::ManualClock;
pub use customer::MemoryCloud;
pub use faults::Faults;
pub use jobs::MemoryJobStore;
pub use logs::MemoryBuildLogs;
pub use platform::{
    MemoryArtifacts, MemoryIdentitySecrets, MemoryRegistry, MemoryReleases, MemoryServices,
    MemoryStarter, MemoryWorkerSecrets,
};
pub use stores::{MemoryIdentityStore, MemoryRunQueues, MemoryRunnerStore, MemoryWorkerStore};

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking test poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
