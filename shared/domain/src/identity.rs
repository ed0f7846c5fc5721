//! Cloud identities: a customer's AWS role that the platform assumes, with
//! the ExternalId the platform issued for it, and the regions to look at.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::region::Region;
use crate::secret::SecretString;
use crate::validate::{FieldError, Fields, identifier};

/// Which regions discovery covers: AWS regions ([`Region`]) or Google
/// Cloud regions ([`GcpRegion`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RegionSelection<R = Region> {
    /// Every region enabled for the account (AWS: ec2:DescribeRegions;
    /// Google Cloud: the project's regions list).
    AllEnabled,
    Listed {
        regions: Vec<R>,
    },
}

impl<R: AsRef<str>> RegionSelection<R> {
    /// The API's form: `"all"` or the list of names.
    pub fn to_json(&self) -> Value {
        match self {
            RegionSelection::AllEnabled => Value::String("all".into()),
            RegionSelection::Listed { regions } => Value::Array(
                regions
                    .iter()
                    .map(|r| Value::String(r.as_ref().to_string()))
                    .collect(),
            ),
        }
    }
}

/// Parses `regions`: `"all"` or a non-empty array of names, each checked by
/// `parse` (duplicates dropped).
fn parse_regions<R: PartialEq>(
    f: &Fields,
    parse: impl Fn(&str, &str) -> Result<R, FieldError>,
) -> Result<RegionSelection<R>, FieldError> {
    match f.required("regions")? {
        Value::String(s) if s == "all" => Ok(RegionSelection::AllEnabled),
        Value::Array(_) => {
            let list = f.string_list("regions")?.unwrap_or_default();
            if list.is_empty() {
                return Err(FieldError::new(
                    f.field("regions"),
                    "must list at least one region, or be \"all\"",
                ));
            }
            let mut regions = Vec::with_capacity(list.len());
            for (i, r) in list.iter().enumerate() {
                let region = parse(&format!("{}[{i}]", f.field("regions")), r)?;
                if !regions.contains(&region) {
                    regions.push(region);
                }
            }
            Ok(RegionSelection::Listed { regions })
        }
        _ => Err(FieldError::new(
            f.field("regions"),
            "must be an array of region names or \"all\"",
        )),
    }
}

/// A Google Cloud region name (`us-central1`, `europe-west4`): it reaches
/// URL paths, so only lowercase letters, digits and one `-` between words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GcpRegion(String);

impl GcpRegion {
    pub fn parse(field: &str, value: &str) -> Result<GcpRegion, FieldError> {
        let parts: Vec<&str> = value.split('-').collect();
        let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
        let last = |p: &str| {
            let letters = p.trim_end_matches(|c: char| c.is_ascii_digit());
            word(letters) && letters.len() < p.len()
        };
        let ok = value.len() <= 30
            && parts.len() >= 2
            && parts[..parts.len() - 1].iter().all(|p| word(p))
            && parts.last().is_some_and(|p| last(p));
        if ok {
            Ok(GcpRegion(value.to_string()))
        } else {
            Err(FieldError::new(
                field,
                format!(
                    "{value:?} is not a Google Cloud region name (e.g. us-central1, europe-west4)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for GcpRegion {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GcpRegion {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        GcpRegion::parse("region", &s)
    }
}

impl From<GcpRegion> for String {
    fn from(r: GcpRegion) -> String {
        r.0
    }
}

/// A validated IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleArn {
    pub arn: String,
    pub partition: String,
    pub account_id: String,
    pub role_name: String,
}

impl RoleArn {
    /// `arn:<partition>:iam::<12 digits>:role/<path/><name>` with IAM's
    /// character set and length limits.
    pub fn parse(field: &str, value: &str) -> Result<RoleArn, FieldError> {
        let bad =
            |why: &str| FieldError::new(field, format!("{value:?} is not an IAM role ARN: {why}"));
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad("expected arn:aws:iam::<account-id>:role/<name>"));
        };
        if *arn != "arn" || *service != "iam" || !region.is_empty() {
            return Err(bad("expected arn:aws:iam::<account-id>:role/<name>"));
        }
        if !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad("unknown partition"));
        }
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("the account id must be 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(bad("the resource must start with role/"));
        };
        // `<path/><name>`: the path (with its trailing '/') at most 511
        // characters, the name 1-64 (the OpenAPI document's pattern says
        // the same).
        let (path, name) = match path_and_name.rfind('/') {
            Some(i) => path_and_name.split_at(i + 1),
            None => ("", path_and_name),
        };
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(valid_char) {
            return Err(bad(
                "the role name must be 1-64 characters of letters, digits and +=,.@_-",
            ));
        }
        if path.len() > 511 || !path.chars().all(|c| c == '/' || valid_char(c)) {
            return Err(bad(
                "the role path must be at most 511 characters of letters, digits, / and +=,.@_-",
            ));
        }
        Ok(RoleArn {
            arn: value.to_string(),
            partition: partition.to_string(),
            account_id: account.to_string(),
            role_name: name.to_string(),
        })
    }
}

/// A registered customer cloud identity: which account it reaches and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudIdentity {
    pub id: String,
    /// The organization the identity belongs to (see [`crate::owner`]):
    /// ids are unique within an owner.
    pub owner: String,
    #[serde(flatten)]
    pub account: CloudAccount,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The supported providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
        }
    }
}

/// The customer account an identity reaches, by provider. Stored flat in
/// the identity record under a `provider` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum CloudAccount {
    Aws(AwsAccount),
    Gcp(GcpAccount),
    Azure(AzureAccount),
}

impl CloudAccount {
    pub fn provider(&self) -> Provider {
        match self {
            CloudAccount::Aws(_) => Provider::Aws,
            CloudAccount::Gcp(_) => Provider::Gcp,
            CloudAccount::Azure(_) => Provider::Azure,
        }
    }
}

impl CloudIdentity {
    pub fn provider(&self) -> Provider {
        self.account.provider()
    }
}

/// An AWS role the platform assumes with the ExternalId it issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsAccount {
    pub role_arn: String,
    /// Issued by the platform, never taken from a request; the customer puts
    /// it in the role's trust policy (`sts:ExternalId` condition).
    pub external_id: String,
    pub regions: RegionSelection,
}

/// A Google Cloud project reached through workload identity federation:
/// the platform's own AWS identity is exchanged for a Google token at the
/// pool's AWS provider, then (optionally) for a service account's token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcpAccount {
    pub project_id: String,
    pub project_number: String,
    pub workload_identity_pool_id: String,
    pub workload_identity_provider_id: String,
    /// The service account to impersonate; without it the federated token
    /// is used directly (the pool's principals hold the roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    pub regions: RegionSelection<GcpRegion>,
}

impl GcpAccount {
    /// The workload identity provider's resource name: the STS audience and
    /// the `x-goog-cloud-target-resource` the subject token signs.
    pub fn audience(&self) -> String {
        format!(
            "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
            self.project_number, self.workload_identity_pool_id, self.workload_identity_provider_id
        )
    }
}

/// An Azure subscription reached as an app registration (service
/// principal) with a client secret. The secret itself lives in a secret
/// the platform owns; the identity holds only its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AzureAccount {
    pub tenant_id: String,
    pub client_id: String,
    pub subscription_id: String,
    /// The platform's Secrets Manager secret holding the client secret.
    pub client_secret_ref: String,
}

/// The body of `PUT /api/cloud-identities/{id}`, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityRequest {
    Aws {
        role_arn: RoleArn,
        regions: RegionSelection,
    },
    Gcp(GcpAccount),
    Azure {
        tenant_id: String,
        client_id: String,
        subscription_id: String,
        /// Write-only: required when the identity is created, optional on
        /// a later PUT (the stored secret is kept).
        client_secret: Option<SecretString>,
    },
}

pub const MAX_IDENTITY_ID: usize = 64;

pub fn validate_identity_id(id: &str) -> Result<(), FieldError> {
    identifier("id", id, MAX_IDENTITY_ID)
}

impl IdentityRequest {
    pub fn provider(&self) -> Provider {
        match self {
            IdentityRequest::Aws { .. } => Provider::Aws,
            IdentityRequest::Gcp(_) => Provider::Gcp,
            IdentityRequest::Azure { .. } => Provider::Azure,
        }
    }

    /// `{"provider": "aws" (the default) | "gcp" | "azure", ...}`: the
    /// fields of each provider, every one checked before anything is
    /// written (see the OpenAPI document for the shapes).
    pub fn parse(body: &Value) -> Result<IdentityRequest, FieldError> {
        let provider = match body.get("provider") {
            None | Some(Value::Null) => "aws",
            Some(Value::String(p)) => p.as_str(),
            Some(_) => return Err(FieldError::new("provider", "must be a string")),
        };
        match provider {
            "aws" => {
                let f = Fields::new("", body, &["provider", "role_arn", "regions"])?;
                let role_arn = RoleArn::parse("role_arn", f.required_string("role_arn")?)?;
                let regions = parse_regions(&f, Region::parse)?;
                Ok(IdentityRequest::Aws { role_arn, regions })
            }
            "gcp" => {
                let f = Fields::new(
                    "",
                    body,
                    &[
                        "provider",
                        "project_id",
                        "project_number",
                        "workload_identity_pool_id",
                        "workload_identity_provider_id",
                        "service_account",
                        "regions",
                    ],
                )?;
                let project_id = gcp_project_id("project_id", f.required_string("project_id")?)?;
                let project_number =
                    gcp_project_number("project_number", f.required_string("project_number")?)?;
                let pool = gcp_federation_id(
                    "workload_identity_pool_id",
                    f.required_string("workload_identity_pool_id")?,
                )?;
                let provider_id = gcp_federation_id(
                    "workload_identity_provider_id",
                    f.required_string("workload_identity_provider_id")?,
                )?;
                let service_account = f
                    .string("service_account")?
                    .map(|s| gcp_service_account("service_account", s))
                    .transpose()?;
                let regions = parse_regions(&f, GcpRegion::parse)?;
                Ok(IdentityRequest::Gcp(GcpAccount {
                    project_id,
                    project_number,
                    workload_identity_pool_id: pool,
                    workload_identity_provider_id: provider_id,
                    service_account,
                    regions,
                }))
            }
            "azure" => {
                let f = Fields::new(
                    "",
                    body,
                    &[
                        "provider",
                        "tenant_id",
                        "client_id",
                        "subscription_id",
                        "client_secret",
                    ],
                )?;
                let tenant_id = guid("tenant_id", f.required_string("tenant_id")?)?;
                let client_id = guid("client_id", f.required_string("client_id")?)?;
                let subscription_id =
                    guid("subscription_id", f.required_string("subscription_id")?)?;
                let client_secret = f
                    .string("client_secret")?
                    .map(|s| azure_client_secret("client_secret", s))
                    .transpose()?;
                Ok(IdentityRequest::Azure {
                    tenant_id,
                    client_id,
                    subscription_id,
                    client_secret,
                })
            }
            other => Err(FieldError::new(
                "provider",
                format!("unsupported provider {other:?} (one of \"aws\", \"gcp\", \"azure\")"),
            )),
        }
    }
}

/// A Google resource id: `len` lowercase letters, digits and hyphens,
/// starting with a letter and not ending with a hyphen; `what` says what
/// was expected.
fn gcp_name(
    field: &str,
    v: &str,
    len: std::ops::RangeInclusive<usize>,
    what: &str,
) -> Result<String, FieldError> {
    let ok = len.contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && !v.ends_with('-')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(v.to_string())
    } else {
        Err(FieldError::new(field, format!("{v:?} is not {what}")))
    }
}

/// A Google Cloud project id: 6–30 characters.
fn gcp_project_id(field: &str, v: &str) -> Result<String, FieldError> {
    gcp_name(
        field,
        v,
        6..=30,
        "a Google Cloud project id (6-30 lowercase letters, digits and hyphens, starting with a letter)",
    )
}

/// A project number: digits only (it appears in the audience).
fn gcp_project_number(field: &str, v: &str) -> Result<String, FieldError> {
    if (1..=20).contains(&v.len()) && v.chars().all(|c| c.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a project number (the digits shown on the project's dashboard)"),
        ))
    }
}

/// A workload identity pool or provider id: 4–32 characters, and the
/// `gcp-` prefix is reserved by Google.
fn gcp_federation_id(field: &str, v: &str) -> Result<String, FieldError> {
    let what = "a workload identity pool or provider id (4-32 lowercase letters, digits and hyphens, not starting with gcp-)";
    if v.starts_with("gcp-") {
        return Err(FieldError::new(field, format!("{v:?} is not {what}")));
    }
    gcp_name(field, v, 4..=32, what)
}

/// A service account email: `NAME@PROJECT.iam.gserviceaccount.com` or a
/// Google-managed one (`…@developer.gserviceaccount.com`, …).
fn gcp_service_account(field: &str, v: &str) -> Result<String, FieldError> {
    let ok = v.len() <= 100
        && v.split_once('@').is_some_and(|(name, domain)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && domain.ends_with("gserviceaccount.com")
                && domain
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        });
    if ok {
        Ok(v.to_string())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a service account email (NAME@PROJECT.iam.gserviceaccount.com)"),
        ))
    }
}

/// Is `v` a GUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex)?
pub fn is_guid(v: &str) -> bool {
    let groups: Vec<&str> = v.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn guid(field: &str, v: &str) -> Result<String, FieldError> {
    if is_guid(v) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
        ))
    }
}

/// A client secret's value. Azure generates values of about 40 printable
/// characters; a GUID is the secret's *ID*, which the portal shows beside
/// the value and which Entra ID refuses (AADSTS7000215), so it is turned
/// away here already.
fn azure_client_secret(field: &str, v: &str) -> Result<SecretString, FieldError> {
    if is_guid(v) {
        return Err(FieldError::new(
            field,
            "this is a secret's ID (a GUID), not its value: copy the Value column of Certificates & secrets, shown once when the secret is created",
        ));
    }
    if v.is_empty() || v.len() > 1024 || !v.chars().all(|c| c.is_ascii_graphic()) {
        return Err(FieldError::new(
            field,
            "must be the client secret's value: 1-1024 printable characters without spaces",
        ));
    }
    Ok(SecretString::new(v))
}

/// A new ExternalId: 32 random alphanumeric characters (the STS limit is
/// 2–1224 characters of `[\w+=,.@:/-]`).
pub fn new_external_id() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| {
            let i = rng.random_range(0..62u8);
            char::from(match i {
                0..=9 => b'0' + i,
                10..=35 => b'a' + i - 10,
                _ => b'A' + i - 36,
            })
        })
        .collect()
}

/// The STS session name for a job: names the job in the customer's
/// CloudTrail (max 64 characters of `[\w+=,.@-]`).
pub fn session_name(job_id: &str) -> String {
    let cleaned: String = format!("alethia-{job_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_arns() {
        let r = RoleArn::parse(
            "role_arn",
            "arn:aws:iam::111122223333:role/path/AlethiaDiscovery",
        )
        .unwrap();
        assert_eq!(r.account_id, "111122223333");
        assert_eq!(r.role_name, "AlethiaDiscovery");
        // The limits: a 64-character name, a 511-character path.
        let longest = format!(
            "arn:aws:iam::111122223333:role/{}/{}",
            "p".repeat(510),
            "n".repeat(64)
        );
        assert!(RoleArn::parse("role_arn", &longest).is_ok());
        for too_long in [
            format!("arn:aws:iam::111122223333:role/{}", "n".repeat(65)),
            format!("arn:aws:iam::111122223333:role/{}/n", "p".repeat(511)),
        ] {
            assert!(RoleArn::parse("role_arn", &too_long).is_err(), "{too_long}");
        }
        for bad in [
            "arn:aws:iam::11112222333:role/x",
            "arn:aws:iam::111122223333:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:111122223333:role/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/bad name",
            "arn:aws:iam::111122223333:role/.4u5qUnYV0/",
            "role/x",
        ] {
            assert_eq!(
                RoleArn::parse("role_arn", bad).unwrap_err().field,
                "role_arn",
                "{bad}"
            );
        }
    }

    #[test]
    fn identity_requests() {
        let r = IdentityRequest::parse(
            &json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": "all"}),
        )
        .unwrap();
        assert!(matches!(
            r,
            IdentityRequest::Aws {
                regions: RegionSelection::AllEnabled,
                ..
            }
        ));
        let r = IdentityRequest::parse(&json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": ["eu-west-1", "eu-west-1"]})).unwrap();
        assert!(
            matches!(r, IdentityRequest::Aws { regions: RegionSelection::Listed { ref regions }, .. } if regions.len() == 1)
        );
        let e = IdentityRequest::parse(
            &json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": ["us-east-1\n"]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "regions[0]");
        let e = IdentityRequest::parse(&json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": "all", "external_id": "mine"})).unwrap_err();
        assert_eq!(e.field, "external_id");
        let e = IdentityRequest::parse(&json!({"provider": "oci"})).unwrap_err();
        assert_eq!(e.field, "provider");
    }

    fn gcp_body() -> Value {
        json!({
            "provider": "gcp",
            "project_id": "acme-prod-1",
            "project_number": "123456789012",
            "workload_identity_pool_id": "alethia-pool",
            "workload_identity_provider_id": "aws-platform",
            "service_account": "discovery@acme-prod-1.iam.gserviceaccount.com",
            "regions": ["us-central1", "europe-west4"]
        })
    }

    #[test]
    fn gcp_identities() {
        let IdentityRequest::Gcp(g) = IdentityRequest::parse(&gcp_body()).unwrap() else {
            panic!("not gcp")
        };
        assert_eq!(
            g.audience(),
            "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/alethia-pool/providers/aws-platform"
        );
        let mut no_sa = gcp_body();
        no_sa.as_object_mut().unwrap().remove("service_account");
        no_sa["regions"] = json!("all");
        assert!(matches!(
            IdentityRequest::parse(&no_sa),
            Ok(IdentityRequest::Gcp(GcpAccount {
                service_account: None,
                regions: RegionSelection::AllEnabled,
                ..
            }))
        ));
        for (field, bad) in [
            ("project_id", json!("Acme")),
            ("project_id", json!("ab")),
            ("project_number", json!("12ab")),
            ("workload_identity_pool_id", json!("gcp-pool")),
            ("workload_identity_pool_id", json!("a/b/c/d")),
            ("workload_identity_provider_id", json!("x")),
            ("service_account", json!("someone@example.com")),
            ("regions", json!([])),
            ("regions[1]", json!(["us-central1", "us-east-1/../x"])),
            ("regions[0]", json!(["useast"])),
        ] {
            let mut body = gcp_body();
            let key = field.split('[').next().unwrap();
            body[key] = bad.clone();
            let e = IdentityRequest::parse(&body).unwrap_err();
            assert_eq!(e.field, field, "{bad}");
        }
        let mut missing = gcp_body();
        missing.as_object_mut().unwrap().remove("project_number");
        assert_eq!(
            IdentityRequest::parse(&missing).unwrap_err().field,
            "project_number"
        );
        let mut stray = gcp_body();
        stray["role_arn"] = json!("arn:aws:iam::111122223333:role/r");
        assert_eq!(
            IdentityRequest::parse(&stray).unwrap_err().field,
            "role_arn"
        );
    }

    fn azure_body() -> Value {
        json!({
            "provider": "azure",
            "tenant_id": "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "client_id": "00000000-1111-2222-3333-444444444444",
            "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "client_secret": "Abc8Q~xyz.secret-value_0123456789abcdefghij"
        })
    }

    #[test]
    fn azure_identities() {
        let IdentityRequest::Azure {
            tenant_id,
            client_secret,
            ..
        } = IdentityRequest::parse(&azure_body()).unwrap()
        else {
            panic!("not azure")
        };
        assert_eq!(tenant_id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        let secret = client_secret.unwrap();
        assert_eq!(format!("{secret:?}"), "SecretString(<redacted>)");
        for (field, bad) in [
            ("tenant_id", json!("contoso.onmicrosoft.com")),
            ("client_id", json!("00000000-1111-2222-3333-44444444444")),
            ("subscription_id", json!(12)),
            (
                "client_secret",
                json!("0a1b2c3d-1111-2222-3333-444444444444"),
            ),
            ("client_secret", json!("has space")),
            ("client_secret", json!("")),
        ] {
            let mut body = azure_body();
            body[field] = bad.clone();
            let e = IdentityRequest::parse(&body).unwrap_err();
            assert_eq!(e.field, field, "{bad}");
        }
        let mut no_secret = azure_body();
        no_secret.as_object_mut().unwrap().remove("client_secret");
        assert!(matches!(
            IdentityRequest::parse(&no_secret),
            Ok(IdentityRequest::Azure {
                client_secret: None,
                ..
            })
        ));
    }

    #[test]
    fn stored_identities_keep_their_flat_shape() {
        let aws = json!({
            "id": "acme", "provider": "aws", "role_arn": "arn:aws:iam::111122223333:role/r",
            "external_id": "x", "regions": {"mode": "all_enabled"}, "owner": "org-1",
            "created_at": "2026-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z", "version": 1
        });
        let identity: CloudIdentity = serde_json::from_value(aws.clone()).unwrap();
        assert_eq!(identity.provider(), Provider::Aws);
        assert_eq!(serde_json::to_value(&identity).unwrap(), aws);
        let IdentityRequest::Gcp(g) = IdentityRequest::parse(&gcp_body()).unwrap() else {
            panic!()
        };
        let gcp = CloudIdentity {
            account: CloudAccount::Gcp(g),
            ..identity
        };
        let text = serde_json::to_value(&gcp).unwrap();
        assert_eq!(text["provider"], "gcp");
        assert_eq!(text["regions"]["regions"][1], "europe-west4");
        assert_eq!(serde_json::from_value::<CloudIdentity>(text).unwrap(), gcp);
    }

    #[test]
    fn external_ids_are_random_and_sts_safe() {
        let a = new_external_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, new_external_id());
    }

    #[test]
    fn session_names_fit_sts_rules() {
        let s = session_name("job-0123456789abcdef0123456789abcdef");
        assert!(s.len() <= 64 && s.starts_with("alethia-job-"));
    }
}
