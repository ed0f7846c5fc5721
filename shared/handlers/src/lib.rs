//! The handlers of the worker jobs' Lambda functions, as plain async
//! functions over the ports of `jobs-domain`, so that the Lambda runtime,
//! the local stack and the tests all call the same code.
//!
//! * [`job_service`]: the one place jobs are created, changed and run
//!   through a step (the job lifecycle rules are enforced there);
//! * [`jobs_api`] and [`runners_api`]: the HTTP APIs (API Gateway HTTP API
//!   proxy events in, proxy responses out), over [`http`]; [`caller`] says
//!   which owner a job API request acts for;
//! * [`steps`]: one type per state machine step (`statemachines/*.asl.json`
//!   names them by Lambda function name, `Step::FUNCTION`);
//! * [`schedule`]: the EventBridge-triggered refresh, the execution status
//!   reconciler and the sweeper of unstarted jobs;
//! * [`leases`]: the lease on claimed runner work and its sweeper.

pub mod build_view;
pub mod caller;
pub mod deps;
pub mod http;
pub mod identities_api;
pub mod inventory_view;
pub mod job_service;
pub mod jobs_api;
pub mod leases;
pub mod runners_api;
pub mod schedule;
pub mod steps;
pub mod submission;

pub use deps::{JobApiDeps, LeaseDeps, Port, RunnersApiDeps, ScheduleDeps, StepDeps};
pub use job_service::JobService;
