//! Timestamps stored as fixed-width RFC 3339 strings (microseconds, `Z`),
//! so that they sort as text in DynamoDB sort keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

pub fn format(t: &DateTime<Utc>) -> String {
    t.format(FORMAT).to_string()
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

/// The same for `Option<DateTime<Utc>>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fixed_width_sorts_as_text() {
        let a = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap();
        let b = Utc
            .timestamp_opt(1_700_000_000, 500_000_000)
            .single()
            .unwrap();
        let (fa, fb) = (format(&a), format(&b));
        assert_eq!(fa.len(), fb.len());
        assert!(fa < fb);
        assert_eq!(fa, "2023-11-14T22:13:20.000000Z");
    }
}
