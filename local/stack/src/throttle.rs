//! AWS's request throttling, for the benchmark's proxy
//! ([`crate::latency::LatencyProxy`]): token buckets as AWS documents them,
//! and over the limit the service's own throttling answer, so that boto3
//! and the Rust SDK both see a throttle they classify and retry.
//!
//! * EC2 throttles each account per Region, each API action in its own
//!   bucket; non-mutating (`Describe*`) actions hold 100 tokens refilled at
//!   20 per second. Over it: `RequestLimitExceeded`, HTTP 503, EC2's XML
//!   error. <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>
//! * Route 53 throttles per account: "five requests per second per
//!   account" (<https://repost.aws/knowledge-center/route-53-avoid-throttling-errors>),
//!   here a bucket of 5 refilled at 5 per second. Its current page
//!   (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html>)
//!   documents 50 refilled at 10 per second; the proxy keeps the older,
//!   stricter figure, under which a client polite there is polite here.
//!   Over it: `Throttling`, HTTP 400, Route 53's XML `ErrorResponse`.
//! * IAM and STS publish no request rates (the account has one, per
//!   <https://repost.aws/knowledge-center/iam-sts-throttling-error>): not
//!   throttled here.
//!
//! The service, Region and access key come from the SigV4 credential scope
//! of the `Authorization` header (`AKID/date/region/service/aws4_request`);
//! the account behind an access key from the `AssumeRole` answers that pass
//! through the proxy (a key it has not seen is its own account).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::Full;

/// A bucket's size and refill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

/// The buckets the proxy applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AwsLimits {
    /// Per account, Region and `Describe*` action.
    pub ec2_describe: Rate,
    /// Per account.
    pub route53: Rate,
}

impl AwsLimits {
    /// The figures of the pages cited in the module header.
    pub fn documented() -> AwsLimits {
        AwsLimits {
            ec2_describe: Rate {
                burst: 100.0,
                per_second: 20.0,
            },
            route53: Rate {
                burst: 5.0,
                per_second: 5.0,
            },
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Requests seen and refused, per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Service → (requests, throttled).
    pub by_service: BTreeMap<String, (usize, usize)>,
}

impl Counts {
    pub fn requests(&self) -> usize {
        self.by_service.values().map(|c| c.0).sum()
    }

    pub fn throttled(&self) -> usize {
        self.by_service.values().map(|c| c.1).sum()
    }

    /// What was counted since `before`.
    pub fn since(&self, before: &Counts) -> Counts {
        let mut out = self.clone();
        for (service, (r, t)) in &before.by_service {
            if let Some(c) = out.by_service.get_mut(service) {
                c.0 = c.0.saturating_sub(*r);
                c.1 = c.1.saturating_sub(*t);
            }
        }
        out.by_service.retain(|_, c| c.0 > 0);
        out
    }

    /// "ec2 3, route53 1" for the throttled ones; "none" when none were.
    pub fn throttled_by_service(&self) -> String {
        let parts: Vec<String> = self
            .by_service
            .iter()
            .filter(|(_, c)| c.1 > 0)
            .map(|(s, c)| format!("{s} {}", c.1))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[derive(Default)]
struct State {
    /// (account, service, region, action) → bucket.
    buckets: HashMap<(String, String, String, String), Bucket>,
    /// Access key → account, from AssumeRole answers.
    accounts: HashMap<String, String>,
    counts: Counts,
}

/// The throttle: shared by every connection of a proxy.
pub struct AwsThrottle {
    limits: AwsLimits,
    state: Mutex<State>,
}

/// The service's throttling answer.
type Refusal = fn() -> Response<Full<Bytes>>;

/// What the proxy does with a request.
pub enum Admission {
    /// Send it on; `learn`: pass the answer to [`AwsThrottle::learn`].
    Forward { learn: bool },
    /// Answer this instead.
    Refuse(Response<Full<Bytes>>),
}

/// (access key, region, service) of a SigV4 `Authorization` header.
fn credential_scope(headers: &HeaderMap) -> Option<(String, String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, _date, region, service, "aws4_request"] => {
            Some((key.to_string(), region.to_string(), service.to_string()))
        }
        _ => None,
    }
}

/// The `Action` of a query-protocol request (form body or query string).
fn action(query: &str, body: &[u8]) -> String {
    let from = |text: &str| -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(text)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v)
    };
    from(&String::from_utf8_lossy(body))
        .or_else(|| from(query))
        .unwrap_or_default()
}

fn xml(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let id = uuid::Uuid::new_v4().to_string();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", &id)
        .body(Full::new(Bytes::from(body.replace("{id}", &id))))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// EC2's answer over the limit.
pub fn ec2_throttled() -> Response<Full<Bytes>> {
    xml(
        503,
        "text/xml;charset=UTF-8",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>{id}</RequestID></Response>".into(),
    )
}

/// Route 53's answer over the limit.
pub fn route53_throttled() -> Response<Full<Bytes>> {
    xml(
        400,
        "text/xml",
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>{id}</RequestId></ErrorResponse>".into(),
    )
}

/// The text of the first `<tag>…</tag>` in `text`.
fn element<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find("</")? + start;
    Some(&text[start..end])
}

impl AwsThrottle {
    pub fn new(limits: AwsLimits) -> Arc<AwsThrottle> {
        Arc::new(AwsThrottle {
            limits,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (account, region, service) of a signed request.
    pub fn caller(&self, headers: &HeaderMap) -> Option<(String, String, String)> {
        let (key, region, service) = credential_scope(headers)?;
        let account = self.lock().accounts.get(&key).cloned().unwrap_or(key);
        Some((account, region, service))
    }

    /// Takes a token for the request, or answers as the service would.
    pub fn admit(&self, headers: &HeaderMap, query: &str, body: &[u8]) -> Admission {
        let Some((key, region, service)) = credential_scope(headers) else {
            return Admission::Forward { learn: false };
        };
        let mut s = self.lock();
        let account = s.accounts.get(&key).cloned().unwrap_or(key);
        let (rate, scope, refusal): (Rate, (String, String), Refusal) = match service.as_str() {
            "ec2" => {
                let action = action(query, body);
                if !action.starts_with("Describe") {
                    s.counts.by_service.entry(service).or_default().0 += 1;
                    return Admission::Forward { learn: false };
                }
                (self.limits.ec2_describe, (region, action), ec2_throttled)
            }
            "route53" => (
                self.limits.route53,
                (String::new(), String::new()),
                route53_throttled,
            ),
            _ => {
                s.counts.by_service.entry(service.clone()).or_default().0 += 1;
                return Admission::Forward {
                    learn: service == "sts",
                };
            }
        };
        let now = Instant::now();
        let bucket = s
            .buckets
            .entry((account, service.clone(), scope.0, scope.1))
            .or_insert(Bucket {
                tokens: rate.burst,
                at: now,
            });
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.at).as_secs_f64() * rate.per_second)
            .min(rate.burst);
        bucket.at = now;
        let admitted = bucket.tokens >= 1.0;
        if admitted {
            bucket.tokens -= 1.0;
        }
        let counts = s.counts.by_service.entry(service).or_default();
        counts.0 += 1;
        if admitted {
            Admission::Forward { learn: false }
        } else {
            counts.1 += 1;
            Admission::Refuse(refusal())
        }
    }

    /// Remembers whose account the credentials of an `AssumeRole` answer
    /// belong to.
    pub fn learn(&self, answer: &[u8]) {
        let text = String::from_utf8_lossy(answer);
        let (Some(key), Some(arn)) = (element(&text, "AccessKeyId"), element(&text, "Arn")) else {
            return;
        };
        if let Some(account) = arn.split(':').nth(4).filter(|a| !a.is_empty()) {
            self.lock()
                .accounts
                .insert(key.to_string(), account.to_string());
        }
    }

    /// Everything counted since the proxy started.
    pub fn counts(&self) -> Counts {
        self.lock().counts.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signed(key: &str, region: &str, service: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=abc")
                .parse()
                .unwrap(),
        );
        h
    }

    fn refused(a: &Admission) -> Option<u16> {
        match a {
            Admission::Refuse(r) => Some(r.status().as_u16()),
            Admission::Forward { .. } => None,
        }
    }

    #[test]
    fn each_describe_action_in_each_region_of_an_account_has_its_bucket() {
        let t = AwsThrottle::new(AwsLimits {
            ec2_describe: Rate {
                burst: 2.0,
                per_second: 0.001,
            },
            ..AwsLimits::documented()
        });
        let h = signed("ASIA1", "eu-west-1", "ec2");
        let body = b"Action=DescribeVpcs&Version=2016-11-15";
        assert_eq!(refused(&t.admit(&h, "", body)), None);
        assert_eq!(refused(&t.admit(&h, "", body)), None);
        assert_eq!(refused(&t.admit(&h, "", body)), Some(503));
        assert_eq!(
            refused(&t.admit(&h, "", b"Action=DescribeSubnets")),
            None,
            "another action"
        );
        let other_region = signed("ASIA1", "us-east-1", "ec2");
        assert_eq!(refused(&t.admit(&other_region, "", body)), None);
        // A second key of the same account shares its buckets.
        t.learn(b"<AssumeRoleResult><Credentials><AccessKeyId>ASIA2</AccessKeyId></Credentials><AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/R/s</Arn></AssumedRoleUser></AssumeRoleResult>");
        t.learn(b"<AssumeRoleResult><Credentials><AccessKeyId>ASIA3</AccessKeyId></Credentials><AssumedRoleUser><Arn>arn:aws:sts::222222222222:assumed-role/R/s</Arn></AssumedRoleUser></AssumeRoleResult>");
        let (a, b) = (
            signed("ASIA2", "ap-south-1", "ec2"),
            signed("ASIA3", "ap-south-1", "ec2"),
        );
        assert_eq!(refused(&t.admit(&a, "", body)), None);
        assert_eq!(refused(&t.admit(&b, "", body)), None);
        assert_eq!(refused(&t.admit(&a, "", body)), Some(503));
        assert_eq!(t.counts().by_service["ec2"], (8, 2));
    }

    #[test]
    fn route53_refuses_past_its_rate_with_its_own_error_and_refills() {
        let t = AwsThrottle::new(AwsLimits::documented());
        let h = signed("AKID", "us-east-1", "route53");
        for _ in 0..5 {
            assert_eq!(refused(&t.admit(&h, "", b"")), None);
        }
        let Admission::Refuse(r) = t.admit(&h, "", b"") else {
            panic!("the sixth at once is throttled")
        };
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "text/xml");
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(refused(&t.admit(&h, "", b"")), None, "refilled");
        let sts = signed("AKID", "us-east-1", "sts");
        assert!(matches!(
            t.admit(&sts, "", b"Action=AssumeRole"),
            Admission::Forward { learn: true }
        ));
        assert_eq!(t.counts().throttled_by_service(), "route53 1");
        assert_eq!(t.counts().requests(), 8);
    }
}
