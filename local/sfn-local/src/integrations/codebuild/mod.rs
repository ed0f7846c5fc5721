//! The CodeBuild integration `arn:aws:states:::codebuild:startBuild.sync`,
//! run as a local process: the named project's buildspec phases (install,
//! pre_build, build, post_build) run in one shell, in order, with the
//! project's environment and the request's `EnvironmentVariablesOverride`;
//! the result is Build-shaped (`{"Build": {…}}`) with the buildspec's
//! exported variables. A failed phase fails the task with
//! `States.TaskFailed` and that phase's output as the cause.
//!
//! Which buildspec belongs to which project name is configuration
//! ([`CodeBuildProject`]), the counterpart of the CodeBuild project that
//! points at the same buildspec in AWS.
//!
//! `project` holds the integration and its projects; `buildspec` the
//! buildspec and the script it becomes; `runner` the build process.

mod buildspec;
mod project;
mod runner;

#[cfg(test)]
mod tests;

pub use project::{BuildLogSink, CodeBuildIntegration, CodeBuildProject, START_BUILD_SYNC};
