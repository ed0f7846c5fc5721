//! The Lambda integration: `arn:aws:states:::lambda:invoke` (Payload in
//! Parameters, result wrapped as `{ExecutedVersion, Payload, StatusCode, …}`)
//! and plain function ARNs (bare input and output), as the AWS developer
//! guide page "Invoke an AWS Lambda function with Step Functions" describes.
//!
//! Two dispatchers sit behind [`LambdaInvoker`]: [`InProcessLambdas`] calls
//! handlers registered by function name inside this process, and
//! [`HttpLambdaInvoker`] forwards to a Lambda Invoke API endpoint (such as
//! `cargo lambda watch`), like Step Functions Local's `LAMBDA_ENDPOINT`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{TaskContext, TaskIntegration, is_function_arn};
use crate::error::StatesError;

pub const INVOKE_RESOURCE: &str = "arn:aws:states:::lambda:invoke";

/// Why an invocation did not produce a result.
#[derive(Debug, Clone)]
pub enum InvokeError {
    /// The function ran and returned an error: `errorType` and the error
    /// document as text.
    Function { error_type: String, cause: String },
    /// The Lambda service refused the call (`Lambda.<code>`).
    Service { code: String, message: String },
    /// The function crashed or timed out without an error type.
    Unknown(String),
}

/// Invokes a Lambda function synchronously.
///
/// Contract: one invocation per call, no retries; `function_name` is the
/// bare name (the integration strips ARNs).
#[async_trait]
pub trait LambdaInvoker: Send + Sync {
    async fn invoke(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
        payload: Value,
    ) -> Result<Value, InvokeError>;
}

/// An error returned by an in-process function, as the Lambda runtime
/// reports it (`errorType`, `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionError {
    pub error_type: String,
    pub error_message: String,
}

/// A function handler that can run in this process.
#[async_trait]
pub trait LambdaFunction: Send + Sync {
    async fn call(&self, payload: Value) -> Result<Value, FunctionError>;
}

struct FnFunction<F>(F);

#[async_trait]
impl<F, Fut> LambdaFunction for FnFunction<F>
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, FunctionError>> + Send,
{
    async fn call(&self, payload: Value) -> Result<Value, FunctionError> {
        (self.0)(payload).await
    }
}

/// Wraps an async closure as a [`LambdaFunction`].
pub fn function<F, Fut>(f: F) -> Arc<dyn LambdaFunction>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, FunctionError>> + Send + 'static,
{
    Arc::new(FnFunction(f))
}

/// Handlers registered by function name, called in-process.
#[derive(Default, Clone)]
pub struct InProcessLambdas {
    functions: HashMap<String, Arc<dyn LambdaFunction>>,
}

impl InProcessLambdas {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, name: impl Into<String>, f: Arc<dyn LambdaFunction>) -> &mut Self {
        self.functions.insert(name.into(), f);
        self
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.functions.keys().cloned().collect();
        names.sort();
        names
    }
}

#[async_trait]
impl LambdaInvoker for InProcessLambdas {
    async fn invoke(
        &self,
        function_name: &str,
        _qualifier: Option<&str>,
        payload: Value,
    ) -> Result<Value, InvokeError> {
        let Some(f) = self.functions.get(function_name).cloned() else {
            return Err(InvokeError::Service {
                code: "ResourceNotFoundException".into(),
                message: format!("Function not found: {function_name}"),
            });
        };
        // A separate task, so that a panicking handler is reported like a
        // crashed function instead of taking the execution down. The task is
        // aborted when this future is dropped (a task timeout, a failed
        // Parallel branch, StopExecution), as the integration contract asks.
        let mut task = AbortOnDrop(tokio::spawn(async move { f.call(payload).await }));
        match (&mut task.0).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(InvokeError::Function {
                cause: serde_json::to_string(&e).unwrap_or_default(),
                error_type: e.error_type,
            }),
            Err(join) => Err(InvokeError::Unknown(format!(
                "The function {function_name} crashed: {join}"
            ))),
        }
    }
}

/// Aborts a spawned task when dropped (a plain `JoinHandle` detaches it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards invocations to a Lambda Invoke API endpoint
/// (`POST /2015-03-31/functions/{name}/invocations`).
///
/// A function error is what Lambda answers: 200 with `X-Amz-Function-Error`
/// and the runtime's `{"errorType", "errorMessage"}`. Development servers
/// such as `cargo lambda watch` answer the same document with a 5xx status
/// and no header; a 5xx whose body is such a document, without the
/// service's `x-amzn-ErrorType`, is read as the function error too, so
/// that Retry and Catch match its `errorType` as on AWS.
#[derive(Clone)]
pub struct HttpLambdaInvoker {
    endpoint: String,
    client: reqwest::Client,
    strip_prefix: Option<String>,
}

impl HttpLambdaInvoker {
    pub fn new(endpoint: impl Into<String>) -> Self {
        HttpLambdaInvoker {
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            strip_prefix: None,
        }
    }

    /// Calls function `<prefix><name>` as `<name>` (`cargo lambda` knows a
    /// function by its binary's name, AWS by its deployed name).
    pub fn with_name_prefix_stripped(mut self, prefix: impl Into<String>) -> Self {
        self.strip_prefix = Some(prefix.into());
        self
    }
}

/// The runtime's error document (`errorType`, `errorMessage`), if `body` is one.
fn runtime_error(body: &str) -> Option<String> {
    let parsed: Value = serde_json::from_str(body).ok()?;
    parsed.get("errorMessage")?;
    parsed
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[async_trait]
impl LambdaInvoker for HttpLambdaInvoker {
    async fn invoke(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
        payload: Value,
    ) -> Result<Value, InvokeError> {
        let name = match &self.strip_prefix {
            Some(p) => function_name
                .strip_prefix(p.as_str())
                .unwrap_or(function_name),
            None => function_name,
        };
        let mut url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.endpoint, name
        );
        if let Some(q) = qualifier {
            url.push_str(&format!("?Qualifier={q}"));
        }
        let response = self
            .client
            .post(&url)
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .json(&payload)
            .send()
            .await
            .map_err(|e| InvokeError::Service {
                code: "SdkClientException".into(),
                message: format!("Unable to reach the Lambda endpoint {}: {e}", self.endpoint),
            })?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("X-Amz-Function-Error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let error_type_header = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_string());
        let body = response.text().await.map_err(|e| InvokeError::Service {
            code: "SdkClientException".into(),
            message: format!("Reading the Lambda response failed: {e}"),
        })?;
        if status.is_server_error()
            && error_type_header.is_none()
            && let Some(error_type) = runtime_error(&body)
        {
            return Err(InvokeError::Function {
                error_type,
                cause: body,
            });
        }
        if !status.is_success() {
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let code = error_type_header
                .or_else(|| {
                    parsed
                        .get("__type")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| {
                    parsed
                        .get("Type")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "ServiceException".into());
            let code = code.rsplit('#').next().unwrap_or(&code).to_string();
            let message = parsed
                .get("message")
                .or_else(|| parsed.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or(body);
            return Err(InvokeError::Service { code, message });
        }
        if function_error.is_some() {
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            return match parsed.get("errorType").and_then(Value::as_str) {
                Some(t) => Err(InvokeError::Function {
                    error_type: t.to_string(),
                    cause: body,
                }),
                None => Err(InvokeError::Unknown(body)),
            };
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| InvokeError::Service {
            code: "SdkClientException".into(),
            message: format!("The function returned a payload that is not JSON: {e}"),
        })
    }
}

/// The Lambda task integration over any [`LambdaInvoker`].
pub struct LambdaIntegration {
    invoker: Arc<dyn LambdaInvoker>,
}

impl LambdaIntegration {
    pub fn new(invoker: Arc<dyn LambdaInvoker>) -> Self {
        LambdaIntegration { invoker }
    }
}

/// Splits a FunctionName (name, full or partial ARN, optionally with a
/// qualifier) into the bare name and qualifier.
pub fn split_function_name(name: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = name.split(':').collect();
    let (fname, qualifier) = match parts.iter().position(|p| *p == "function") {
        Some(i) => (
            parts.get(i + 1).copied().unwrap_or(""),
            parts.get(i + 2).copied(),
        ),
        None => match parts.as_slice() {
            [n] => (*n, None),
            [n, q] => (*n, Some(*q)),
            _ => (name, None),
        },
    };
    (fname.to_string(), qualifier.map(str::to_string))
}

fn to_states_error(e: InvokeError) -> StatesError {
    match e {
        InvokeError::Function { error_type, cause } => StatesError::new(error_type, cause),
        InvokeError::Service { code, message } => {
            StatesError::new(format!("Lambda.{code}"), message)
        }
        InvokeError::Unknown(cause) => StatesError::new("Lambda.Unknown", cause),
    }
}

#[async_trait]
impl TaskIntegration for LambdaIntegration {
    fn accepts(&self, resource: &str) -> bool {
        resource == INVOKE_RESOURCE || is_function_arn(resource)
    }

    async fn run(
        &self,
        resource: &str,
        parameters: Value,
        _ctx: &TaskContext,
    ) -> Result<Value, StatesError> {
        if resource != INVOKE_RESOURCE {
            let (name, qualifier) = split_function_name(resource);
            return self
                .invoker
                .invoke(&name, qualifier.as_deref(), parameters)
                .await
                .map_err(to_states_error);
        }
        let Value::Object(mut params) = parameters else {
            return Err(StatesError::runtime(
                "lambda:invoke needs Parameters with a FunctionName",
            ));
        };
        let Some(Value::String(function_name)) = params.remove("FunctionName") else {
            return Err(StatesError::runtime(
                "lambda:invoke needs a string FunctionName in Parameters",
            ));
        };
        if let Some(kind) = params.get("InvocationType").and_then(Value::as_str)
            && kind != "RequestResponse"
        {
            return Err(StatesError::runtime(format!(
                "sfn-local runs lambda:invoke with InvocationType RequestResponse only, not {kind}"
            )));
        }
        let (name, arn_qualifier) = split_function_name(&function_name);
        let qualifier = params
            .get("Qualifier")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(arn_qualifier);
        let payload = params.remove("Payload").unwrap_or_else(|| json!({}));
        let out = self
            .invoker
            .invoke(&name, qualifier.as_deref(), payload)
            .await
            .map_err(to_states_error)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        Ok(json!({
            "ExecutedVersion": qualifier.unwrap_or_else(|| "$LATEST".to_string()),
            "Payload": out,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {
                    "X-Amz-Executed-Version": ["$LATEST"],
                    "x-amzn-Remapped-Content-Length": ["0"],
                    "Connection": ["keep-alive"],
                    "x-amzn-RequestId": [request_id],
                    "Content-Type": ["application/json"]
                },
                "HttpHeaders": {
                    "Connection": "keep-alive",
                    "Content-Type": "application/json",
                    "X-Amz-Executed-Version": "$LATEST",
                    "x-amzn-RequestId": request_id
                },
                "HttpStatusCode": 200
            },
            "SdkResponseMetadata": {"RequestId": request_id},
            "StatusCode": 200
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_split_from_arns() {
        assert_eq!(split_function_name("f"), ("f".into(), None));
        assert_eq!(
            split_function_name("f:live"),
            ("f".into(), Some("live".into()))
        );
        assert_eq!(
            split_function_name("arn:aws:lambda:us-east-1:123456789012:function:f:7"),
            ("f".into(), Some("7".into()))
        );
        assert_eq!(
            split_function_name("123456789012:function:f"),
            ("f".into(), None)
        );
    }
}
