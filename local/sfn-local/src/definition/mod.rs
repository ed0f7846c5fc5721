//! State machine definitions: parsing Amazon States Language (JSONPath
//! mode) into a typed, index-linked model, and validating it the way
//! CreateStateMachine does. Every problem is reported with its location
//! (`/States/Name/Field`), and all problems are reported at once.
//!
//! `model` holds the types; `validate` the entry points and the
//! structure checks; the other files the checks of states and fields.

mod choice_rules;
mod fields;
mod map_parallel;
mod model;
mod retry_catch;
mod states;
mod validate;

#[cfg(test)]
mod tests;

pub use model::{
    Block, Catcher, Count, Definition, ErrorSource, Kind, MapSpec, Retrier, Seconds, State,
    Transition, WaitFor,
};
pub use validate::{parse, parse_value};
