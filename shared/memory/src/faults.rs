//! Scripted failures: a test queues the error the next call of an
//! operation answers, as a real adapter would after classifying an AWS or
//! HTTP failure (`Throttled`, `Unavailable`, `Conflict`, ...).

use std::collections::VecDeque;
use std::sync::Mutex;

use jobs_domain::StepError;

use crate::lock;

/// Errors queued per operation name (`"update"`, `"register"`, ...).
#[derive(Debug, Default)]
pub struct Faults {
    queued: Mutex<VecDeque<(String, StepError)>>,
}

impl Faults {
    /// The next call of `operation` fails with `error` (queued in order).
    pub fn fail_next(&self, operation: &str, error: StepError) {
        lock(&self.queued).push_back((operation.to_string(), error));
    }

    /// Called by each operation first: the queued error for it, if any.
    pub fn check(&self, operation: &str) -> Result<(), StepError> {
        let mut queued = lock(&self.queued);
        match queued.iter().position(|(op, _)| op == operation) {
            Some(i) => match queued.remove(i) {
                Some((_, e)) => Err(e),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_error_is_answered_once_by_its_operation() {
        let f = Faults::default();
        f.fail_next("update", StepError::conflict("x"));
        assert!(f.check("get").is_ok());
        assert!(f.check("update").is_err());
        assert!(f.check("update").is_ok());
    }
}
