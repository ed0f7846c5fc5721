//! Map states (specification "Map State"; AWS "Map state"): ItemsPath,
//! ItemSelector with `$$.Map.Item`, MaxConcurrency, tolerated failures and
//! the MapState*/MapIteration* history events; results are in input order.

use futures::StreamExt;
use serde_json::{Value, json};

use super::io::error_output;
use super::run::{Failure, Run};
use crate::choice::PathRef;
use crate::context::Context;
use crate::definition::{Count, MapSpec, State};
use crate::error::{StatesError, names};

impl Run {
    fn count(
        &self,
        count: &Option<Count>,
        input: &Value,
        ctx: &Context,
        field: &str,
    ) -> Result<Option<f64>, StatesError> {
        match count {
            None => Ok(None),
            Some(Count::Literal(n)) => Ok(Some(*n)),
            Some(Count::Path(p)) => {
                let v = p.select(input, ctx).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "Invalid path '{}': {field}Path could not be found in the input",
                        p.text()
                    ))
                })?;
                v.as_f64().filter(|n| *n >= 0.0).map(Some).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The value at {field}Path '{}' must be a non-negative number, got {v}",
                        p.text()
                    ))
                })
            }
        }
    }

    pub(super) async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: Value,
        ctx: &Context,
        prev: u64,
    ) -> Result<(Value, u64), Failure> {
        let fail = |error: StatesError, prev: u64| Failure { error, prev };
        let items = match &spec.items_path {
            PathRef::Input(p) if p.is_root() => effective.clone(),
            other => other.select(&effective, ctx).ok_or_else(|| {
                fail(
                    StatesError::runtime(format!(
                        "Invalid path '{}': The ItemsPath could not be found in the input",
                        other.text()
                    )),
                    prev,
                )
            })?,
        };
        let Value::Array(items) = items else {
            return Err(fail(
                StatesError::runtime(format!(
                    "The ItemsPath of Map state '{}' must point to an array, got {}",
                    state.name,
                    crate::path::type_name(&items)
                )),
                prev,
            ));
        };
        let max_concurrency = self
            .count(&spec.max_concurrency, &effective, ctx, "MaxConcurrency")
            .map_err(|e| fail(e, prev))?;
        let tolerated_count = self
            .count(
                &spec.tolerated_count,
                &effective,
                ctx,
                "ToleratedFailureCount",
            )
            .map_err(|e| fail(e, prev))?;
        let tolerated_pct = self
            .count(
                &spec.tolerated_percentage,
                &effective,
                ctx,
                "ToleratedFailurePercentage",
            )
            .map_err(|e| fail(e, prev))?;
        let tolerance = if tolerated_count.is_some() || tolerated_pct.is_some() {
            let by_count = tolerated_count.unwrap_or(0.0);
            let by_pct = tolerated_pct
                .map(|p| p / 100.0 * items.len() as f64)
                .unwrap_or(0.0);
            Some(by_count.max(by_pct))
        } else {
            None
        };
        let total = items.len();
        let started = self
            .push(
                prev,
                "MapStateStarted",
                Some(("mapStateStartedEventDetails", json!({"length": total}))),
            )
            .map_err(|e| fail(e, prev))?;
        let limit = match max_concurrency {
            Some(n) if n >= 1.0 => n as usize,
            _ => total.max(1),
        };
        let mut inputs = Vec::with_capacity(total);
        for (index, item) in items.into_iter().enumerate() {
            let input = match &state.parameters {
                Some(t) => {
                    let mut item_ctx = ctx.clone();
                    item_ctx.map_item = Some((index, item));
                    t.evaluate(&effective, &item_ctx)
                        .map_err(|e| fail(e, started))?
                }
                None => item,
            };
            inputs.push(input);
        }
        let name = state.name.clone();
        let processor = spec.processor.clone();
        let iterations =
            futures::stream::iter(inputs.into_iter().enumerate().map(|(index, input)| {
                let name = name.clone();
                let processor = processor.clone();
                async move {
                    let it = self.push(
                        started,
                        "MapIterationStarted",
                        Some((
                            "mapIterationStartedEventDetails",
                            json!({"name": &*name, "index": index}),
                        )),
                    );
                    let it = match it {
                        Ok(id) => id,
                        Err(e) => {
                            return (
                                index,
                                Err(Failure {
                                    error: e,
                                    prev: started,
                                }),
                            );
                        }
                    };
                    let outcome = match self.run_block(&processor, input, it).await {
                        Ok((v, p)) => {
                            let p = self
                                .push(
                                    p,
                                    "MapIterationSucceeded",
                                    Some((
                                        "mapIterationSucceededEventDetails",
                                        json!({"name": &*name, "index": index}),
                                    )),
                                )
                                .map_err(|e| Failure { error: e, prev: p });
                            p.map(|p| (v, p))
                        }
                        Err(f) => {
                            let p = self
                                .push(
                                    f.prev,
                                    "MapIterationFailed",
                                    Some((
                                        "mapIterationFailedEventDetails",
                                        json!({"name": &*name, "index": index}),
                                    )),
                                )
                                .unwrap_or(f.prev);
                            Err(Failure {
                                error: f.error,
                                prev: p,
                            })
                        }
                    };
                    (index, outcome)
                }
            }))
            // At most `limit` iterations run at once; they are observed as they
            // finish, so that a failure ends the Map at once (dropping the stream
            // stops the iterations still running), and their results are put
            // back in input order (specification "Map State").
            .buffer_unordered(limit);
        futures::pin_mut!(iterations);
        let mut results: Vec<Value> = vec![Value::Null; total];
        let mut failures = 0usize;
        let mut last = started;
        while let Some((index, r)) = iterations.next().await {
            match r {
                Ok((v, p)) => {
                    results[index] = v;
                    last = last.max(p);
                }
                Err(f) if f.error.error == names::RUNTIME => {
                    let prev = self.push(f.prev, "MapStateFailed", None).unwrap_or(f.prev);
                    return Err(Failure {
                        error: f.error,
                        prev,
                    });
                }
                Err(f) => {
                    failures += 1;
                    last = last.max(f.prev);
                    let within = tolerance.is_some_and(|t| failures as f64 <= t);
                    if !within {
                        let error = if tolerance.is_some() {
                            StatesError::new(
                                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                format!(
                                    "Map state '{}' had {failures} failed item(s), more than it tolerates",
                                    state.name
                                ),
                            )
                        } else {
                            f.error
                        };
                        let prev = self.push(f.prev, "MapStateFailed", None).unwrap_or(f.prev);
                        return Err(Failure { error, prev });
                    }
                    results[index] = error_output(&f.error);
                }
            }
        }
        let prev = self
            .push(last, "MapStateSucceeded", None)
            .map_err(|e| fail(e, last))?;
        Ok((Value::Array(results), prev))
    }
}
