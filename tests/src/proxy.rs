//! A fault-injecting proxy in front of the emulator: it forwards every AWS
//! call, but can answer chosen calls with an error (e.g. AccessDenied for
//! sts:AssumeRole, which moto never denies), rewrite their response (e.g.
//! plant a known secret access key), or fail every n-th call of any service
//! the way networks and services fail (throttling, a 5xx, a response that
//! never comes, a reset connection), and records what it saw.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Which calls a rule applies to: the signing service (`sts`, `ec2`, …)
/// and the API action.
#[derive(Clone, Debug)]
pub struct Call {
    pub service: String,
    pub action: String,
}

type Rewrite = Arc<dyn Fn(String) -> String + Send + Sync>;

#[derive(Clone)]
pub enum Rule {
    /// Answer `status` with `body` instead of forwarding.
    Fail {
        service: &'static str,
        action: &'static str,
        status: u16,
        body: String,
    },
    /// Forward, then rewrite the response body.
    Rewrite {
        service: &'static str,
        action: &'static str,
        f: Rewrite,
    },
    /// The first call to each service whose User-Agent contains `agent`,
    /// and every `every`-th after it, meets `fault` (`aws-sdk-rust`: the
    /// platform's own calls, not Terraform's or the AWS CLI's). Counting
    /// per service, every service the platform calls meets the fault.
    Flaky {
        fault: Fault,
        every: usize,
        agent: &'static str,
    },
}

/// How a call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's own "slow down" error, in its protocol's shape.
    Throttle,
    /// A 500 InternalError / InternalFailure.
    ServerError,
    /// The call reaches the service, which acts on it, but the answer never
    /// comes: the connection hangs for `hold`, then closes. The caller must
    /// time out and retry a call that already took effect.
    LostResponse { hold: std::time::Duration },
    /// The connection is closed before the call is forwarded.
    Reset,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Call>,
    /// Calls counted by `Flaky` rules, per service, and those failed.
    flaky_calls: std::collections::HashMap<String, usize>,
    faulted: Vec<Call>,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = CancellationToken::new();
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::new();
        let (s, st) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = st.cancelled() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let (s, upstream, client) = (s.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (s, upstream, client) = (s.clone(), upstream.clone(), client.clone());
                        async move { handle(req, &s, &upstream, &client).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultProxy { addr, state, stop }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, rule: Rule) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rules
            .push(rule);
    }

    pub fn clear(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rules
            .clear();
    }

    /// How many calls of `service`/`action` went through.
    pub fn count(&self, service: &str, action: &str) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .iter()
            .filter(|c| c.service == service && c.action == action)
            .count()
    }

    /// The calls a `Flaky` rule failed, as `service:Action`, with how many
    /// times each.
    pub fn faulted(&self) -> std::collections::BTreeMap<String, usize> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::collections::BTreeMap::new();
        for c in &st.faulted {
            *out.entry(format!("{}:{}", c.service, c.action))
                .or_insert(0) += 1;
        }
        out
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// The service from the SigV4 credential scope (`…/<date>/<region>/<service>/aws4_request`).
fn service_of(req: &http::request::Parts) -> String {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_string()
}

/// The caller's User-Agent (the SDKs send `x-amz-user-agent` too).
fn user_agent(req: &http::request::Parts) -> String {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|h| req.headers.get(*h).and_then(|v| v.to_str().ok()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The action: `X-Amz-Target` (JSON protocols) or `Action=` (query protocols).
fn action_of(req: &http::request::Parts, body: &[u8]) -> String {
    if let Some(t) = req
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    let text = String::from_utf8_lossy(body);
    let query = req.uri.query().unwrap_or("");
    for source in [text.as_ref(), query] {
        for pair in source.split('&') {
            if let Some(a) = pair.strip_prefix("Action=") {
                return a.to_string();
            }
        }
    }
    String::new()
}

/// The connection is dropped without an answer (hyper closes it when the
/// service fails).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    state: &Mutex<State>,
    upstream: &str,
    client: &reqwest::Client,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let head = parts.method == http::Method::HEAD;
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut action = action_of(&parts, &body);
    if action.is_empty() {
        // REST protocols (S3) name no action: the method says enough.
        action = parts.method.to_string();
    }
    let call = Call {
        service: service_of(&parts),
        action,
    };
    let (rules, fault) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.seen.push(call.clone());
        let agent = user_agent(&parts);
        let flaky = st.rules.iter().find_map(|r| match r {
            Rule::Flaky {
                fault,
                every,
                agent: wanted,
            } if agent.contains(wanted) => Some((*fault, *every)),
            _ => None,
        });
        let mut fault = None;
        if let Some((f, every)) = flaky {
            let n = st.flaky_calls.entry(call.service.clone()).or_insert(0);
            *n += 1;
            if every > 0 && (*n - 1).is_multiple_of(every) {
                st.faulted.push(call.clone());
                fault = Some(f);
            }
        }
        (st.rules.clone(), fault)
    };
    match fault {
        Some(Fault::Reset) => return Err(Dropped),
        Some(f @ (Fault::Throttle | Fault::ServerError)) => {
            return Ok(fault_answer(f, &call.service, &parts));
        }
        _ => {}
    }
    let matches = |s: &str, a: &str| call.service == s && call.action == a;
    for rule in &rules {
        if let Rule::Fail {
            service,
            action,
            status,
            body,
        } = rule
            && matches(service, action)
        {
            return Ok(Response::builder()
                .status(*status)
                .header("content-type", "text/xml")
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))));
        }
    }
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut forward = client
        .request(parts.method.clone(), url)
        .body(body.to_vec());
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            forward = forward.header(k, v);
        }
    }
    let resp = match forward.send().await {
        Ok(r) => r,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(e.to_string())))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))));
        }
    };
    if let Some(Fault::LostResponse { hold }) = fault {
        // The service acted; its answer is lost.
        tokio::time::sleep(hold).await;
        return Err(Dropped);
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut text = resp.text().await.unwrap_or_default();
    for rule in &rules {
        if let Rule::Rewrite { service, action, f } = rule
            && matches(service, action)
        {
            text = f(text);
        }
    }
    let mut builder = Response::builder().status(status);
    for (k, v) in &headers {
        // A HEAD answer has no body: its Content-Length is the object's.
        if (k != "content-length" || head) && k != "transfer-encoding" {
            builder = builder.header(k, v);
        }
    }
    Ok(builder
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// A throttling or internal error in the shape of the service's protocol:
/// JSON (`X-Amz-Target`), S3's REST-XML, EC2's query XML, or the other
/// query protocols' XML (IAM, STS).
fn fault_answer(
    fault: Fault,
    service: &str,
    parts: &http::request::Parts,
) -> Response<Full<Bytes>> {
    let throttle = fault == Fault::Throttle;
    let json = parts.headers.contains_key("x-amz-target");
    let (status, content_type, body) = if json {
        let code = if throttle {
            "ThrottlingException"
        } else {
            "InternalFailure"
        };
        (
            if throttle { 400 } else { 500 },
            "application/x-amz-json-1.0",
            format!("{{\"__type\":\"{code}\",\"message\":\"injected by the fault proxy\"}}"),
        )
    } else if service == "s3" {
        let code = if throttle {
            "SlowDown"
        } else {
            "InternalError"
        };
        (
            if throttle { 503 } else { 500 },
            "application/xml",
            format!(
                "<Error><Code>{code}</Code><Message>injected by the fault proxy</Message><RequestId>proxy</RequestId></Error>"
            ),
        )
    } else if service == "ec2" {
        let code = if throttle {
            "RequestLimitExceeded"
        } else {
            "InternalError"
        };
        (
            if throttle { 503 } else { 500 },
            "text/xml",
            ec2_error(code, "injected by the fault proxy"),
        )
    } else {
        let code = if throttle {
            "Throttling"
        } else {
            "InternalFailure"
        };
        (
            if throttle { 400 } else { 500 },
            "text/xml",
            sts_error(code, "injected by the fault proxy"),
        )
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "proxy")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// An STS-style XML error body.
pub fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
    )
}

/// An EC2-style XML error body.
pub fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
    )
}
