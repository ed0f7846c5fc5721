//! Lambda tasks: `lambda:invoke` and plain function ARNs, function errors,
//! crashes and service errors, unsupported resources, and the HTTP
//! dispatcher that forwards to a Lambda Invoke API.
//!
//! Through the public API, with the harness of `common`: definitions from
//! `testdata/*.asl.json` (which asl-validator checks), executions awaited and
//! their histories inspected. Tests that involve time run with Tokio's paused
//! clock (`start_paused = true`), so nothing sleeps in real time and history
//! timestamps follow the virtual clock. Each test cites where its expected
//! values come from: "spec" is the Amazon States Language specification
//! (states-language.net), "AWS" the Step Functions developer guide or API
//! reference.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sfn_local::integrations::lambda::function;
use sfn_local::{Builder, HttpLambdaInvoker};

use common::{Harness, details, echo, function_error, json_field, lambdas, ok};

/// AWS "Invoke an AWS Lambda function with Step Functions": the
/// `lambda:invoke` result is {ExecutedVersion, Payload, SdkHttpMetadata,
/// SdkResponseMetadata, StatusCode}.
#[tokio::test(start_paused = true)]
async fn lambda_invoke_wraps_the_payload() {
    let h = Harness::new(lambdas(vec![("echo", echo())]));
    let run = h
        .run("lambda_invoke", json!({"fn": "echo", "payload": {"a": 1}}))
        .await;
    let out = run.output();
    let mut keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ExecutedVersion",
            "Payload",
            "SdkHttpMetadata",
            "SdkResponseMetadata",
            "StatusCode"
        ]
    );
    assert_eq!(out["Payload"], json!({"a": 1}));
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    assert_eq!(out["SdkHttpMetadata"]["HttpStatusCode"], json!(200));
    assert!(
        out["SdkResponseMetadata"]["RequestId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    // A function ARN with a Qualifier reaches the function by name.
    let run = h.run("lambda_invoke_qualified", json!({})).await;
    assert_eq!(run.output()["Payload"], json!({"q": 1}));
}

/// AWS "Invoke an AWS Lambda function with Step Functions": a plain function
/// ARN as Resource passes the effective input and returns the bare output,
/// recorded as LambdaFunction* events (API reference, HistoryEvent).
#[tokio::test(start_paused = true)]
async fn a_function_arn_returns_the_bare_output() {
    let h = Harness::new(lambdas(vec![("echo", echo())]));
    let run = h
        .run("lambda_function_arn", json!({"payload": {"x": 1}}))
        .await;
    assert_eq!(run.output(), json!({"x": 1}));
    assert_eq!(
        run.types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = run.of_type("LambdaFunctionScheduled")[0];
    assert_eq!(
        details(scheduled)["resource"],
        json!("arn:aws:lambda:us-east-1:123456789012:function:echo")
    );
    assert_eq!(json_field(scheduled, "input"), json!({"x": 1}));
    assert_eq!(
        json_field(run.of_type("LambdaFunctionSucceeded")[0], "output"),
        json!({"x": 1})
    );
}

/// AWS "Handling errors" (Lambda): a function error surfaces as Error =
/// errorType and Cause = the error document; a crashed function is
/// Lambda.Unknown; a Lambda service error is Lambda.<Exception>.
#[tokio::test(start_paused = true)]
async fn function_errors_crashes_and_service_errors() {
    let h = Harness::new(lambdas(vec![
        (
            "fails",
            function(|_p: Value| async move {
                Err(function_error("Fatal.BadInput", "field x is missing"))
            }),
        ),
        (
            "panics",
            function(|_p: Value| async move {
                if true {
                    panic!("handler bug");
                }
                ok(json!(null))
            }),
        ),
    ]));
    let run = h
        .run("lambda_invoke", json!({"fn": "fails", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Fatal.BadInput");
    let cause: Value = serde_json::from_str(&cause).unwrap();
    assert_eq!(
        cause,
        json!({"errorType": "Fatal.BadInput", "errorMessage": "field x is missing"})
    );
    let failed = run.of_type("TaskFailed")[0];
    assert_eq!(details(failed)["error"], json!("Fatal.BadInput"));
    assert_eq!(details(failed)["resourceType"], json!("lambda"));
    assert_eq!(details(failed)["resource"], json!("invoke"));

    let run = h
        .run("lambda_invoke", json!({"fn": "panics", "payload": {}}))
        .await;
    assert_eq!(run.error(), "Lambda.Unknown");

    let run = h
        .run("lambda_invoke", json!({"fn": "nope", "payload": {}}))
        .await;
    assert_eq!(run.error(), "Lambda.ResourceNotFoundException");
}

/// Any other Resource: a clear error naming the unsupported integration,
/// never a silent success.
#[tokio::test(start_paused = true)]
async fn an_unsupported_resource_fails_naming_it() {
    let run = Harness::plain()
        .run("unsupported_resource", json!({}))
        .await;
    let (_, cause) = run.failure();
    assert!(
        cause.contains("arn:aws:states:::sqs:sendMessage"),
        "{cause}"
    );
    assert!(!run.entered_states().contains(&"Caught".to_string()));
}

// ---------------------------------------------------------------------------
// The HTTP Lambda dispatcher

/// A fake Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`),
/// answering as the Lambda API reference (Invoke) documents: the payload
/// for a success, `X-Amz-Function-Error: Unhandled` with the error document
/// for a function error, 404 ResourceNotFoundException for an unknown
/// function.
async fn fake_lambda_api(
    seen: Arc<Mutex<Vec<(String, Value)>>>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let target = req.uri().to_string();
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        seen.lock().unwrap().push((target, payload.clone()));
                        let response = match path.as_str() {
                            "/2015-03-31/functions/echo/invocations" => http::Response::builder()
                                .status(200)
                                .header("X-Amz-Executed-Version", "$LATEST")
                                .body(Full::new(bytes::Bytes::from(json!({"echo": payload}).to_string()))),
                            "/2015-03-31/functions/broken/invocations" => http::Response::builder()
                                .status(200)
                                .header("X-Amz-Function-Error", "Unhandled")
                                .body(Full::new(bytes::Bytes::from(
                                    json!({"errorType": "Fatal.Broken", "errorMessage": "it broke"}).to_string(),
                                ))),
                            // How `cargo lambda watch` answers a function error.
                            "/2015-03-31/functions/dev-broken/invocations" => http::Response::builder()
                                .status(500)
                                .body(Full::new(bytes::Bytes::from(
                                    json!({"errorType": "Retryable.Unavailable", "errorMessage": "down"}).to_string(),
                                ))),
                            "/2015-03-31/functions/overloaded/invocations" => http::Response::builder()
                                .status(500)
                                .body(Full::new(bytes::Bytes::from("internal error"))),
                            _ => http::Response::builder()
                                .status(404)
                                .header("x-amzn-ErrorType", "ResourceNotFoundException")
                                .body(Full::new(bytes::Bytes::from(
                                    json!({"Type": "User", "message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing"}).to_string(),
                                ))),
                        };
                        Ok::<_, Infallible>(response.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

/// Lambda API reference, Invoke (request path, Qualifier query parameter,
/// X-Amz-Function-Error, ResourceNotFoundException), mapped as AWS "Handling
/// errors" describes (errorType → Error, the error document → Cause,
/// service errors → Lambda.<Exception>). Real network I/O: no paused time.
#[tokio::test]
async fn http_lambda_dispatcher_forwards_to_the_invoke_api() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (addr, server) = fake_lambda_api(seen.clone()).await;
    let service = Builder::new()
        .lambda(Arc::new(HttpLambdaInvoker::new(format!("http://{addr}"))))
        .build();
    let h = Harness::with_service(service);

    let run = h
        .run("lambda_invoke", json!({"fn": "echo", "payload": {"a": 1}}))
        .await;
    let out = run.output();
    assert_eq!(out["Payload"], json!({"echo": {"a": 1}}));
    assert_eq!(out["StatusCode"], json!(200));

    let run = h
        .run("lambda_function_arn", json!({"payload": {"b": 2}}))
        .await;
    assert_eq!(run.output(), json!({"echo": {"b": 2}}));

    let run = h.run("lambda_invoke_qualified", json!({})).await;
    assert_eq!(run.output()["Payload"], json!({"echo": {"q": 1}}));

    let run = h
        .run("lambda_invoke", json!({"fn": "broken", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Fatal.Broken");
    assert_eq!(
        serde_json::from_str::<Value>(&cause).unwrap(),
        json!({"errorType": "Fatal.Broken", "errorMessage": "it broke"})
    );

    let run = h
        .run("lambda_invoke", json!({"fn": "missing", "payload": {}}))
        .await;
    let (error, cause) = run.failure();
    assert_eq!(error, "Lambda.ResourceNotFoundException");
    assert!(cause.contains("Function not found"), "{cause}");

    // A development server's 500 carrying the runtime's error document is
    // the function's error; any other 500 is the service's.
    let run = h
        .run("lambda_invoke", json!({"fn": "dev-broken", "payload": {}}))
        .await;
    assert_eq!(run.failure().0, "Retryable.Unavailable");
    let run = h
        .run("lambda_invoke", json!({"fn": "overloaded", "payload": {}}))
        .await;
    assert_eq!(run.failure().0, "Lambda.ServiceException");

    let seen = seen.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/2015-03-31/functions/echo/invocations",
            "/2015-03-31/functions/echo/invocations",
            "/2015-03-31/functions/echo/invocations?Qualifier=live",
            "/2015-03-31/functions/broken/invocations",
            "/2015-03-31/functions/missing/invocations",
            "/2015-03-31/functions/dev-broken/invocations",
            "/2015-03-31/functions/overloaded/invocations",
        ]
    );
    assert_eq!(seen[0].1, json!({"a": 1}));
    assert_eq!(seen[1].1, json!({"b": 2}));
    server.abort();
}
