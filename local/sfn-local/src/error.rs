//! Errors: the runtime errors an execution raises (named as in the States
//! Language, "Errors") and the engine's own error enum.

use std::fmt;

/// Predefined error names of the States Language ("Errors" section of the
/// specification and the AWS developer guide page "Error handling").
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
}

/// An error raised while a state runs: what Retry and Catch match on and
/// what an execution fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatesError {
    pub error: String,
    pub cause: String,
}

impl StatesError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StatesError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Whether a Retry or Catch `ErrorEquals` entry matches this error.
    ///
    /// * `States.Runtime` is never retried or caught (it always fails the
    ///   execution).
    /// * `States.ALL` matches everything else except `States.DataLimitExceeded`,
    ///   which only an explicit entry catches (SEMANTICS.md §6).
    /// * `States.TaskFailed` matches any error except the timeouts
    ///   (specification, "Errors": "acts as a wildcard that matches any
    ///   known error name except for States.Timeout").
    /// * `States.Timeout` also matches `States.HeartbeatTimeout`.
    pub fn matches(&self, name: &str) -> bool {
        if self.error == names::RUNTIME {
            return false;
        }
        match name {
            names::ALL => self.error != names::DATA_LIMIT_EXCEEDED,
            names::TASK_FAILED => {
                self.error != names::TIMEOUT
                    && self.error != names::HEARTBEAT_TIMEOUT
                    && self.error != names::DATA_LIMIT_EXCEEDED
            }
            names::TIMEOUT => {
                self.error == names::TIMEOUT || self.error == names::HEARTBEAT_TIMEOUT
            }
            other => self.error == other,
        }
    }
}

impl fmt::Display for StatesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for StatesError {}

/// Errors of the engine's API (the Step Functions service errors), with the
/// `__type` names AWS uses so the SDKs and the CLI recognise them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SfnError {
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidExecutionInput(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    StateMachineDoesNotExist(String),
    #[error("{0}")]
    StateMachineAlreadyExists(String),
    #[error("{0}")]
    ExecutionDoesNotExist(String),
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    RequestTooLarge(String),
}

impl SfnError {
    /// The error code AWS puts in `__type`.
    pub fn code(&self) -> &'static str {
        match self {
            SfnError::InvalidDefinition(_) => "InvalidDefinition",
            SfnError::InvalidName(_) => "InvalidName",
            SfnError::InvalidArn(_) => "InvalidArn",
            SfnError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            SfnError::InvalidToken(_) => "InvalidToken",
            SfnError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            SfnError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            SfnError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            SfnError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            SfnError::Validation(_) => "ValidationException",
            SfnError::Serialization(_) => "SerializationException",
            SfnError::UnknownOperation(_) => "UnknownOperationException",
            SfnError::RequestTooLarge(_) => "RequestEntityTooLargeException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            SfnError::RequestTooLarge(_) => 413,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Specification "Errors" and AWS "Error handling in Step Functions".
    #[test]
    fn runtime_errors_are_never_matched() {
        let e = StatesError::runtime("boom");
        assert!(!e.matches(names::ALL));
        assert!(!e.matches(names::RUNTIME));
        assert!(!e.matches(names::TASK_FAILED));
    }

    #[test]
    fn data_limit_only_matches_explicitly() {
        let e = StatesError::new(names::DATA_LIMIT_EXCEEDED, "");
        assert!(!e.matches(names::ALL));
        assert!(e.matches(names::DATA_LIMIT_EXCEEDED));
    }

    #[test]
    fn task_failed_is_a_wildcard_except_timeouts() {
        assert!(StatesError::new("Lambda.Unknown", "").matches(names::TASK_FAILED));
        assert!(StatesError::new("Custom.Error", "").matches(names::TASK_FAILED));
        assert!(!StatesError::new(names::TIMEOUT, "").matches(names::TASK_FAILED));
        assert!(StatesError::new(names::HEARTBEAT_TIMEOUT, "").matches(names::TIMEOUT));
        assert!(StatesError::new(names::TIMEOUT, "").matches(names::ALL));
    }
}
