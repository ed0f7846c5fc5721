//! HTTP plumbing shared by the APIs: API Gateway HTTP API (payload 2.0)
//! events to requests and back, JSON bodies with a size limit, query
//! strings checked against what a route accepts, and errors as
//! `{"error": {"code", "field", "message"}}`.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method};
use jobs_domain::{ErrorKind, FieldError, StepError};
use serde_json::{Value, json};

/// Request bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP request, decoded from a proxy event.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The claims of the JWT the gateway's authorizer verified (none under
    /// IAM authorization).
    pub claims: HashMap<String, String>,
}

/// An API error: status, stable code, the field at fault (if any) and a
/// message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    /// A 405's `Allow` header: the methods the route answers.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            allow: None,
            status,
            code,
            field: None,
            message: message.into(),
        }
    }

    /// 405 for `req`, naming the methods the route does answer.
    pub fn method_not_allowed(req: &Request, allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..Self::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!(
                    "{} is not allowed on {} (allowed: {allow})",
                    req.method, req.path
                ),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "UNAUTHORIZED", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "CONFLICT", message)
    }

    pub fn to_response(&self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = &self.field {
            error["field"] = json!(f);
        }
        let mut r = Response::json(self.status, json!({ "error": error }));
        if let Some(allow) = self.allow {
            r = r.header("Allow", allow);
        }
        if self.status == 401 {
            r = r.header("WWW-Authenticate", "Bearer");
        }
        r
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError {
            allow: None,
            status: 400,
            code: "INVALID_FIELD",
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        let (status, code) = match e.kind {
            ErrorKind::InvalidInput => (400, "BAD_REQUEST"),
            ErrorKind::NotFound => (404, "NOT_FOUND"),
            ErrorKind::Conflict => (409, "CONFLICT"),
            ErrorKind::AccessDenied => (403, "FORBIDDEN"),
            ErrorKind::Throttled => (429, "THROTTLED"),
            ErrorKind::Unavailable => (503, "UNAVAILABLE"),
            _ => (500, "INTERNAL"),
        };
        if status >= 500 {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, code, e.message)
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn into_event(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        if self.body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(name, value);
            }
        }
        let mut out = ApiGatewayV2httpResponse::default();
        out.status_code = i64::from(self.status);
        out.headers = headers;
        out.body = self.body.map(|b| Body::Text(b.to_string()));
        out.is_base64_encoded = false;
        out
    }
}

/// Handlers answer either a response or an error turned into one.
pub type ApiResult = Result<Response, ApiError>;

impl Request {
    /// Decodes a proxy event (payload format 2.0).
    pub fn from_event(event: ApiGatewayV2httpRequest) -> Result<Request, ApiError> {
        let method = event.request_context.http.method.clone();
        let path = event
            .raw_path
            .clone()
            .or_else(|| event.request_context.http.path.clone())
            .unwrap_or_else(|| "/".to_string());
        let query = event
            .raw_query_string
            .as_deref()
            .map(parse_query)
            .transpose()?
            .unwrap_or_default();
        let body = match event.body {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|_| ApiError::bad_request("the body is not valid base64"))?,
            Some(b) => b.into_bytes(),
        };
        let claims = event
            .request_context
            .authorizer
            .and_then(|a| a.jwt)
            .map(|jwt| jwt.claims)
            .unwrap_or_default();
        Ok(Request {
            method,
            path,
            query,
            headers: event.headers,
            body,
            claims,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of the Authorization header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    /// The path split into segments (`/api/jobs/x` → `["api", "jobs", "x"]`).
    pub fn segments(&self) -> Vec<&str> {
        self.path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The JSON object body; 413 above [`MAX_BODY_BYTES`], 400 when malformed.
    pub fn json_object(&self) -> Result<Value, ApiError> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                    self.body.len()
                ),
            ));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("a JSON object body is required"));
        }
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                400,
                "MALFORMED_JSON",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        Ok(value)
    }

    /// The query parameters, refusing any not in `allowed` and repeats.
    pub fn query_params(&self, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.query {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError {
                    allow: None,
                    status: 400,
                    code: "INVALID_FIELD",
                    field: Some(k.clone()),
                    message: format!("unknown query parameter (allowed: {})", allowed.join(", ")),
                });
            }
            if out.insert(k.clone(), v.clone()).is_some() {
                return Err(ApiError {
                    allow: None,
                    status: 400,
                    code: "INVALID_FIELD",
                    field: Some(k.clone()),
                    message: "given more than once".into(),
                });
            }
        }
        Ok(out)
    }
}

fn parse_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or_else(|| ApiError::bad_request("bad percent-encoding in the query"))?;
                let text = std::str::from_utf8(hex)
                    .map_err(|_| ApiError::bad_request("bad percent-encoding in the query"))?;
                out.push(
                    u8::from_str_radix(text, 16)
                        .map_err(|_| ApiError::bad_request("bad percent-encoding in the query"))?,
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("the query is not UTF-8"))
}

/// Turns a handler's result into a proxy response.
pub fn respond(result: ApiResult) -> ApiGatewayV2httpResponse {
    match result {
        Ok(r) => r.into_event(),
        Err(e) => e.to_response().into_event(),
    }
}

#[cfg(test)]
pub mod testing {
    //! Builds proxy events the way API Gateway sends them.
    use super::*;

    pub fn event(
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> ApiGatewayV2httpRequest {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let header_map: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_lowercase(), Value::String(v.to_string())))
            .collect();
        serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": header_map,
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}, "timeEpoch": 0},
            "body": body,
            "isBase64Encoded": false
        }))
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::event;
    use super::*;

    #[test]
    fn decodes_events() {
        let req = Request::from_event(event(
            "POST",
            "/api/jobs?type=A%5FB&x=1+2",
            &[("Authorization", "Bearer t0k")],
            Some("{\"a\":1}"),
        ))
        .unwrap();
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.segments(), ["api", "jobs"]);
        assert_eq!(
            req.query,
            [
                ("type".to_string(), "A_B".to_string()),
                ("x".to_string(), "1 2".to_string())
            ]
        );
        assert_eq!(req.bearer(), Some("t0k"));
        assert_eq!(req.json_object().unwrap()["a"], 1);
    }

    #[test]
    fn bodies_are_checked() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let req = Request::from_event(event("POST", "/", &[], Some(&big))).unwrap();
        assert_eq!(req.json_object().unwrap_err().status, 413);
        let req = Request::from_event(event("POST", "/", &[], Some("{nope"))).unwrap();
        assert_eq!(req.json_object().unwrap_err().code, "MALFORMED_JSON");
        let req = Request::from_event(event("POST", "/", &[], Some("[1]"))).unwrap();
        assert_eq!(req.json_object().unwrap_err().status, 400);
    }

    #[test]
    fn unknown_query_parameters_are_refused() {
        let req = Request::from_event(event("GET", "/api/jobs?colour=red", &[], None)).unwrap();
        assert_eq!(
            req.query_params(&["type"]).unwrap_err().field.as_deref(),
            Some("colour")
        );
    }
}
