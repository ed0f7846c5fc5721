//! Parallel states (specification "Parallel State"): every branch runs
//! concurrently on the same input; the first failure fails the state and
//! stops the other branches; results are in branch order.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::Value;

use super::run::{Failure, Run};
use crate::definition::Block;
use crate::error::StatesError;

impl Run {
    pub(super) async fn run_parallel(
        &self,
        branches: &[Arc<Block>],
        input: Value,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let started = self
            .push(prev, "ParallelStateStarted", None)
            .map_err(|e| fail(e, prev))?;
        // Branches run concurrently and are observed as they finish (not in
        // branch order), so that one failing branch fails the state at once
        // and dropping `running` stops the others (specification "Parallel
        // State"); results are still placed in branch order.
        let mut running: FuturesUnordered<_> = branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let run = self.run_block(b, input.clone(), started);
                async move { (i, run.await) }
            })
            .collect();
        let mut results: Vec<Value> = vec![Value::Null; branches.len()];
        let mut last = started;
        while let Some((i, r)) = running.next().await {
            match r {
                Ok((v, p)) => {
                    results[i] = v;
                    last = last.max(p);
                }
                Err(f) => {
                    drop(running);
                    let prev = self
                        .push(f.prev, "ParallelStateFailed", None)
                        .map_err(|e| fail(e, f.prev))?;
                    return Err(Failure {
                        error: f.error,
                        prev,
                    });
                }
            }
        }
        let prev = self
            .push(last, "ParallelStateSucceeded", None)
            .map_err(|e| fail(e, last))?;
        Ok((Value::Array(results), prev))
    }
}
