//! The states that run without an integration: Pass, Choice, Wait, Succeed
//! and Fail (specification "State Types"), and the dispatch of Task,
//! Parallel and Map to the retry loop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::io::{apply_result_path, io_select, needs_raw};
use super::run::{Failure, Run, Step};
use crate::context::Context;
use crate::definition::{ErrorSource, Kind, Seconds, State, WaitFor};
use crate::error::{StatesError, names};

impl Run {
    /// Runs one state; answers where to go and the last event id.
    pub(super) async fn run_state(
        &self,
        state: &State,
        raw: Value,
        entered: &Arc<str>,
        prev: u64,
    ) -> Result<(Step, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        match &state.kind {
            Kind::Pass { result } => {
                let ctx = self.context(state, entered, 0);
                let keep = needs_raw(&state.result_path);
                let raw_copy = if keep { Some(raw.clone()) } else { None };
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let value = match (result, &state.parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(t)) => t.evaluate(&effective, &ctx).map_err(|e| fail(e, prev))?,
                    (None, None) => effective,
                };
                let merged = apply_result_path(&state.result_path, raw_copy, value)
                    .map_err(|e| fail(e, prev))?;
                let output = io_select(&state.output_path, merged, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((self.transition(state, output), prev))
            }
            Kind::Choice { choices, default } => {
                let ctx = self.context(state, entered, 0);
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let mut target = None;
                for (rule, next) in choices {
                    if rule.evaluate(&effective, &ctx).map_err(|e| fail(e, prev))? {
                        target = Some(*next);
                        break;
                    }
                }
                let Some(next) = target.or(*default) else {
                    return Err(fail(
                        StatesError::new(
                            names::NO_CHOICE_MATCHED,
                            format!("No Matches! (state '{}' has no Default)", state.name),
                        ),
                        prev,
                    ));
                };
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((Step::Next(next, output), prev))
            }
            Kind::Wait(wait) => {
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let ctx = self.context(state, entered, 0);
                let delay = match wait {
                    WaitFor::Seconds(s) => Duration::from_secs(
                        self.seconds(s, &effective, &ctx, "SecondsPath", true)
                            .map_err(|e| fail(e, prev))?,
                    ),
                    WaitFor::Timestamp(t) => {
                        until(self.clock().now(), t.with_timezone(&chrono::Utc))
                    }
                    WaitFor::TimestampPath(p) => {
                        let v = p.select(&effective, &ctx).ok_or_else(|| fail(StatesError::runtime(format!("Invalid path '{}': TimestampPath could not be found in the input", p.text())), prev))?;
                        let t = v.as_str().and_then(crate::choice::parse_timestamp).ok_or_else(|| {
                            fail(StatesError::runtime(format!("The value at TimestampPath '{}' is not an RFC 3339 timestamp: {v}", p.text())), prev)
                        })?;
                        until(self.clock().now(), t.with_timezone(&chrono::Utc))
                    }
                };
                self.clock().sleep(delay).await;
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((self.transition(state, output), prev))
            }
            Kind::Succeed => {
                let effective =
                    io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
                let output = io_select(&state.output_path, effective, "OutputPath")
                    .map_err(|e| fail(e, prev))?;
                Ok((Step::End(output), prev))
            }
            Kind::Fail { error, cause } => {
                let ctx = self.context(state, entered, 0);
                let resolve =
                    |source: &Option<ErrorSource>, field: &str| -> Result<String, StatesError> {
                        match source {
                            None => Ok(String::new()),
                            Some(ErrorSource::Literal(s)) => Ok(s.clone()),
                            Some(ErrorSource::Dynamic(v)) => match v.evaluate(&raw, &ctx, field)? {
                                Value::String(s) => Ok(s),
                                other => Err(StatesError::runtime(format!(
                                    "{field} must resolve to a string, got {other}"
                                ))),
                            },
                        }
                    };
                let error = resolve(error, "ErrorPath").map_err(|e| fail(e, prev))?;
                let cause = resolve(cause, "CausePath").map_err(|e| fail(e, prev))?;
                Err(fail(StatesError::new(error, cause), prev))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map(_) => {
                self.run_with_retry(state, raw, entered, prev).await
            }
        }
    }

    pub(super) fn seconds(
        &self,
        s: &Seconds,
        input: &Value,
        ctx: &Context,
        field: &str,
        allow_zero: bool,
    ) -> Result<u64, StatesError> {
        match s {
            Seconds::Literal(n) => Ok(*n),
            Seconds::Path(p) => {
                let v = p.select(input, ctx).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "Invalid path '{}': {field} could not be found in the input",
                        p.text()
                    ))
                })?;
                v.as_u64().filter(|n| allow_zero || *n > 0).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The value at {field} '{}' must be a {} integer, got {v}",
                        p.text(),
                        if allow_zero {
                            "non-negative"
                        } else {
                            "positive"
                        }
                    ))
                })
            }
        }
    }
}

fn until(now: chrono::DateTime<chrono::Utc>, then: chrono::DateTime<chrono::Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}
