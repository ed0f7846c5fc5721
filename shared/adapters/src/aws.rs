//! Building AWS clients from the standard SDK configuration, and turning
//! SDK errors into classified [`StepError`]s.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_types::SdkConfig;
use jobs_domain::{ErrorKind, StepError};

/// Loads the shared SDK configuration (region, credentials, endpoint from
/// the environment) with [`retries`] and [`timeouts`] of [`ATTEMPT_TIMEOUT`].
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retries())
        .timeout_config(timeouts(ATTEMPT_TIMEOUT))
        .load()
        .await
}

/// Every call is tried up to five times with exponential back-off and
/// jitter (the SDK's standard mode). Not the adaptive mode: its client-side
/// rate limiter, once throttled, slows every later call of the client, and
/// with a steady share of throttled calls (tests/tests/faults.rs) it pushed
/// calls past their operation timeout until steps failed.
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(5)
}

/// How long one attempt of a call may take. Every call the functions make
/// answers in well under a second when the service is healthy; without a
/// bound, a connection that hangs would hold the step until the Lambda
/// function's own timeout, and the retry that would have succeeded never
/// happens.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect within 3 s, each attempt within `attempt`, the whole call
/// (retries included) within four attempts' time.
pub fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 4)
        .build()
}

/// Error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// Error codes that mean "you may not".
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "OptInRequired",
];

/// Classifies an SDK error; `what` says what we were doing ("reading job
/// job-…"), for the message.
pub fn classify<E>(what: &str, err: SdkError<E, HttpResponse>) -> StepError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let server_side = service.raw().status().as_u16() >= 500;
            let e = service.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("");
            let text = format!("{what}: {code}: {message}");
            let kind = if THROTTLING.contains(&code) {
                ErrorKind::Throttled
            } else if DENIED.contains(&code) {
                ErrorKind::AccessDenied
            } else if code.contains("NotFound")
                || code.starts_with("NoSuch")
                || code.ends_with("DoesNotExist")
            {
                ErrorKind::NotFound
            } else if code == "ConditionalCheckFailedException"
                || code == "TransactionConflictException"
            {
                ErrorKind::Conflict
            } else if server_side
                || code.contains("InternalError")
                || code.contains("InternalServer")
                || code.contains("ServiceUnavailable")
                || code == "InternalFailure"
            {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            StepError::new(kind, text)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            StepError::unavailable(format!(
                "{what}: the service could not be reached: {}",
                source_chain(&err)
            ))
        }
        SdkError::ResponseError(_) => StepError::unavailable(format!(
            "{what}: the response could not be read: {}",
            source_chain(&err)
        )),
        _ => StepError::internal(format!("{what}: {}", source_chain(&err))),
    }
}

/// The error and its sources on one line.
pub fn source_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// The error code of a service error, if it is one.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}
