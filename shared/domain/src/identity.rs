//! Cloud identities: a customer's AWS role that the platform assumes, with
//! the ExternalId the platform issued for it, and the regions to look at.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::region::Region;
use crate::validate::{FieldError, Fields, identifier};

/// Which regions discovery covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum RegionSelection {
    /// Every region enabled for the account (found with ec2:DescribeRegions).
    AllEnabled,
    Listed {
        regions: Vec<Region>,
    },
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
        let name = path_and_name.rsplit('/').next().unwrap_or("");
        let valid_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        if name.is_empty()
            || name.len() > 64
            || path_and_name.len() > 512
            || !path_and_name.chars().all(valid_char)
        {
            return Err(bad(
                "the role name must be 1-64 characters of letters, digits and +=,.@_-",
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

/// A registered customer AWS identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudIdentity {
    pub id: String,
    pub provider: String,
    pub role_arn: String,
    /// Issued by the platform, never taken from a request; the customer puts
    /// it in the role's trust policy (`sts:ExternalId` condition).
    pub external_id: String,
    pub regions: RegionSelection,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The body of `PUT /api/cloud-identities/{id}`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRequest {
    pub role_arn: RoleArn,
    pub regions: RegionSelection,
}

pub const MAX_IDENTITY_ID: usize = 64;

pub fn validate_identity_id(id: &str) -> Result<(), FieldError> {
    identifier("id", id, MAX_IDENTITY_ID)
}

impl IdentityRequest {
    /// `{"provider": "aws", "role_arn": "...", "regions": ["us-east-1"] | "all"}`.
    pub fn parse(body: &Value) -> Result<IdentityRequest, FieldError> {
        let f = Fields::new("", body, &["provider", "role_arn", "regions"])?;
        if let Some(p) = f.string("provider")?
            && p != "aws"
        {
            return Err(FieldError::new(
                "provider",
                format!("unsupported provider {p:?} (only \"aws\")"),
            ));
        }
        let role_arn = RoleArn::parse("role_arn", f.required_string("role_arn")?)?;
        let regions = match f.required("regions")? {
            Value::String(s) if s == "all" => RegionSelection::AllEnabled,
            Value::Array(_) => {
                let list = f.string_list("regions")?.unwrap_or_default();
                if list.is_empty() {
                    return Err(FieldError::new(
                        "regions",
                        "must list at least one region, or be \"all\"",
                    ));
                }
                let mut regions = Vec::with_capacity(list.len());
                for (i, r) in list.iter().enumerate() {
                    let region = Region::parse(&format!("regions[{i}]"), r)?;
                    if !regions.contains(&region) {
                        regions.push(region);
                    }
                }
                RegionSelection::Listed { regions }
            }
            _ => {
                return Err(FieldError::new(
                    "regions",
                    "must be an array of region names or \"all\"",
                ));
            }
        };
        Ok(IdentityRequest { role_arn, regions })
    }
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
        for bad in [
            "arn:aws:iam::11112222333:role/x",
            "arn:aws:iam::111122223333:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:111122223333:role/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/bad name",
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
        assert_eq!(r.regions, RegionSelection::AllEnabled);
        let r = IdentityRequest::parse(&json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": ["eu-west-1", "eu-west-1"]})).unwrap();
        assert!(matches!(r.regions, RegionSelection::Listed { ref regions } if regions.len() == 1));
        let e = IdentityRequest::parse(
            &json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": ["us-east-1\n"]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "regions[0]");
        let e = IdentityRequest::parse(&json!({"role_arn": "arn:aws:iam::111122223333:role/r", "regions": "all", "external_id": "mine"})).unwrap_err();
        assert_eq!(e.field, "external_id");
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
