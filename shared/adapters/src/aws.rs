//! Building AWS clients from the standard SDK configuration, turning SDK
//! errors into classified [`StepError`]s, and telling an adaptive window
//! (`crate::cloud::adaptive`) which attempts were throttled.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::SdkConfig;
use jobs_domain::{ErrorKind, StepError};

use crate::cloud::adaptive::Window;

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

/// Whether an answer is a "slow down": 429, or one of [`THROTTLING`]'s
/// codes in the error body (XML `<Code>`, JSON `__type`/`code`) or in
/// `x-amzn-ErrorType`. EC2 says `RequestLimitExceeded` with a 503, Route 53,
/// IAM and STS say `Throttling` with a 400.
pub fn is_throttling_answer(status: u16, error_type: Option<&str>, body: &[u8]) -> bool {
    if status == 429 {
        return true;
    }
    if status < 400 {
        return false;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(8192)]);
    THROTTLING.iter().any(|code| {
        error_type.is_some_and(|t| t.split(':').next() == Some(*code))
            || text.contains(&format!("<Code>{code}</Code>"))
            || text.contains(&format!("#{code}\""))
            || text.contains(&format!("\"{code}\""))
    })
}

/// The round an attempt was sent in, kept between the interceptor's hooks.
#[derive(Debug, Clone, Copy)]
struct SentInRound(u64);

impl Storable for SentInRound {
    type Storer = StoreReplace<Self>;
}

/// Reports every attempt of the clients it is attached to to a [`Window`]:
/// a throttled answer narrows it, any other answer below 500 widens it; a
/// server error, or an attempt that got no answer (a timeout, a refused
/// connection), says neither.
#[derive(Debug, Clone)]
pub struct ThrottleSignal(pub Arc<Window>);

impl Intercept for ThrottleSignal {
    fn name(&self) -> &'static str {
        "ThrottleSignal"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(SentInRound(self.0.epoch()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        let status = response.status().as_u16();
        let body = response.body().bytes().unwrap_or_default();
        if is_throttling_answer(status, response.headers().get("x-amzn-errortype"), body) {
            let round = cfg.load::<SentInRound>().map_or(0, |r| r.0);
            self.0.throttled(round);
        } else if status < 500 {
            self.0.succeeded();
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_answers_are_recognised_in_each_protocol() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>";
        assert!(is_throttling_answer(503, None, ec2));
        let route53 = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert!(is_throttling_answer(400, None, route53));
        let json =
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"x"}"#;
        assert!(is_throttling_answer(400, None, json));
        assert!(is_throttling_answer(
            400,
            Some("ThrottlingException:http://x"),
            b""
        ));
        assert!(is_throttling_answer(429, None, b""));
        let denied = b"<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>";
        assert!(!is_throttling_answer(403, None, denied));
        assert!(!is_throttling_answer(
            503,
            None,
            b"<Code>ServiceUnavailable</Code>"
        ));
        assert!(!is_throttling_answer(200, None, b"<Code>Throttling</Code>"));
    }

    /// An EC2 endpoint on loopback answering `RequestLimitExceeded` to the
    /// first `throttled` requests, then an empty `DescribeVpcs`.
    async fn ec2_throttling(throttled: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut served = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let mut read = 0;
                // One request per connection: its headers, then its body.
                loop {
                    let n = stream.read(&mut buf[read..]).await.unwrap_or(0);
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]).to_ascii_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else {
                        if n == 0 {
                            break;
                        }
                        continue;
                    };
                    let length: usize = text
                        .split("content-length:")
                        .nth(1)
                        .and_then(|v| v.split("\r\n").next())
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if n == 0 || read >= end + 4 + length {
                        break;
                    }
                }
                served += 1;
                let (status, body) = if served <= throttled {
                    (
                        "503 Service Unavailable",
                        "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>",
                    )
                } else {
                    (
                        "200 OK",
                        "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>x</requestId><vpcSet/></DescribeVpcsResponse>",
                    )
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/xml;charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn the_signal_narrows_the_window_on_each_throttled_attempt_and_widens_it_on_success() {
        let url = ec2_throttling(2).await;
        let window = Arc::new(Window::new(8));
        let config = aws_sdk_ec2::config::Builder::new()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "test",
            ))
            .endpoint_url(&url)
            .retry_config(retries().with_initial_backoff(Duration::from_millis(5)))
            .interceptor(ThrottleSignal(window.clone()))
            .build();
        let client = aws_sdk_ec2::Client::from_conf(config);
        let permit = window.acquire().await;
        client.describe_vpcs().send().await.unwrap();
        drop(permit);
        assert_eq!(window.throttled_count(), 2, "both throttled attempts seen");
        // Each throttled attempt was sent after the previous cut: 8, 4, 2,
        // then one call widened it by half a call.
        assert_eq!(window.width(), (2, 2));
    }
}
