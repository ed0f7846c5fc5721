//! The composition root: everything that turns environment variables into
//! running handlers.
//!
//! * [`config`]: typed configuration, parsed once at cold start, with an
//!   error naming any missing or malformed variable;
//! * [`wire`]: the real adapters assembled into the handlers' dependencies;
//! * [`lambda`]: what each `functions/<name>/src/main.rs` calls.

pub mod config;
pub mod lambda;
pub mod wire;
