//! Step errors, classified so that the state machines' Retry and Catch can
//! match on them: `Retryable.*` errors are retried with back-off, `Fatal.*`
//! errors go straight to ReportFailure. The error type string is what the
//! Lambda runtime reports as `errorType` and Step Functions as `Error`.

use std::fmt;

/// What kind of failure a step hit, and so whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A dependency asked us to slow down.
    Throttled,
    /// A dependency was unreachable or answered 5xx.
    Unavailable,
    /// A concurrent writer won a conditional write; reading again and
    /// retrying resolves it.
    Conflict,
    /// The job's input is wrong; the message says which field.
    InvalidInput,
    /// A customer's or our own credentials lack a permission (or a trust
    /// policy / ExternalId is wrong).
    AccessDenied,
    /// Something the job refers to does not exist.
    NotFound,
    /// Terraform failed; the message carries its error summary.
    Terraform,
    /// An ECS deployment failed or was rolled back.
    Deployment,
    /// A bug or an unexpected answer: not retried.
    Internal,
}

impl ErrorKind {
    /// The `errorType` reported to Step Functions.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "Retryable.Throttled",
            ErrorKind::Unavailable => "Retryable.Unavailable",
            ErrorKind::Conflict => "Retryable.Conflict",
            ErrorKind::InvalidInput => "Fatal.InvalidInput",
            ErrorKind::AccessDenied => "Fatal.AccessDenied",
            ErrorKind::NotFound => "Fatal.NotFound",
            ErrorKind::Terraform => "Fatal.Terraform",
            ErrorKind::Deployment => "Fatal.Deployment",
            ErrorKind::Internal => "Fatal.Internal",
        }
    }

    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Unavailable | ErrorKind::Conflict
        )
    }

    /// The job error code stored on a FAILED job.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "THROTTLED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::InvalidInput => "INVALID_INPUT",
            ErrorKind::AccessDenied => "ACCESS_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Terraform => "TERRAFORM_FAILED",
            ErrorKind::Deployment => "DEPLOYMENT_FAILED",
            ErrorKind::Internal => "INTERNAL",
        }
    }

    /// The kind named by an `errorType` (`Retryable.Throttled` …).
    pub fn from_error_type(error_type: &str) -> Option<ErrorKind> {
        [
            ErrorKind::Throttled,
            ErrorKind::Unavailable,
            ErrorKind::Conflict,
            ErrorKind::InvalidInput,
            ErrorKind::AccessDenied,
            ErrorKind::NotFound,
            ErrorKind::Terraform,
            ErrorKind::Deployment,
            ErrorKind::Internal,
        ]
        .into_iter()
        .find(|k| k.error_type() == error_type)
    }
}

/// A step's failure: its kind and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    /// A failure the customer fixes on their side (a cloud provider's
    /// classified error): the code the job records and what to do.
    pub remedy: Option<Remedy>,
}

/// A provider's error code (`invalid_target`, `AADSTS7000215`, …) and the
/// remediation a customer can follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remedy {
    pub code: String,
    pub hint: String,
}

/// A step error as Step Functions carries it in the Lambda `errorMessage`
/// (the Cause's only text): `[code] message` and a last line `Hint: …` when
/// the error has a remedy, the plain message otherwise. ReportFailure reads
/// it back with [`WireMessage::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireMessage {
    pub code: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

const HINT: &str = "\nHint: ";

fn is_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

impl WireMessage {
    pub fn parse(text: &str) -> WireMessage {
        let (code, rest) = match text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
            Some((code, rest)) if is_code(code) => (Some(code.to_string()), rest),
            _ => (None, text),
        };
        let (message, hint) = match (&code, rest.rsplit_once(HINT)) {
            (Some(_), Some((m, h))) => (m.to_string(), Some(h.to_string())),
            _ => (rest.to_string(), None),
        };
        WireMessage {
            code,
            message,
            hint,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.error_type(), self.message)
    }
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
            remedy: None,
        }
    }

    /// Marks the error as the customer's to fix, with the provider's code.
    pub fn with_remedy(mut self, code: impl Into<String>, hint: impl Into<String>) -> Self {
        self.remedy = Some(Remedy {
            code: code.into(),
            hint: hint.into(),
        });
        self
    }

    /// The Lambda `errorMessage` (see [`WireMessage`]).
    pub fn wire_message(&self) -> String {
        match &self.remedy {
            Some(r) if is_code(&r.code) => {
                format!("[{}] {}{HINT}{}", r.code, self.message, r.hint)
            }
            _ => self.message.clone(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_round_trip() {
        for kind in [
            ErrorKind::Throttled,
            ErrorKind::Terraform,
            ErrorKind::Internal,
        ] {
            assert_eq!(ErrorKind::from_error_type(kind.error_type()), Some(kind));
        }
        assert!(ErrorKind::Throttled.is_retryable());
        assert!(!ErrorKind::AccessDenied.is_retryable());
        assert_eq!(ErrorKind::from_error_type("Lambda.Unknown"), None);
    }

    #[test]
    fn remedies_travel_in_the_error_message() {
        let e = StepError::invalid("Google STS refused the audience")
            .with_remedy("invalid_target", "Check the pool and provider ids.");
        let wire = WireMessage::parse(&e.wire_message());
        assert_eq!(wire.code.as_deref(), Some("invalid_target"));
        assert_eq!(wire.message, "Google STS refused the audience");
        assert_eq!(
            wire.hint.as_deref(),
            Some("Check the pool and provider ids.")
        );
        let plain = WireMessage::parse("[not a code] text\nHint: no");
        assert_eq!(plain.code, None);
        assert_eq!(plain.message, "[not a code] text\nHint: no");
        assert_eq!(
            WireMessage::parse(&StepError::internal("x").wire_message()).message,
            "x"
        );
    }
}
