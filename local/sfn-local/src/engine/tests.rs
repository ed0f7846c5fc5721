//! Tests of the retry decision (SEMANTICS.md §5); whole executions are tested
//! through the public API in `tests/`.

use super::retry::retry_delay;
use crate::definition::Retrier;
use crate::error::StatesError;

fn retrier(errors: &[&str], interval: f64, max: u32, rate: f64, max_delay: Option<f64>) -> Retrier {
    Retrier {
        error_equals: errors.iter().map(|s| s.to_string()).collect(),
        interval_seconds: interval,
        max_attempts: max,
        backoff_rate: rate,
        max_delay_seconds: max_delay,
        jitter_full: false,
    }
}

// SEMANTICS.md §5: delay = Interval × Rate^(n−1), capped by MaxDelaySeconds.
#[test]
fn retry_delays_follow_the_backoff_formula() {
    let rs = [retrier(&["E"], 2.0, 4, 3.0, Some(20.0))];
    let mut attempts = [0];
    let e = StatesError::new("E", "");
    let delays: Vec<u64> = std::iter::from_fn(|| retry_delay(&rs, &mut attempts, &e))
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(delays, [2, 6, 18, 20]);
}

#[test]
fn only_the_first_matching_retrier_counts() {
    let rs = [
        retrier(&["E"], 1.0, 1, 2.0, None),
        retrier(&["States.ALL"], 1.0, 5, 2.0, None),
    ];
    let mut attempts = [0, 0];
    let e = StatesError::new("E", "");
    assert!(retry_delay(&rs, &mut attempts, &e).is_some());
    assert!(
        retry_delay(&rs, &mut attempts, &e).is_none(),
        "exhausted first retrier does not fall through"
    );
}

#[test]
fn max_attempts_zero_never_retries() {
    let rs = [retrier(&["States.ALL"], 1.0, 0, 2.0, None)];
    let mut attempts = [0];
    assert!(retry_delay(&rs, &mut attempts, &StatesError::new("X", "")).is_none());
}
