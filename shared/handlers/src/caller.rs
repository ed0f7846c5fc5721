//! Who calls the job API: the owner (organization) every record a request
//! reads or writes is scoped to. The platform names it, and the gateway
//! vouches for the platform: under JWT authorization the owner is a claim
//! of the verified token; under IAM authorization (SigV4-signed calls that
//! only the platform can make) it is a header of the call. A caller sees
//! its own owner's records only; another owner's are answered 404.

use std::fmt;

use jobs_domain::owner::validate_owner;

use crate::http::{ApiError, Request};

/// The header that names the owner when no JWT carries it.
pub const DEFAULT_OWNER_HEADER: &str = "X-Organization-Id";
/// The JWT claim that names the owner by default.
pub const DEFAULT_OWNER_CLAIM: &str = "org_id";

/// Where the owner of a request comes from (`OWNER_SOURCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerSource {
    /// A claim of the JWT the gateway's authorizer verified.
    JwtClaim(String),
    /// A header of the call.
    Header(String),
}

impl Default for OwnerSource {
    fn default() -> Self {
        OwnerSource::Header(DEFAULT_OWNER_HEADER.into())
    }
}

impl fmt::Display for OwnerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerSource::JwtClaim(c) => write!(f, "jwt:{c}"),
            OwnerSource::Header(h) => write!(f, "header:{h}"),
        }
    }
}

impl std::str::FromStr for OwnerSource {
    type Err = String;

    /// `jwt:<claim>` or `header:<name>`.
    fn from_str(text: &str) -> Result<Self, String> {
        let valid = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c))
        };
        match text.split_once(':') {
            Some(("jwt", claim)) if valid(claim) => Ok(OwnerSource::JwtClaim(claim.into())),
            Some(("header", name)) if valid(name) && !name.contains(':') => {
                Ok(OwnerSource::Header(name.into()))
            }
            _ => Err(format!(
                "{text:?} is not jwt:<claim> or header:<name> (e.g. header:{DEFAULT_OWNER_HEADER})"
            )),
        }
    }
}

impl OwnerSource {
    /// The request's owner: 400 naming the header when it is missing or
    /// malformed, 403 when the verified token lacks the claim.
    pub fn owner(&self, req: &Request) -> Result<String, ApiError> {
        match self {
            OwnerSource::Header(name) => {
                let value = req.header(name).ok_or_else(|| ApiError {
                    field: Some(name.clone()),
                    ..ApiError::new(
                        400,
                        "INVALID_FIELD",
                        "is required: the organization the request acts for",
                    )
                })?;
                validate_owner(name, value)?;
                Ok(value.to_string())
            }
            OwnerSource::JwtClaim(claim) => {
                let value = req.claims.get(claim).ok_or_else(|| {
                    ApiError::new(
                        403,
                        "FORBIDDEN",
                        format!("the token has no {claim} claim naming the organization"),
                    )
                })?;
                validate_owner(claim, value).map_err(|e| {
                    ApiError::new(
                        403,
                        "FORBIDDEN",
                        format!("the token's {claim} claim {}", e.message),
                    )
                })?;
                Ok(value.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Method};

    fn request(header: Option<&str>, claim: Option<&str>) -> Request {
        let mut req = Request {
            method: Method::GET,
            path: "/api/jobs".into(),
            query: vec![],
            headers: Default::default(),
            body: vec![],
            claims: Default::default(),
        };
        if let Some(h) = header {
            req.headers
                .insert("x-organization-id", HeaderValue::from_str(h).unwrap());
        }
        if let Some(c) = claim {
            req.claims.insert("org_id".into(), c.into());
        }
        req
    }

    #[test]
    fn the_owner_comes_from_the_configured_place_only() {
        let header = OwnerSource::default();
        let jwt: OwnerSource = "jwt:org_id".parse().unwrap();
        assert_eq!(
            header.owner(&request(Some("org-1"), None)).unwrap(),
            "org-1"
        );
        assert_eq!(jwt.owner(&request(None, Some("org-2"))).unwrap(), "org-2");
        // Under JWT authorization a header naming another owner is ignored.
        assert_eq!(
            jwt.owner(&request(Some("org-1"), Some("org-2"))).unwrap(),
            "org-2"
        );
        let missing = header.owner(&request(None, Some("org-2"))).unwrap_err();
        assert_eq!(
            (missing.status, missing.field.as_deref()),
            (400, Some("X-Organization-Id"))
        );
        let bad = header.owner(&request(Some("a/b"), None)).unwrap_err();
        assert_eq!(bad.status, 400);
        let no_claim = jwt.owner(&request(Some("org-1"), None)).unwrap_err();
        assert_eq!(no_claim.status, 403);
        assert!(no_claim.message.contains("org_id"), "{}", no_claim.message);
    }

    #[test]
    fn sources_parse_and_print() {
        for text in ["jwt:org_id", "header:X-Organization-Id"] {
            assert_eq!(text.parse::<OwnerSource>().unwrap().to_string(), text);
        }
        for bad in ["", "jwt:", "cookie:x", "header:a b", "org_id"] {
            assert!(bad.parse::<OwnerSource>().is_err(), "{bad}");
        }
    }
}
