//! Google Cloud and Azure errors, classified into what a customer can act
//! on. Each function reads an answer's status and JSON body as the provider
//! documents them and returns a [`StepError`] whose kind decides retries and
//! whose [`Remedy`](crate::error::Remedy) carries the provider's code and
//! what to change:
//!
//! * Google STS (OAuth 2.0 token exchange, RFC 8693): `{"error":
//!   "invalid_target" | "invalid_grant" | …, "error_description"}`;
//! * Google APIs (IAM Credentials, Compute, Cloud DNS): `{"error": {"code",
//!   "message", "status", "details": [ErrorInfo {reason, metadata}]}}`
//!   (<https://cloud.google.com/apis/design/errors>);
//! * Microsoft identity platform: `{"error", "error_description":
//!   "AADSTSnnnn: …", "error_codes": [nnnn]}`
//!   (<https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>);
//! * Azure Resource Manager: `{"error": {"code", "message"}}`
//!   (<https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors>).

use serde_json::Value;

use crate::error::{ErrorKind, StepError};
use crate::identity::{AzureAccount, GcpAccount};
use crate::inventory::{FetchOutcome, FetchStatus, ResourceType};

/// Longest provider text kept in a message (descriptions carry trace ids
/// and timestamps after the useful first sentence).
const MAX_TEXT: usize = 400;

fn clip(text: &str) -> String {
    let first = text.split("\r\n").next().unwrap_or(text).trim();
    first.chars().take(MAX_TEXT).collect()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Status codes every provider shares: throttling and outages.
fn transient(status: u16, service: &str, text: &str) -> Option<StepError> {
    match status {
        429 => Some(StepError::new(
            ErrorKind::Throttled,
            format!("{service} is throttling the platform's calls (429): {text}"),
        )),
        500..=599 => Some(StepError::unavailable(format!(
            "{service} answered {status}: {text}"
        ))),
        _ => None,
    }
}

/// The Google STS token exchange failed.
pub fn gcp_sts(status: u16, body: &str, account: &GcpAccount) -> StepError {
    let v = json(body);
    let code = v["error"].as_str().unwrap_or_default();
    let text = clip(v["error_description"].as_str().unwrap_or(body));
    if let Some(e) = transient(status, "Google STS", &text) {
        return e;
    }
    let audience = account.audience();
    match code {
        "invalid_target" => StepError::invalid(format!(
            "Google STS refused the audience {audience}: {text}"
        ))
        .with_remedy(
            "invalid_target",
            format!(
                "Check that workload identity pool {pool} and its provider {provider} exist in project {number}, are \
                 enabled (not disabled or deleted), and that project_number, workload_identity_pool_id and \
                 workload_identity_provider_id registered here match them.",
                pool = account.workload_identity_pool_id,
                provider = account.workload_identity_provider_id,
                number = account.project_number
            ),
        ),
        "invalid_grant" => StepError::new(
            ErrorKind::AccessDenied,
            format!("Google STS rejected the platform's AWS credentials as subject token: {text}"),
        )
        .with_remedy(
            "invalid_grant",
            format!(
                "The provider {provider} must be an AWS provider naming the platform's AWS account id, and its \
                 attribute condition (if any) must admit the platform's role; compare them with `gcloud iam \
                 workload-identity-pools providers describe {provider} --workload-identity-pool {pool} --location \
                 global --project {project}`.",
                provider = account.workload_identity_provider_id,
                pool = account.workload_identity_pool_id,
                project = account.project_id
            ),
        ),
        "" => StepError::internal(format!("Google STS answered {status}: {text}")),
        other => StepError::invalid(format!("Google STS refused the token exchange ({other}): {text}"))
            .with_remedy(
                other,
                "The platform's request was refused; check the identity's workload identity settings and retry.",
            ),
    }
}

/// A Google API error body: (status text, message, ErrorInfo reason,
/// the service an ErrorInfo names).
fn google_error(body: &str) -> (String, String, String, String) {
    let v = json(body);
    let e = &v["error"];
    let details = e["details"].as_array().cloned().unwrap_or_default();
    let info = details
        .iter()
        .find(|d| {
            d["@type"]
                .as_str()
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .cloned()
        .unwrap_or(Value::Null);
    // Older answers say "accessNotConfigured" in `errors[].reason` only.
    let legacy_disabled = e["errors"]
        .as_array()
        .is_some_and(|es| es.iter().any(|x| x["reason"] == "accessNotConfigured"));
    let reason = match info["reason"].as_str() {
        Some(r) => r.to_string(),
        None if legacy_disabled => "SERVICE_DISABLED".to_string(),
        None => String::new(),
    };
    (
        e["status"].as_str().unwrap_or_default().to_string(),
        clip(e["message"].as_str().unwrap_or(body)),
        reason,
        info["metadata"]["service"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// `generateAccessToken` for the identity's service account failed.
pub fn gcp_impersonation(status: u16, body: &str, account: &GcpAccount) -> StepError {
    let (state, text, _, _) = google_error(body);
    if let Some(e) = transient(status, "IAM Credentials", &text) {
        return e;
    }
    let sa = account.service_account.as_deref().unwrap_or_default();
    match (status, state.as_str()) {
        (403, _) | (_, "PERMISSION_DENIED") | (404, _) => StepError::new(
            ErrorKind::AccessDenied,
            format!("The platform may not impersonate {sa}: {text}"),
        )
        .with_remedy(
            "PERMISSION_DENIED",
            format!(
                "Grant the pool's identities the Workload Identity User role on the service account: `gcloud iam \
                 service-accounts add-iam-policy-binding {sa} --role roles/iam.workloadIdentityUser --member \
                 principalSet://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/*` \
                 (and check that {sa} exists).",
                number = account.project_number,
                pool = account.workload_identity_pool_id
            ),
        ),
        _ => StepError::internal(format!(
            "impersonating {sa} failed ({status} {state}): {text}"
        )),
    }
}

/// A Compute Engine or Cloud DNS read failed (`what` names the call).
pub fn gcp_api(status: u16, body: &str, what: &str, account: &GcpAccount) -> StepError {
    let (state, text, reason, service) = google_error(body);
    if let Some(e) = transient(status, what, &text) {
        return e;
    }
    let project = &account.project_id;
    if reason == "SERVICE_DISABLED" {
        let service = if service.is_empty() {
            "the API".to_string()
        } else {
            service
        };
        return StepError::new(
            ErrorKind::AccessDenied,
            format!("{what}: {service} is not enabled in project {project}: {text}"),
        )
        .with_remedy(
            "SERVICE_DISABLED",
            format!(
                "Enable it: `gcloud services enable {service} --project {project}` (or APIs & Services > Enable APIs \
                 in the console), wait a few minutes, and test again."
            ),
        );
    }
    match (status, state.as_str()) {
        (403, _) | (_, "PERMISSION_DENIED") => StepError::new(
            ErrorKind::AccessDenied,
            format!("{what} was denied in project {project}: {text}"),
        )
        .with_remedy(
            "PERMISSION_DENIED",
            format!(
                "Grant the identity the platform uses ({}) read access in project {project}: roles/compute.networkViewer \
                 and roles/dns.reader.",
                account
                    .service_account
                    .as_deref()
                    .unwrap_or("the workload identity pool's principals")
            ),
        ),
        (404, _) => StepError::not_found(format!("{what}: not found in project {project}: {text}"))
            .with_remedy(
                "NOT_FOUND",
                "Check project_id: it must name an existing project the identity can see.",
            ),
        (401, _) => StepError::new(
            ErrorKind::AccessDenied,
            format!("{what}: Google did not accept the access token: {text}"),
        ),
        _ => StepError::internal(format!("{what} failed ({status} {state}): {text}")),
    }
}

/// The Microsoft identity platform refused the client credentials grant.
pub fn azure_token(status: u16, body: &str, account: &AzureAccount) -> StepError {
    let v = json(body);
    let text = clip(v["error_description"].as_str().unwrap_or(body));
    if let Some(e) = transient(status, "Microsoft Entra ID", &text) {
        return e;
    }
    let number = v["error_codes"][0]
        .as_u64()
        .map(|n| n.to_string())
        .or_else(|| {
            text.strip_prefix("AADSTS")
                .and_then(|t| t.split(':').next())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let (tenant, client) = (&account.tenant_id, &account.client_id);
    let denied = |hint: String| {
        StepError::new(
            ErrorKind::AccessDenied,
            format!("Microsoft Entra ID refused the app's sign-in: {text}"),
        )
        .with_remedy(format!("AADSTS{number}"), hint)
    };
    match number.as_str() {
        "7000215" => denied(
            "The client secret is wrong. Give the secret's Value (shown once, when the secret is created under \
             Certificates & secrets), not its Secret ID, with PUT /api/cloud-identities/{id}."
                .into(),
        ),
        "7000222" => denied(format!(
            "The client secret of app {client} has expired. Create a new one under Certificates & secrets and PUT \
             it as client_secret."
        )),
        "700016" => denied(format!(
            "No application {client} in tenant {tenant}: check client_id (the Application (client) ID) and \
             tenant_id, or have an administrator of the tenant consent to the app."
        )),
        "90002" => denied(format!(
            "Tenant {tenant} was not found: use the Directory (tenant) ID from the app registration's Overview page."
        )),
        "" => StepError::internal(format!("Microsoft Entra ID answered {status}: {text}")),
        _ => denied(
            "Check the app registration's tenant, client id and secret, then test again.".into(),
        ),
    }
}

/// An Azure Resource Manager call failed (`what` names it).
pub fn azure_arm(status: u16, body: &str, what: &str, account: &AzureAccount) -> StepError {
    let v = json(body);
    let code = v["error"]["code"].as_str().unwrap_or_default();
    let text = clip(v["error"]["message"].as_str().unwrap_or(body));
    if let Some(e) = transient(status, what, &text) {
        return e;
    }
    let (sub, client) = (&account.subscription_id, &account.client_id);
    match code {
        "AuthorizationFailed" => StepError::new(ErrorKind::AccessDenied, format!("{what} was denied: {text}"))
            .with_remedy(
                "AuthorizationFailed",
                format!(
                    "Assign the Reader role on the subscription to the app: `az role assignment create --assignee \
                     {client} --role Reader --scope /subscriptions/{sub}` (role assignments take a few minutes to apply)."
                ),
            ),
        "SubscriptionNotFound" | "InvalidSubscriptionId" => {
            StepError::not_found(format!("{what}: subscription {sub} was not found: {text}")).with_remedy(
                "SubscriptionNotFound",
                format!(
                    "Check subscription_id: subscription {sub} must exist in tenant {} (az account list --all).",
                    account.tenant_id
                ),
            )
        }
        "DisabledSubscription" | "ReadOnlyDisabledSubscription" | "SubscriptionDisabled" => {
            subscription_disabled(account, "Disabled")
        }
        _ if status == 401 => StepError::new(
            ErrorKind::AccessDenied,
            format!("{what}: Azure did not accept the access token ({code}): {text}"),
        ),
        _ => StepError::internal(format!("{what} failed ({status} {code}): {text}")),
    }
}

/// The subscription exists but is not usable (`state` as Resource Manager
/// reports it: Disabled, Deleted, …).
pub fn subscription_disabled(account: &AzureAccount, state: &str) -> StepError {
    StepError::new(
        ErrorKind::AccessDenied,
        format!(
            "Azure subscription {} is {state}: its resources cannot be read",
            account.subscription_id
        ),
    )
    .with_remedy(
        "SubscriptionDisabled",
        "Re-enable the subscription (Cost Management + Billing, or your account team) or register an enabled one.",
    )
}

/// The outcome of a (type, region) fetch that failed: its status, and the
/// message with the remedy when the error has one.
pub fn failed_outcome(kind: ResourceType, region: &str, error: &StepError) -> FetchOutcome {
    FetchOutcome {
        resource_type: kind,
        region: region.to_string(),
        status: fetch_status(error),
        count: 0,
        message: Some(match &error.remedy {
            Some(r) => format!("{} ({}: {})", error.message, r.code, r.hint),
            None => error.message.clone(),
        }),
    }
}

/// How a failed (type, region) fetch is reported in an inventory.
pub fn fetch_status(error: &StepError) -> FetchStatus {
    match error.remedy.as_ref().map(|r| r.code.as_str()) {
        Some("SERVICE_DISABLED") => return FetchStatus::ApiDisabled,
        Some("SubscriptionDisabled") => return FetchStatus::RegionDisabled,
        _ => {}
    }
    match error.kind {
        ErrorKind::AccessDenied => FetchStatus::AccessDenied,
        ErrorKind::Throttled => FetchStatus::Throttled,
        _ => FetchStatus::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::RegionSelection;

    fn gcp() -> GcpAccount {
        GcpAccount {
            project_id: "acme-prod".into(),
            project_number: "123456789012".into(),
            workload_identity_pool_id: "alethia-pool".into(),
            workload_identity_provider_id: "aws-platform".into(),
            service_account: Some("discovery@acme-prod.iam.gserviceaccount.com".into()),
            regions: RegionSelection::AllEnabled,
        }
    }

    fn azure() -> AzureAccount {
        AzureAccount {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "00000000-1111-2222-3333-444444444444".into(),
            subscription_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
            client_secret_ref: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x".into(),
        }
    }

    fn code(e: &StepError) -> &str {
        e.remedy.as_ref().map(|r| r.code.as_str()).unwrap_or("")
    }

    #[test]
    fn google_sts_errors() {
        let e = gcp_sts(
            400,
            r#"{"error":"invalid_target","error_description":"The target service indicated by the \"audience\" parameters is invalid."}"#,
            &gcp(),
        );
        assert_eq!(
            (e.kind, code(&e)),
            (ErrorKind::InvalidInput, "invalid_target")
        );
        assert!(e.remedy.unwrap().hint.contains("alethia-pool"));
        let e = gcp_sts(
            400,
            r#"{"error":"invalid_grant","error_description":"bad"}"#,
            &gcp(),
        );
        assert_eq!(
            (e.kind, code(&e)),
            (ErrorKind::AccessDenied, "invalid_grant")
        );
        let e = gcp_sts(429, r#"{"error":"rate_limited"}"#, &gcp());
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(gcp_sts(503, "<html>", &gcp()).kind, ErrorKind::Unavailable);
    }

    #[test]
    fn google_api_errors() {
        let denied = r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","domain":"iam.googleapis.com","metadata":{"permission":"iam.serviceAccounts.getAccessToken"}}]}}"#;
        let e = gcp_impersonation(403, denied, &gcp());
        assert_eq!(code(&e), "PERMISSION_DENIED");
        assert!(
            e.remedy
                .unwrap()
                .hint
                .contains("roles/iam.workloadIdentityUser")
        );
        let disabled = r#"{"error":{"code":403,"message":"Compute Engine API has not been used in project 123456789012 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com","metadata":{"service":"compute.googleapis.com","consumer":"projects/123456789012"}}]}}"#;
        let e = gcp_api(403, disabled, "compute.projects.get", &gcp());
        assert_eq!(code(&e), "SERVICE_DISABLED");
        assert!(
            e.remedy
                .as_ref()
                .unwrap()
                .hint
                .contains("gcloud services enable compute.googleapis.com --project acme-prod")
        );
        assert_eq!(fetch_status(&e), FetchStatus::ApiDisabled);
        let forbidden = r#"{"error":{"code":403,"message":"Required 'compute.networks.list' permission","status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}]}}"#;
        let e = gcp_api(403, forbidden, "compute.networks.list", &gcp());
        assert_eq!(fetch_status(&e), FetchStatus::AccessDenied);
        assert_eq!(
            fetch_status(&gcp_api(429, "{}", "x", &gcp())),
            FetchStatus::Throttled
        );
    }

    #[test]
    fn azure_errors() {
        for (status, n) in [
            (401, "7000215"),
            (401, "7000222"),
            (400, "700016"),
            (400, "90002"),
        ] {
            let body = format!(
                r#"{{"error":"invalid_client","error_description":"AADSTS{n}: text.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[{n}]}}"#
            );
            let e = azure_token(status, &body, &azure());
            assert_eq!(e.kind, ErrorKind::AccessDenied);
            assert_eq!(code(&e), format!("AADSTS{n}"));
            assert!(!e.message.contains("Trace ID"), "{}", e.message);
        }
        let e = azure_arm(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
            "reading the subscription",
            &azure(),
        );
        assert_eq!(code(&e), "AuthorizationFailed");
        assert!(
            e.remedy.unwrap().hint.contains(
                "--role Reader --scope /subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
            )
        );
        let e = azure_arm(
            404,
            r#"{"error":{"code":"SubscriptionNotFound","message":"no"}}"#,
            "x",
            &azure(),
        );
        assert_eq!(
            (e.kind, code(&e)),
            (ErrorKind::NotFound, "SubscriptionNotFound")
        );
        let e = azure_arm(
            409,
            r#"{"error":{"code":"DisabledSubscription","message":"ro"}}"#,
            "x",
            &azure(),
        );
        assert_eq!(code(&e), "SubscriptionDisabled");
        assert_eq!(
            azure_arm(429, "{}", "x", &azure()).kind,
            ErrorKind::Throttled
        );
    }
}
