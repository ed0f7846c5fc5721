//! The interpreter: runs a validated [`Definition`](crate::definition::Definition)
//! against an input, recording history events, honouring AWS's input/output
//! processing order (InputPath → Parameters → task → ResultSelector →
//! ResultPath → OutputPath), Retry and Catch, timeouts, Map and Parallel.
//!
//! `run` holds the engine and the run loop; the other files how each kind
//! of state runs.

mod io;
mod map;
mod parallel;
mod retry;
mod run;
mod states;
mod task;

#[cfg(test)]
mod tests;

pub use run::{Engine, EngineConfig, Outcome};
