//! The state machine steps: one type per Lambda function, each
//! implementing [`contract::Step`] with its `Input` (the Task's `Payload`)
//! and `Output` (what the Task's `ResultSelector` reads). Each records
//! itself on the job through the job service (so that a job's `steps` read
//! like the Step Functions console) and answers small facts, never
//! credentials or blobs.
//!
//! Every step is idempotent: Step Functions and Lambda may deliver the same
//! event twice, so writes are conditional on versions, names are
//! deterministic and "already done" counts as success.

pub mod abandon_deployment;
pub mod await_turn;
pub mod begin_build;
pub mod build;
pub mod check_deployment;
pub mod contract;
pub mod deregister_worker;
pub mod discover_resources;
pub mod generate_config;
pub mod lookup;
pub mod mark_running;
pub mod register_worker;
pub mod report;
pub mod requeue_jobs;
pub mod verify_identity;

pub use abandon_deployment::AbandonDeployment;
pub use await_turn::AwaitTurn;
pub use begin_build::BeginBuild;
pub use check_deployment::CheckDeployment;
pub use contract::{Step, StepEntry, StepFn, entry, invoke};
pub use deregister_worker::DeregisterWorker;
pub use discover_resources::DiscoverResources;
pub use generate_config::GenerateConfig;
pub use mark_running::MarkRunning;
pub use register_worker::RegisterWorker;
pub use report::{ReportFailure, ReportSuccess};
pub use requeue_jobs::RequeueJobs;
pub use verify_identity::VerifyIdentity;

/// Every step, for the local engine (which runs them in-process under
/// their function names) and the state machine contract test. On AWS each
/// is its own function: `functions/<name>/src/main.rs` serves one type.
pub fn all() -> [StepEntry; 13] {
    [
        entry::<MarkRunning>(),
        entry::<AwaitTurn>(),
        entry::<VerifyIdentity>(),
        entry::<DiscoverResources>(),
        entry::<GenerateConfig>(),
        entry::<BeginBuild>(),
        entry::<RegisterWorker>(),
        entry::<AbandonDeployment>(),
        entry::<CheckDeployment>(),
        entry::<DeregisterWorker>(),
        entry::<RequeueJobs>(),
        entry::<ReportSuccess>(),
        entry::<ReportFailure>(),
    ]
}
