//! Retry and Catch around Task, Parallel and Map (specification "Retrying
//! after an error" and "Fallback states"; SEMANTICS.md §5): each attempt with
//! its input and output processing, the backoff delays, and the catcher
//! that takes an error no retrier retries.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use super::io::{apply_result_path, error_output, io_select, needs_raw};
use super::run::{Failure, Run, Step};
use crate::context::Context;
use crate::definition::{Catcher, Kind, Retrier, State};
use crate::error::StatesError;

impl Run {
    /// Task, Parallel and Map: one attempt after another as Retry allows,
    /// then Catch.
    pub(super) async fn run_with_retry(
        &self,
        state: &State,
        raw: Value,
        entered: &Arc<str>,
        mut prev: u64,
    ) -> Result<(Step, u64), Failure> {
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let ctx = self.context(state, entered, retry_count);
            let attempt = self.attempt(state, raw.clone(), &ctx, prev).await;
            let (error, last) = match attempt {
                Ok((output, last)) => return Ok((self.transition(state, output), last)),
                Err(f) => (f.error, f.prev),
            };
            prev = last;
            if let Some(delay) = retry_delay(&state.retry, &mut attempts, &error) {
                retry_count += 1;
                self.clock().sleep(delay).await;
                continue;
            }
            if let Some(catcher) = find_catcher(&state.catch, &error) {
                let output =
                    apply_result_path(&catcher.result_path, Some(raw), error_output(&error))
                        .map_err(|e| Failure { error: e, prev })?;
                return Ok((Step::Next(catcher.next, output), prev));
            }
            return Err(Failure { error, prev });
        }
    }

    /// One attempt of a Task, Parallel or Map state, including its input
    /// and output processing.
    async fn attempt(
        &self,
        state: &State,
        raw: Value,
        ctx: &Context,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let keep = needs_raw(&state.result_path);
        let raw_copy = if keep { Some(raw.clone()) } else { None };
        let effective =
            io_select(&state.input_path, raw, "InputPath").map_err(|e| fail(e, prev))?;
        let (result, prev) = match &state.kind {
            Kind::Task {
                resource, timeout, ..
            } => {
                let params = match &state.parameters {
                    Some(t) => t.evaluate(&effective, ctx).map_err(|e| fail(e, prev))?,
                    None => effective.clone(),
                };
                let timeout = match timeout {
                    Some(s) => Some(
                        self.seconds(s, &effective, ctx, "TimeoutSecondsPath", false)
                            .map_err(|e| fail(e, prev))?,
                    ),
                    None => None,
                };
                self.run_task(state, resource, params, timeout, prev)
                    .await?
            }
            Kind::Parallel { branches } => {
                let input = match &state.parameters {
                    Some(t) => t.evaluate(&effective, ctx).map_err(|e| fail(e, prev))?,
                    None => effective,
                };
                self.run_parallel(branches, input, prev).await?
            }
            Kind::Map(spec) => self.run_map(state, spec, effective, ctx, prev).await?,
            _ => return Err(fail(StatesError::runtime("not a task-like state"), prev)),
        };
        let selected = match &state.result_selector {
            Some(t) => t.evaluate(&result, ctx).map_err(|e| fail(e, prev))?,
            None => result,
        };
        let merged =
            apply_result_path(&state.result_path, raw_copy, selected).map_err(|e| fail(e, prev))?;
        let output =
            io_select(&state.output_path, merged, "OutputPath").map_err(|e| fail(e, prev))?;
        Ok((output, prev))
    }
}

/// Decides whether to retry: the first retrier whose ErrorEquals matches
/// decides; once its MaxAttempts are used up, the error goes to Catch
/// (specification "Retrying after an error"; SEMANTICS.md §5).
pub(super) fn retry_delay(
    retriers: &[Retrier],
    attempts: &mut [u32],
    error: &StatesError,
) -> Option<Duration> {
    let (i, r) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| r.error_equals.iter().any(|n| error.matches(n)))?;
    if attempts[i] >= r.max_attempts {
        return None;
    }
    let n = attempts[i];
    attempts[i] += 1;
    let mut delay = r.interval_seconds * r.backoff_rate.powi(n as i32);
    if let Some(max) = r.max_delay_seconds {
        delay = delay.min(max);
    }
    if r.jitter_full {
        delay = rand::rng().random_range(0.0..=delay);
    }
    Some(Duration::from_secs_f64(delay))
}

fn find_catcher<'a>(catchers: &'a [Catcher], error: &StatesError) -> Option<&'a Catcher> {
    catchers
        .iter()
        .find(|c| c.error_equals.iter().any(|n| error.matches(n)))
}
