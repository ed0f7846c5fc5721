//! A fake of the Google Cloud APIs the platform calls, for tests and the
//! local demo only (never shipped): the Security Token Service exchanging a
//! signed AWS `GetCallerIdentity` request for a federated token (workload
//! identity federation), IAM Service Account Credentials impersonating a
//! service account with it, and the Compute Engine and Cloud DNS reads of
//! discovery. One server serves the four APIs on their own paths, so that
//! `GOOGLE_STS_URL`, `GOOGLE_IAMCREDENTIALS_URL`, `GOOGLE_COMPUTE_URL` and
//! `GOOGLE_DNS_URL` may all be its [`GoogleFake::url`].
//!
//! The AWS signature itself cannot be checked (there is no secret key
//! here); everything around it is checked as Google and AWS do.
//!
//! `world` holds what the fake knows, `sts` the token exchange and its
//! checks of the subject token, `iam` the impersonation of service
//! accounts and `reads` the Compute Engine and Cloud DNS lists; this file
//! the fake, its routing and the errors the APIs answer with.

mod iam;
mod reads;
mod sts;
mod world;

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Call, Core, Ctx, Provider, Reply};

pub use world::{
    AwsProvider, DEFAULT_AWS_CALLER_ACCOUNT, GcpProject, GcpSubnetwork, GcpZone, GoogleWorld,
    ServiceAccount, WorkloadPool,
};

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The running fake; see the module documentation.
pub struct GoogleFake {
    core: Core<Google>,
}

common_api!(GoogleFake, GoogleWorld);

impl GoogleFake {
    /// Every `subject_token` the STS endpoint received (accepted or not),
    /// as sent: the URL-encoded JSON after the form's own decoding.
    pub fn subject_tokens(&self) -> Vec<String> {
        self.core.with_provider(|g| g.subject_tokens.clone())
    }
}

/// Whose token a bearer token is.
enum Holder {
    Federated,
    ServiceAccount {
        project_id: String,
        scopes: Vec<String>,
    },
}

#[derive(Default)]
struct Google {
    tokens: HashMap<String, Holder>,
    subject_tokens: Vec<String>,
}

/// The two read APIs.
#[derive(Clone, Copy)]
enum Api {
    Compute,
    Dns,
}

impl Api {
    fn service(self) -> &'static str {
        match self {
            Api::Compute => "compute.googleapis.com",
            Api::Dns => "dns.googleapis.com",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Api::Compute => "Compute Engine API",
            Api::Dns => "Cloud DNS API",
        }
    }

    /// The OAuth scopes that allow reading through the API.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Api::Compute => &[
                CLOUD_PLATFORM,
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/compute",
                "https://www.googleapis.com/auth/compute.readonly",
            ],
            Api::Dns => &[
                CLOUD_PLATFORM,
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/ndev.clouddns.readonly",
                "https://www.googleapis.com/auth/ndev.clouddns.readwrite",
            ],
        }
    }
}

/// The Compute and DNS reads served.
enum Read<'a> {
    Project,
    Regions,
    Networks,
    Subnetworks(&'a str),
    ManagedZones,
}

impl Read<'_> {
    fn api(&self) -> Api {
        match self {
            Read::ManagedZones => Api::Dns,
            _ => Api::Compute,
        }
    }

    fn permission(&self) -> &'static str {
        match self {
            Read::Project => "compute.projects.get",
            Read::Regions => "compute.regions.list",
            Read::Networks => "compute.networks.list",
            Read::Subnetworks(_) => "compute.subnetworks.list",
            Read::ManagedZones => "dns.managedZones.list",
        }
    }
}

impl Provider for Google {
    type World = GoogleWorld;

    fn handle(&mut self, world: &GoogleWorld, ctx: &mut Ctx<'_>, call: &Call) -> Reply {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        match (call.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "token"]) => self.exchange(world, ctx, call),
            ("POST", ["v1", "projects", project, "serviceAccounts", name]) => {
                match name.strip_suffix(":generateAccessToken") {
                    Some(email) => self.generate(world, ctx, call, project, email),
                    None => no_such_url(call),
                }
            }
            ("GET", ["compute", "v1", "projects", p]) => {
                self.read(world, ctx, call, p, Read::Project)
            }
            ("GET", ["compute", "v1", "projects", p, "regions"]) => {
                self.read(world, ctx, call, p, Read::Regions)
            }
            ("GET", ["compute", "v1", "projects", p, "global", "networks"]) => {
                self.read(world, ctx, call, p, Read::Networks)
            }
            ("GET", ["compute", "v1", "projects", p, "regions", r, "subnetworks"]) => {
                self.read(world, ctx, call, p, Read::Subnetworks(r))
            }
            ("GET", ["dns", "v1", "projects", p, "managedZones"]) => {
                self.read(world, ctx, call, p, Read::ManagedZones)
            }
            _ => no_such_url(call),
        }
    }

    /// Compute Engine and Cloud DNS, not STS or IAM Credentials.
    fn metered(&self, call: &Call) -> bool {
        matches!(
            call.segments.first().map(String::as_str),
            Some("compute" | "dns")
        )
    }

    fn throttled(&self, world: &GoogleWorld, _ctx: &Ctx<'_>, call: &Call) -> Reply {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        if segments == ["v1", "token"] {
            // STS speaks OAuth 2.0 errors, also when it sheds load.
            return oauth_error(
                429,
                "temporarily_unavailable",
                "Quota exceeded for quota metric 'Token exchange requests' of service 'sts.googleapis.com'. Retry later.",
            );
        }
        let (service, legacy) = match segments.first() {
            Some(&"compute") => (Api::Compute.service(), true),
            Some(&"dns") => (Api::Dns.service(), true),
            _ => ("iamcredentials.googleapis.com", false),
        };
        let consumer = match segments.as_slice() {
            [_, "v1", "projects", p, ..] => world
                .project(p)
                .map_or_else(|| (*p).to_string(), |p| p.project_number.clone()),
            _ => "unknown".into(),
        };
        let message = format!(
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service '{service}' for consumer 'project_number:{consumer}'."
        );
        rpc_error(
            429,
            "RESOURCE_EXHAUSTED",
            &message,
            legacy.then(|| errors(&message, "usageLimits", "rateLimitExceeded")),
            Some(json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": service,
                    "consumer": format!("projects/{consumer}"),
                    "quota_metric": format!("{service}/default"),
                    "quota_limit": "defaultPerMinutePerProject",
                }
            }])),
        )
    }
}

/// `google.rpc.Status` as JSON, with the `errors` list the older
/// discovery-based APIs (Compute, DNS) still add.
fn rpc_error(
    code: u16,
    status: &str,
    message: &str,
    errors: Option<Value>,
    details: Option<Value>,
) -> Reply {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(errors) = errors {
        error["errors"] = errors;
    }
    if let Some(details) = details {
        error["details"] = details;
    }
    Reply::json(code, json!({ "error": error }))
}

fn errors(message: &str, domain: &str, reason: &str) -> Value {
    json!([{"message": message, "domain": domain, "reason": reason}])
}

/// STS answers as an OAuth 2.0 token endpoint (RFC 6749 §5.2).
fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn unauthenticated(legacy: bool) -> Reply {
    let message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
    rpc_error(
        401,
        "UNAUTHENTICATED",
        message,
        legacy.then(|| {
            json!([{
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }])
        }),
        None,
    )
    .header(
        "www-authenticate",
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
    )
}

fn invalid_argument(message: &str, legacy: bool) -> Reply {
    rpc_error(
        400,
        "INVALID_ARGUMENT",
        message,
        legacy.then(|| errors(message, "global", "invalid")),
        None,
    )
}

fn not_found(message: &str) -> Reply {
    rpc_error(
        404,
        "NOT_FOUND",
        message,
        Some(errors(message, "global", "notFound")),
        None,
    )
}

fn no_such_url(call: &Call) -> Reply {
    rpc_error(
        404,
        "NOT_FOUND",
        &format!(
            "The requested URL {} {} was not found on this server.",
            call.method, call.rec.path
        ),
        None,
        None,
    )
}

fn sa_permission_denied() -> Reply {
    rpc_error(
        403,
        "PERMISSION_DENIED",
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        None,
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
        }])),
    )
}

fn insufficient_scopes(api: Api) -> Reply {
    rpc_error(
        403,
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes.",
        Some(json!([{
            "message": "Insufficient Permission",
            "domain": "global",
            "reason": "insufficientPermissions",
        }])),
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": api.service()},
        }])),
    )
}

fn service_disabled(api: Api, number: &str) -> Reply {
    let service = api.service();
    let activation = format!(
        "https://console.developers.google.com/apis/api/{service}/overview?project={number}"
    );
    let message = format!(
        "{} has not been used in project {number} before or it is disabled. Enable it by visiting {activation} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
        api.title()
    );
    rpc_error(
        403,
        "PERMISSION_DENIED",
        &message,
        Some(json!([{
            "message": message,
            "domain": "usageLimits",
            "reason": "accessNotConfigured",
            "extendedHelp": "https://console.developers.google.com",
        }])),
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {
                "service": service,
                "consumer": format!("projects/{number}"),
                "serviceTitle": api.title(),
                "activationUrl": activation,
            },
        }])),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    use chrono::Utc;

    use super::sts::{ACCESS_TOKEN, AWS4_REQUEST, TOKEN_EXCHANGE};
    use super::*;
    use crate::cloud_fakes::Knobs;

    const PROJECT: &str = "acme-prod";
    const NUMBER: &str = "555000111222";
    const SA: &str = "discovery@acme-prod.iam.gserviceaccount.com";

    type Form = Vec<(&'static str, String)>;
    /// A request, then the OAuth error and a part of the description expected.
    type Case = (Form, &'static str, &'static str);

    fn audience() -> String {
        format!(
            "//iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/alethia-pool/providers/aws-platform"
        )
    }

    fn authorization(signed: &str, signature: &str) -> String {
        let day = Utc::now().format("%Y%m%d");
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/{day}/us-east-1/sts/aws4_request, SignedHeaders={signed}, Signature={signature}"
        )
    }

    /// A signed GetCallerIdentity as the platform builds it, then `edit`ed.
    fn subject_token(audience: &str, edit: impl FnOnce(&mut Value)) -> String {
        let signed = authorization(
            "host;x-amz-date;x-goog-cloud-target-resource",
            &"0a".repeat(32),
        );
        let mut token = json!({
            "url": "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "method": "POST",
            "headers": [
                {"key": "Authorization", "value": signed},
                {"key": "Host", "value": "sts.us-east-1.amazonaws.com"},
                {"key": "X-Amz-Date", "value": Utc::now().format("%Y%m%dT%H%M%SZ").to_string()},
                {"key": "x-goog-cloud-target-resource", "value": audience},
            ],
        });
        edit(&mut token);
        utf8_percent_encode(&token.to_string(), NON_ALPHANUMERIC).to_string()
    }

    fn exchange_form(audience: &str, subject: String) -> Form {
        vec![
            ("grant_type", TOKEN_EXCHANGE.into()),
            ("requested_token_type", ACCESS_TOKEN.into()),
            ("subject_token_type", AWS4_REQUEST.into()),
            ("scope", CLOUD_PLATFORM.into()),
            ("audience", audience.into()),
            ("subject_token", subject),
        ]
    }

    async fn sts(fake: &GoogleFake, form: &[(&str, String)]) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/token", fake.url()))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn federated(fake: &GoogleFake) -> String {
        let (status, body) = sts(
            fake,
            &exchange_form(&audience(), subject_token(&audience(), |_| {})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn impersonate(
        fake: &GoogleFake,
        bearer: Option<&str>,
        email: &str,
        body: Value,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!(
                "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
                fake.url()
            ))
            .json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn sa_token(fake: &GoogleFake, email: &str, scope: &str) -> String {
        let fed = federated(fake).await;
        let (status, body) = impersonate(fake, Some(&fed), email, json!({"scope": [scope]})).await;
        assert_eq!(status, 200, "{body}");
        body["accessToken"].as_str().unwrap().to_string()
    }

    async fn get(fake: &GoogleFake, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(format!("{}{path}", fake.url()));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Follows `nextPageToken`; the names of every item and the pages seen.
    async fn all_pages(
        fake: &GoogleFake,
        path: &str,
        items: &str,
        token: &str,
    ) -> (Vec<String>, usize) {
        let (mut names, mut pages, mut next) = (Vec::new(), 0, None::<String>);
        loop {
            let url = match &next {
                Some(t) => format!("{path}?pageToken={t}"),
                None => path.to_string(),
            };
            let (status, body) = get(fake, &url, Some(token)).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            let page = body[items].as_array().unwrap();
            assert!(!page.is_empty() && page.len() <= 2, "{body}");
            names.extend(page.iter().map(|i| i["name"].as_str().unwrap().to_string()));
            match body.get("nextPageToken") {
                Some(t) => next = Some(t.as_str().unwrap().to_string()),
                None => return (names, pages),
            }
        }
    }

    #[tokio::test]
    async fn exchanges_a_signed_caller_identity_for_a_federated_token() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let subject = subject_token(&audience(), |_| {});
        let (status, body) = sts(&fake, &exchange_form(&audience(), subject.clone())).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert!(token.starts_with("ya29.fedtok-") && token.len() >= 40);
        assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(fake.issued_tokens(), vec![token.to_string()]);
        assert_eq!(fake.subject_tokens(), vec![subject.clone()]);

        // The REST reference's JSON body works too.
        let r = reqwest::Client::new()
            .post(format!("{}/v1/token", fake.url()))
            .json(&json!({
                "grantType": TOKEN_EXCHANGE, "requestedTokenType": ACCESS_TOKEN,
                "subjectTokenType": AWS4_REQUEST, "scope": CLOUD_PLATFORM,
                "audience": audience(), "subjectToken": subject,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn sts_refuses_what_google_refuses() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let aud = audience();
        let good = || exchange_form(&aud, subject_token(&aud, |_| {}));
        let with = |name: &str, value: &str| {
            let mut form = good();
            for (n, v) in &mut form {
                if *n == name {
                    *v = value.to_string();
                }
            }
            form
        };
        let spoiled = |edit: fn(&mut Value)| exchange_form(&aud, subject_token(&aud, edit));
        let other_pool = aud.replace("alethia-pool", "other-pool");
        let cases: Vec<Case> = vec![
            (
                with("grant_type", "client_credentials"),
                "unsupported_grant_type",
                "grant_type",
            ),
            (
                with("scope", "https://www.googleapis.com/auth/compute"),
                "invalid_scope",
                "scope",
            ),
            (
                with("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                "invalid_request",
                "subject_token_type",
            ),
            (
                exchange_form(&other_pool, subject_token(&other_pool, |_| {})),
                "invalid_target",
                "pool or provider is disabled",
            ),
            (
                with("subject_token", "not-json"),
                "invalid_grant",
                "URL-encoded JSON",
            ),
            (
                spoiled(|t| {
                    t["url"] = json!(
                        "https://sts.us-east-1.amazonaws.com?Action=AssumeRole&Version=2011-06-15"
                    )
                }),
                "invalid_grant",
                "url",
            ),
            (
                spoiled(|t| t["method"] = json!("GET")),
                "invalid_grant",
                "method",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] =
                        json!(authorization("host;x-amz-date", &"0a".repeat(32)))
                }),
                "invalid_grant",
                "x-goog-cloud-target-resource header",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] = json!(authorization(
                        "host;x-amz-date;x-goog-cloud-target-resource",
                        "abc"
                    ))
                }),
                "invalid_grant",
                "Signature",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] = json!(authorization(
                        "host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource",
                        &"0a".repeat(32)
                    ))
                }),
                "invalid_grant",
                "x-amz-security-token is signed",
            ),
            (
                spoiled(|t| t["headers"][1]["value"] = json!("sts.amazonaws.com")),
                "invalid_grant",
                "host header",
            ),
            (
                spoiled(|t| t["headers"][2]["value"] = json!("2020-01-01T00:00:00Z")),
                "invalid_grant",
                "x-amz-date",
            ),
            (
                spoiled(|t| t["headers"][2]["value"] = json!("20200101T000000Z")),
                "invalid_grant",
                "x-amz-date",
            ),
            (
                spoiled(|t| {
                    t["headers"][3]["value"] = json!(
                        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q"
                    )
                }),
                "invalid_grant",
                "does not match the audience",
            ),
        ];
        for (form, error, says) in cases {
            let (status, body) = sts(&fake, &form).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], error, "{body}");
            assert!(
                body["error_description"].as_str().unwrap().contains(says),
                "{says}: {body}"
            );
        }
        fake.update(|w| w.projects[0].pools[0].providers[0].disabled = true);
        let (_, body) = sts(&fake, &good()).await;
        assert_eq!(body["error"], "invalid_target");
        fake.update(|w| {
            w.projects[0].pools[0].providers[0].disabled = false;
            w.aws_caller_account = "999999999999".into();
        });
        let (status, body) = sts(&fake, &good()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("AWS account")
        );
        assert!(fake.issued_tokens().is_empty());
    }

    #[tokio::test]
    async fn impersonates_service_accounts_open_to_the_pool() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let scope = json!({"scope": [CLOUD_PLATFORM]});
        let (status, body) = impersonate(&fake, None, SA, scope.clone()).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (401, Some("UNAUTHENTICATED"))
        );
        let (status, _) = impersonate(&fake, Some("ya29.made-up"), SA, scope.clone()).await;
        assert_eq!(status, 401);
        let fed = federated(&fake).await;
        let (status, body) = impersonate(&fake, Some(&fed), SA, json!({"lifetime": "600s"})).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
        let (status, body) = impersonate(
            &fake,
            Some(&fed),
            "nobody@acme-prod.iam.gserviceaccount.com",
            scope.clone(),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["reason"],
            "IAM_PERMISSION_DENIED"
        );
        assert_eq!(
            body["error"]["details"][0]["metadata"]["permission"],
            "iam.serviceAccounts.getAccessToken"
        );

        // The email percent-encoded, the colon too, as some clients send it.
        let encoded = SA.replace('@', "%40");
        let r = reqwest::Client::new()
            .post(format!(
                "{}/v1/projects/-/serviceAccounts/{encoded}%3AgenerateAccessToken",
                fake.url()
            ))
            .bearer_auth(&fed)
            .json(&scope)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let token = body["accessToken"].as_str().unwrap();
        assert!(token.starts_with("ya29.satok-") && token.len() >= 40);
        let expires =
            chrono::DateTime::parse_from_rfc3339(body["expireTime"].as_str().unwrap()).unwrap();
        let ahead = expires.with_timezone(&Utc) - Utc::now();
        assert!((3590..=3600).contains(&ahead.num_seconds()), "{ahead}");
        assert_eq!(fake.issued_tokens(), vec![fed.clone(), token.to_string()]);
        // A service account's token does not impersonate further.
        let (status, _) = impersonate(&fake, Some(token), SA, scope.clone()).await;
        assert_eq!(status, 403);

        fake.update(|w| w.projects[0].service_accounts[0].federated_users_allowed = false);
        let (status, body) = impersonate(&fake, Some(&fed), SA, scope).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (403, Some("PERMISSION_DENIED"))
        );
    }

    #[tokio::test]
    async fn lists_page_through_every_item_once() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 7))
            .await
            .unwrap();
        fake.update(|w| {
            w.projects[0]
                .regions
                .extend(["us-east1", "us-west1", "europe-west4", "asia-south1"].map(String::from));
        });
        fake.set_page_size(2);
        let fed = federated(&fake).await;
        let sa = sa_token(&fake, SA, CLOUD_PLATFORM).await;
        let world = fake.world();
        let project = &world.projects[0];
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let base = format!("/compute/v1/projects/{PROJECT}");
        let expect_subnets: Vec<String> = project
            .subnetworks
            .iter()
            .filter(|s| s.region == "us-central1")
            .map(|s| s.name.clone())
            .collect();
        let zones: Vec<String> = project
            .managed_zones
            .iter()
            .map(|z| z.name.clone())
            .collect();
        for (path, items, token, expected) in [
            (
                format!("{base}/regions"),
                "items",
                &fed,
                project.regions.clone(),
            ),
            (
                format!("{base}/global/networks"),
                "items",
                &sa,
                project.networks.clone(),
            ),
            (
                format!("{base}/regions/us-central1/subnetworks"),
                "items",
                &fed,
                expect_subnets,
            ),
            (
                format!("/dns/v1/projects/{PROJECT}/managedZones"),
                "managedZones",
                &sa,
                zones,
            ),
        ] {
            let (names, pages) = all_pages(&fake, &path, items, token).await;
            assert_eq!(pages, 4, "{path}");
            assert_eq!(names.len(), 7, "{path}: {names:?}");
            assert_eq!(sorted(names), sorted(expected), "{path}");
        }

        // maxResults asks for less; the page size caps more.
        let (_, body) = get(
            &fake,
            &format!("{base}/global/networks?maxResults=1"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["items"].as_array().unwrap().len(), 1);
        let (_, body) = get(
            &fake,
            &format!("{base}/global/networks?maxResults=500"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["items"].as_array().unwrap().len(), 2);
        let network = &body["items"][0];
        assert_eq!(network["kind"], "compute#network");
        assert_eq!(
            network["selfLink"],
            format!("{}{base}/global/networks/net-0", fake.url())
        );
        assert_eq!(network["subnetworks"].as_array().unwrap().len(), 3);
        assert!(
            network["id"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );

        let (_, body) = get(
            &fake,
            &format!("{base}/regions/europe-west1/subnetworks"),
            Some(&fed),
        )
        .await;
        let subnet = &body["items"][0];
        assert_eq!(subnet["kind"], "compute#subnetwork");
        assert_eq!(
            subnet["network"],
            format!("{}{base}/global/networks/net-0", fake.url())
        );
        assert_eq!(
            subnet["region"],
            format!("{}{base}/regions/europe-west1", fake.url())
        );
        assert_eq!(subnet["ipCidrRange"], "10.0.7.0/24");

        let (status, body) = get(&fake, &base, Some(&fed)).await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["kind"].as_str(),
                body["id"].as_str(),
                body["name"].as_str()
            ),
            (Some("compute#project"), Some(NUMBER), Some(PROJECT))
        );

        let (_, body) = get(
            &fake,
            &format!("/dns/v1/projects/{NUMBER}/managedZones?maxResults=5"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["kind"], "dns#managedZonesListResponse");
        assert_eq!(body["managedZones"][0]["visibility"], "public");
        assert_eq!(body["managedZones"][1]["visibility"], "private");
        assert_eq!(body["managedZones"][0]["dnsName"], "zone-0.example.com.");

        // Empty lists have no items and no next page.
        fake.update(|w| {
            w.projects[0].managed_zones.clear();
            w.projects[0].networks.clear();
        });
        let (_, body) = get(&fake, &format!("{base}/global/networks"), Some(&fed)).await;
        assert!(
            body.get("items").is_none() && body.get("nextPageToken").is_none(),
            "{body}"
        );
        let (_, body) = get(
            &fake,
            &format!("/dns/v1/projects/{PROJECT}/managedZones"),
            Some(&fed),
        )
        .await;
        assert!(
            body.get("managedZones").is_none() && body.get("nextPageToken").is_none(),
            "{body}"
        );
    }

    #[tokio::test]
    async fn reads_fail_as_google_fails() {
        let mut world = GoogleWorld::demo(PROJECT, NUMBER, 3);
        let other = GoogleWorld::demo("other-proj", "777", 0).projects.remove(0);
        world.projects.push(other);
        let fake = GoogleFake::start(world).await.unwrap();
        fake.set_page_size(2);
        let fed = federated(&fake).await;
        let networks = format!("/compute/v1/projects/{PROJECT}/global/networks");
        let regions = format!("/compute/v1/projects/{PROJECT}/regions");
        let zones = format!("/dns/v1/projects/{PROJECT}/managedZones");

        let (status, body) = get(&fake, &networks, None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(body["error"]["errors"][0]["reason"], "authError");
        let (status, _) = get(&fake, &networks, Some("ya29.made-up")).await;
        assert_eq!(status, 401);

        let (status, body) = get(
            &fake,
            "/compute/v1/projects/nope/global/networks",
            Some(&fed),
        )
        .await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (404, Some("NOT_FOUND"))
        );
        let (status, body) = get(
            &fake,
            &format!("{regions}/mars-north1/subnetworks"),
            Some(&fed),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            body["error"]["message"],
            format!("The resource 'projects/{PROJECT}/regions/mars-north1' was not found")
        );
        assert_eq!(body["error"]["errors"][0]["reason"], "notFound");

        let (_, first) = get(&fake, &networks, Some(&fed)).await;
        let token = first["nextPageToken"].as_str().unwrap();
        for path in [
            format!("{networks}?pageToken=forged"),
            format!("{regions}?pageToken={token}"),
            format!("{networks}?maxResults=501"),
        ] {
            let (status, body) = get(&fake, &path, Some(&fed)).await;
            assert_eq!(
                (status, body["error"]["status"].as_str()),
                (400, Some("INVALID_ARGUMENT")),
                "{path}"
            );
        }

        fake.update(|w| w.projects[0].compute_enabled = false);
        let (status, body) = get(&fake, &networks, Some(&fed)).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(body["error"]["details"][0]["reason"], "SERVICE_DISABLED");
        assert_eq!(
            body["error"]["details"][0]["metadata"]["service"],
            "compute.googleapis.com"
        );
        assert_eq!(body["error"]["errors"][0]["reason"], "accessNotConfigured");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!(
                    "Compute Engine API has not been used in project {NUMBER}"
                ))
        );
        let (status, _) = get(&fake, &zones, Some(&fed)).await;
        assert_eq!(status, 200);
        fake.update(|w| {
            w.projects[0].compute_enabled = true;
            w.projects[0].dns_enabled = false;
        });
        let (status, body) = get(&fake, &zones, Some(&fed)).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["metadata"]["service"],
            "dns.googleapis.com"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Cloud DNS API has not been used")
        );

        fake.update(|w| {
            w.projects[0].dns_enabled = true;
            w.projects[0].can_read = false;
        });
        for (path, permission) in [
            (networks.clone(), "compute.networks.list"),
            (regions.clone(), "compute.regions.list"),
            (
                format!("{regions}/us-central1/subnetworks"),
                "compute.subnetworks.list",
            ),
            (
                format!("/compute/v1/projects/{PROJECT}"),
                "compute.projects.get",
            ),
            (zones.clone(), "dns.managedZones.list"),
        ] {
            let (status, body) = get(&fake, &path, Some(&fed)).await;
            assert_eq!(status, 403, "{path}");
            assert_eq!(body["error"]["errors"][0]["reason"], "forbidden");
            assert!(body.pointer("/error/details").is_none());
            assert_eq!(
                body["error"]["message"],
                format!("Required '{permission}' permission for 'projects/{PROJECT}'")
            );
        }
        fake.update(|w| w.projects[0].can_read = true);

        // A service account's token reads its own project only, within its scopes.
        let other_sa = sa_token(
            &fake,
            "discovery@other-proj.iam.gserviceaccount.com",
            CLOUD_PLATFORM,
        )
        .await;
        let (status, body) = get(&fake, &networks, Some(&other_sa)).await;
        assert_eq!(
            (status, body["error"]["errors"][0]["reason"].as_str()),
            (403, Some("forbidden"))
        );
        let (status, _) = get(
            &fake,
            "/compute/v1/projects/other-proj/global/networks",
            Some(&other_sa),
        )
        .await;
        assert_eq!(status, 200);
        let narrow = sa_token(
            &fake,
            SA,
            "https://www.googleapis.com/auth/ndev.clouddns.readonly",
        )
        .await;
        let (status, body) = get(&fake, &networks, Some(&narrow)).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["reason"],
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
        );
        let (status, _) = get(&fake, &zones, Some(&narrow)).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn throttles_every_nth_request_records_and_stops() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let fed = federated(&fake).await;
        fake.set_knobs(Knobs {
            throttle_every: Some(3),
            ..Knobs::default()
        });
        let networks = format!(
            "{}/compute/v1/projects/{PROJECT}/global/networks",
            fake.url()
        );
        let client = reqwest::Client::new();
        assert_eq!(
            client
                .get(&networks)
                .bearer_auth(&fed)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let r = client
            .get(&networks)
            .bearer_auth(&fed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(body["error"]["code"], 429);
        federated(&fake).await;
        federated(&fake).await;
        let (status, body) = sts(
            &fake,
            &exchange_form(&audience(), subject_token(&audience(), |_| {})),
        )
        .await;
        assert_eq!(status, 429, "{body}");
        assert!(body["error"].is_string());
        // Throttled requests are not acted on.
        assert_eq!(fake.issued_tokens().len(), 3);
        assert_eq!(fake.request_count(), 6);

        let recorded = fake.requests();
        assert_eq!(recorded.len(), 6);
        assert_eq!(recorded[1].method, "GET");
        assert_eq!(
            recorded[1].path,
            format!("/compute/v1/projects/{PROJECT}/global/networks")
        );
        assert_eq!(
            recorded[1].header("Authorization"),
            Some(format!("Bearer {fed}").as_str())
        );
        assert!(
            recorded
                .iter()
                .all(|r| r.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()))
        );
        assert!(recorded[0].body.contains("subject_token="));
        fake.clear_requests();
        assert!(fake.requests().is_empty());

        fake.set_knobs(Knobs {
            latency: Duration::from_millis(150),
            ..Knobs::default()
        });
        let started = Instant::now();
        assert_eq!(
            client
                .get(&networks)
                .bearer_auth(&fed)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert!(started.elapsed() >= Duration::from_millis(150));

        fake.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(reqwest::Client::new().get(&networks).send().await.is_err());
    }
}
