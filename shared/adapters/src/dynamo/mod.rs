//! DynamoDB stores: jobs, cloud identities (with their inventory),
//! worker deployments and the runner registry's storage.

pub mod identities;
pub mod jobs;
pub mod runners;
pub mod workers;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use base64::Engine as _;
use jobs_domain::StepError;
use serde::Serialize;

use crate::aws::{classify, error_code};
use serde::de::DeserializeOwned;

pub type Item = HashMap<String, AttributeValue>;

/// Reads one item by its hash key, strongly consistent (a step reading
/// what the previous step wrote must see it).
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &[(&str, &str)],
    what: &str,
) -> Result<Option<Item>, StepError> {
    let key = key.iter().map(|(a, v)| (a.to_string(), s(*v))).collect();
    let resp = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify(&format!("reading {what}"), e))?;
    Ok(resp.item)
}

/// How a versioned write replaces what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// PutItem: attributes the item lacks are removed.
    WholeItem,
    /// UpdateItem SET: attributes the item lacks are kept (a cloud
    /// identity's cached inventory lives beside its own attributes).
    Attributes,
}

/// The one versioned conditional write of every store: writes `item` (keyed
/// by its `key_attrs`) with `version` = `expected + 1` if the stored item is at
/// version `expected`, or with version 1 if `expected` is `None` and no item
/// has that key. Any other state is `ErrorKind::Conflict` naming `what`.
pub async fn put_versioned(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attrs: &[&str],
    mut item: Item,
    expected: Option<u64>,
    replace: Replace,
    what: &str,
) -> Result<(), StepError> {
    item.insert("version".into(), n(expected.map_or(1, |v| v + 1)));
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let condition = match expected {
        None => {
            // Every item has its partition key: absent means no item.
            names.insert("#key".to_string(), key_attrs[0].to_string());
            "attribute_not_exists(#key)".to_string()
        }
        Some(v) => {
            names.insert("#version".into(), "version".into());
            values.insert(":expected".to_string(), n(v));
            "#version = :expected".to_string()
        }
    };
    let conflict = |e| versioned_write_error(what, expected, e);
    match replace {
        Replace::WholeItem => client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await
            .map(|_| ())
            .map_err(conflict),
        Replace::Attributes => {
            let mut key = HashMap::new();
            for attr in key_attrs {
                let value = item.remove(*attr).ok_or_else(|| {
                    StepError::internal(format!("{what}: the item has no {attr}"))
                })?;
                key.insert(attr.to_string(), value);
            }
            let mut sets = Vec::with_capacity(item.len());
            for (i, (attr, value)) in item.into_iter().enumerate() {
                sets.push(format!("#a{i} = :a{i}"));
                names.insert(format!("#a{i}"), attr);
                values.insert(format!(":a{i}"), value);
            }
            client
                .update_item()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| versioned_write_error(what, expected, e))
        }
    }
}

/// A failed versioned write: a failed condition is a conflict saying which.
fn versioned_write_error<E>(
    what: &str,
    expected: Option<u64>,
    e: SdkError<E, HttpResponse>,
) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error_code(&e) == Some("ConditionalCheckFailedException") {
        return StepError::conflict(match expected {
            None => format!("{what} already exists"),
            Some(v) => format!("{what} changed since version {v} (or was removed)"),
        });
    }
    classify(&format!("writing {what}"), e)
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
