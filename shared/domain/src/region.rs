//! AWS region names. A region reaches URLs and SDK configuration, so it is
//! checked against the known partitions' region list before any call: a
//! value such as `us-east-1\n` or `x@evil.com:443` is rejected.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validate::FieldError;

/// Regions of the commercial, China and GovCloud partitions.
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// A validated AWS region name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Parses a region; the error names `field`.
    pub fn parse(field: &str, value: &str) -> Result<Region, FieldError> {
        let shaped = value.len() <= 20
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !shaped {
            return Err(FieldError::new(
                field,
                format!(
                    "{:?} is not an AWS region name (lowercase letters, digits and '-', e.g. us-east-1)",
                    value
                ),
            ));
        }
        if !KNOWN_REGIONS.contains(&value) {
            return Err(FieldError::new(
                field,
                format!("unknown AWS region {value:?}"),
            ));
        }
        Ok(Region(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Region {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Region::parse("region", &s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_regions_only() {
        assert!(Region::parse("r", "us-east-1").is_ok());
        assert!(Region::parse("r", "eu-central-2").is_ok());
        for bad in [
            "us-east-1\n",
            "x@evil.com:443",
            "US-EAST-1",
            "",
            "us-east-99",
            "moon-1",
            "us-east-1/../",
        ] {
            let err = Region::parse("params.region", bad).unwrap_err();
            assert_eq!(err.field, "params.region", "{bad:?}");
        }
    }
}
