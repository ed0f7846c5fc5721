//! DynamoDB stores: jobs, cloud identities (with their inventory),
//! worker deployments and the runner registry's storage.

pub mod identities;
pub mod jobs;
pub mod runners;
pub mod workers;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use jobs_domain::StepError;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub type Item = HashMap<String, AttributeValue>;

/// Reads one item by its hash key, strongly consistent (a step reading
/// what the previous step wrote must see it).
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attr: &str,
    key: &str,
    what: &str,
) -> Result<Option<Item>, StepError> {
    let resp = client
        .get_item()
        .table_name(table)
        .key(key_attr, s(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| crate::aws::classify(&format!("reading {what}"), e))?;
    Ok(resp.item)
}

pub fn to_item<T: Serialize>(what: &str, value: &T) -> Result<Item, StepError> {
    serde_dynamo::to_item(value).map_err(|e| StepError::internal(format!("encoding {what}: {e}")))
}

pub fn from_item<T: DeserializeOwned>(what: &str, item: Item) -> Result<T, StepError> {
    serde_dynamo::from_item(item).map_err(|e| StepError::internal(format!("decoding {what}: {e}")))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Encodes a LastEvaluatedKey (all of whose attributes are strings in our
/// tables) as an opaque cursor.
pub fn encode_cursor(key: &Item) -> Option<String> {
    let mut map = serde_json::Map::new();
    for (k, v) in key {
        map.insert(k.clone(), serde_json::Value::String(v.as_s().ok()?.clone()));
    }
    Some(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::Value::Object(map).to_string()),
    )
}

/// Decodes a cursor, accepting only the given key attributes.
pub fn decode_cursor(cursor: &str, allowed: &[&str]) -> Result<Item, StepError> {
    let bad = || {
        StepError::invalid(format!(
            "next_token {cursor:?} is not a cursor this API issued"
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let map = value.as_object().ok_or_else(bad)?;
    if map.is_empty() {
        return Err(bad());
    }
    let mut item = Item::new();
    for (k, v) in map {
        if !allowed.contains(&k.as_str()) {
            return Err(bad());
        }
        let text = v.as_str().filter(|t| t.len() <= 256).ok_or_else(bad)?;
        item.insert(k.clone(), s(text));
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let mut key = Item::new();
        key.insert("id".into(), s("job-1"));
        key.insert("created_at".into(), s("2024"));
        let c = encode_cursor(&key).unwrap();
        assert_eq!(decode_cursor(&c, &["id", "created_at"]).unwrap(), key);
        assert!(decode_cursor(&c, &["id"]).is_err());
        assert!(decode_cursor("not base64!", &["id"]).is_err());
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"id": 5}"#);
        assert!(decode_cursor(&forged, &["id"]).is_err());
    }
}
