//! The Security Token Service's token exchange: a signed AWS
//! `GetCallerIdentity` request (the subject token) for a federated access
//! token, with the subject token checked as far as can be without AWS's
//! secret key.

use chrono::{NaiveDateTime, Utc};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::world::{AwsProvider, GoogleWorld};
use super::{CLOUD_PLATFORM, Google, Holder, oauth_error};
use crate::cloud_fakes::{Call, Ctx, Reply, param};

pub(super) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(super) const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub(super) const AWS4_REQUEST: &str = "urn:ietf:params:aws:token-type:aws4_request";
const STS_URL_SHAPE: &str =
    "https://sts.REGION.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// AWS refuses a signature dated further than this from its clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

impl Google {
    /// Token exchange, https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token;
    /// the AWS subject token as in https://google.aip.dev/auth/4117 and
    /// https://cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds#rest.
    pub(super) fn exchange(
        &mut self,
        world: &GoogleWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
    ) -> Reply {
        let params = sts_params(call);
        let get = |name: &str| param(&params, name).filter(|v| !v.is_empty());
        if let Some(token) = get("subject_token") {
            self.subject_tokens.push(token.to_string());
        }
        match get("grant_type") {
            Some(TOKEN_EXCHANGE) => {}
            other => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    &format!(
                        "Unsupported grant_type {:?}: only {TOKEN_EXCHANGE} is supported.",
                        other.unwrap_or("")
                    ),
                );
            }
        }
        if get("requested_token_type") != Some(ACCESS_TOKEN) {
            return oauth_error(
                400,
                "invalid_request",
                &format!("Invalid value for \"requested_token_type\": expected {ACCESS_TOKEN}."),
            );
        }
        if get("subject_token_type") != Some(AWS4_REQUEST) {
            return oauth_error(
                400,
                "invalid_request",
                &format!(
                    "Invalid value for \"subject_token_type\": an AWS provider expects {AWS4_REQUEST}."
                ),
            );
        }
        if !get("scope").is_some_and(|s| s.split_whitespace().any(|s| s == CLOUD_PLATFORM)) {
            return oauth_error(
                400,
                "invalid_scope",
                &format!(
                    "The scope {:?} is invalid: request {CLOUD_PLATFORM}.",
                    get("scope").unwrap_or("")
                ),
            );
        }
        let Some(audience) = get("audience") else {
            return oauth_error(
                400,
                "invalid_request",
                "The \"audience\" parameter is required.",
            );
        };
        let Some(provider) = find_provider(world, audience) else {
            return oauth_error(
                400,
                "invalid_target",
                "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
            );
        };
        let Some(subject) = get("subject_token") else {
            return oauth_error(
                400,
                "invalid_request",
                "The \"subject_token\" parameter is required.",
            );
        };
        if let Err(why) = check_subject_token(subject, audience) {
            return oauth_error(400, "invalid_grant", &why);
        }
        if provider.aws_account_id != world.aws_caller_account {
            return oauth_error(
                400,
                "invalid_grant",
                &format!(
                    "The AWS account of the caller ({}) is not allowed by the provider's attribute condition or account ID.",
                    world.aws_caller_account
                ),
            );
        }
        let token = ctx.issue("ya29.fedtok-");
        self.tokens.insert(token.clone(), Holder::Federated);
        Reply::json(
            200,
            json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
            }),
        )
    }
}

/// The STS request's parameters: form-encoded as the client libraries send
/// them, or the JSON body the REST reference shows (camelCase keys, which
/// proto JSON accepts beside snake_case ones).
fn sts_params(call: &Call) -> Vec<(String, String)> {
    let json = call
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return call.form();
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&call.rec.body) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| {
            let snake = k.chars().fold(String::new(), |mut s, c| {
                if c.is_ascii_uppercase() {
                    s.push('_');
                }
                s.push(c.to_ascii_lowercase());
                s
            });
            v.as_str().map(|v| (snake, v.to_string()))
        })
        .collect()
}

/// The enabled AWS provider the audience names, if any.
fn find_provider<'w>(world: &'w GoogleWorld, audience: &str) -> Option<&'w AwsProvider> {
    let rest = audience.strip_prefix("//iam.googleapis.com/projects/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [
        number,
        "locations",
        "global",
        "workloadIdentityPools",
        pool,
        "providers",
        provider,
    ] = parts.as_slice()
    else {
        return None;
    };
    world
        .projects
        .iter()
        .find(|p| p.project_number == *number)?
        .pools
        .iter()
        .find(|p| p.pool_id == *pool && !p.disabled)?
        .providers
        .iter()
        .find(|p| p.provider_id == *provider && !p.disabled)
}

/// Checks the serialized, signed `GetCallerIdentity` request as far as can
/// be without AWS's secret key; the error says what is wrong.
fn check_subject_token(raw: &str, audience: &str) -> Result<(), String> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "The subject token is not URL-encoded UTF-8 text.".to_string())?;
    let token: Value = serde_json::from_str(&decoded).map_err(|e| {
        format!("The subject token is not a URL-encoded JSON GetCallerIdentity request: {e}.")
    })?;
    let field = |name: &str| token.get(name).and_then(Value::as_str);
    let url = field("url").ok_or_else(|| "The subject token has no \"url\".".to_string())?;
    let (host, region) = sts_url(url)?;
    if field("method") != Some("POST") {
        return Err(format!(
            "The subject token's method must be \"POST\", not {:?}.",
            field("method").unwrap_or("")
        ));
    }
    let mut headers: Vec<(String, &str)> = Vec::new();
    for h in token
        .get("headers")
        .and_then(Value::as_array)
        .ok_or_else(|| "The subject token has no \"headers\" list.".to_string())?
    {
        match (
            h.get("key").and_then(Value::as_str),
            h.get("value").and_then(Value::as_str),
        ) {
            (Some(k), Some(v)) => headers.push((k.to_ascii_lowercase(), v)),
            _ => {
                return Err(
                    "Every header of the subject token must be {\"key\": \"...\", \"value\": \"...\"}."
                        .into(),
                );
            }
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let authorization = header("authorization")
        .ok_or_else(|| "The subject token has no Authorization header.".to_string())?;
    let sig = parse_sigv4(authorization)?;
    if sig.region != region {
        return Err(format!(
            "The signature's credential scope names region {} but the url is for {region}.",
            sig.region
        ));
    }
    for required in ["host", "x-amz-date", "x-goog-cloud-target-resource"] {
        if !sig.signed.iter().any(|s| s == required) {
            return Err(format!(
                "The signature does not sign the {required} header (SignedHeaders={}).",
                sig.signed.join(";")
            ));
        }
    }
    if let Some(missing) = sig.signed.iter().find(|s| header(s).is_none()) {
        return Err(format!(
            "The header {missing} is signed but is not among the subject token's headers."
        ));
    }
    if header("host") != Some(host) {
        return Err(format!(
            "The host header {:?} does not match the url's host {host:?}.",
            header("host").unwrap_or("")
        ));
    }
    let amz_date = header("x-amz-date").unwrap_or("");
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .ok()
        .filter(|_| amz_date.len() == 16)
        .ok_or_else(|| format!("The x-amz-date header {amz_date:?} is not YYYYMMDDTHHMMSSZ."))?;
    if !amz_date.starts_with(&sig.date) {
        return Err(format!(
            "The x-amz-date header {amz_date} is not on the credential scope's date {}.",
            sig.date
        ));
    }
    if (Utc::now().naive_utc() - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(format!(
            "Signature expired or not yet valid: x-amz-date {amz_date} is more than 15 minutes from the current time."
        ));
    }
    let target = header("x-goog-cloud-target-resource").unwrap_or("");
    if target != audience {
        return Err(format!(
            "The x-goog-cloud-target-resource header {target:?} does not match the audience {audience:?}."
        ));
    }
    Ok(())
}

/// The host and region of the STS `GetCallerIdentity` url.
fn sts_url(url: &str) -> Result<(&str, String), String> {
    let wrong = || format!("The subject token's url must be {STS_URL_SHAPE}, not {url:?}.");
    let rest = url.strip_prefix("https://").ok_or_else(wrong)?;
    let (authority, query) = rest.split_once('?').ok_or_else(wrong)?;
    let host = authority.strip_suffix('/').unwrap_or(authority);
    let region = if host == "sts.amazonaws.com" {
        "us-east-1"
    } else {
        host.strip_prefix("sts.")
            .and_then(|h| h.strip_suffix(".amazonaws.com"))
            .filter(|r| {
                !r.is_empty()
                    && r.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
            .ok_or_else(wrong)?
    };
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| wrong())?;
    pairs.sort();
    let expected = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let same = pairs.len() == expected.len()
        && pairs
            .iter()
            .zip(expected)
            .all(|((k, v), (ek, ev))| k == ek && v == ev);
    if !same {
        return Err(wrong());
    }
    Ok((host, region.to_string()))
}

struct SigV4 {
    date: String,
    region: String,
    signed: Vec<String>,
}

/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/sts/aws4_request,
/// SignedHeaders=a;b, Signature=HEX`.
fn parse_sigv4(authorization: &str) -> Result<SigV4, String> {
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| {
            "The Authorization header must start with \"AWS4-HMAC-SHA256 Credential=\".".to_string()
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else {
            return Err(format!("Unexpected {part:?} in the Authorization header."));
        }
    }
    let scope: Vec<&str> = credential
        .ok_or_else(|| "The Authorization header has no Credential.".to_string())?
        .split('/')
        .collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(
            "The Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/sts/aws4_request.".into(),
        );
    };
    let date_ok = date.len() == 8 && date.chars().all(|c| c.is_ascii_digit());
    if key_id.is_empty()
        || !key_id.chars().all(|c| c.is_ascii_alphanumeric())
        || !date_ok
        || region.is_empty()
        || *service != "sts"
        || *terminator != "aws4_request"
    {
        return Err(format!(
            "The Credential {} is not ACCESS_KEY_ID/YYYYMMDD/REGION/sts/aws4_request.",
            scope.join("/")
        ));
    }
    let signed: Vec<String> = signed
        .ok_or_else(|| "The Authorization header has no SignedHeaders.".to_string())?
        .split(';')
        .map(String::from)
        .collect();
    let canonical = signed
        .iter()
        .all(|h| !h.is_empty() && *h == h.to_ascii_lowercase())
        && signed.windows(2).all(|w| w[0] < w[1]);
    if !canonical {
        return Err(format!(
            "SignedHeaders {} must be lower-case names, sorted, separated by ';'.",
            signed.join(";")
        ));
    }
    let signature = signature.unwrap_or("");
    if signature.len() != 64
        || !signature
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(format!(
            "The Signature {signature:?} is not 64 lower-case hex digits."
        ));
    }
    Ok(SigV4 {
        date: date.to_string(),
        region: region.to_string(),
        signed,
    })
}
