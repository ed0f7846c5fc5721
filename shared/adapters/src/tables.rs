//! The DynamoDB tables, from their one definition in `infra/tables.json`
//! (also read by the Terraform in `infra/`), and their physical names.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use jobs_domain::StepError;
use serde::Deserialize;

use crate::aws::classify;

/// The definitions file, compiled in.
pub const DEFINITIONS: &str = include_str!("../../../infra/tables.json");

#[derive(Debug, Clone, Deserialize)]
pub struct TableSpec {
    pub hash_key: String,
    #[serde(default)]
    pub range_key: Option<String>,
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// The attribute DynamoDB's TTL expires items by (epoch seconds).
    #[serde(default)]
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: String,
    #[serde(default)]
    pub range_key: Option<String>,
    /// The non-key attributes the index copies (INCLUDE); `None`: all.
    #[serde(default)]
    pub projection: Option<Vec<String>>,
}

impl IndexSpec {
    fn projection(&self) -> Projection {
        match &self.projection {
            Some(attrs) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attrs.clone()))
                .build(),
            None => Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        }
    }
}

/// Every table, by logical name.
pub fn specs() -> Result<BTreeMap<String, TableSpec>, StepError> {
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(DEFINITIONS)
        .map_err(|e| StepError::internal(format!("infra/tables.json is not valid JSON: {e}")))?;
    raw.into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            serde_json::from_value::<TableSpec>(v)
                .map(|s| (k.clone(), s))
                .map_err(|e| StepError::internal(format!("infra/tables.json, table {k}: {e}")))
        })
        .collect()
}

/// Physical table names: a prefix (per deployment) and the logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub prefix: String,
}

impl TableNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        TableNames {
            prefix: prefix.into(),
        }
    }
    pub fn name(&self, logical: &str) -> String {
        format!("{}{logical}", self.prefix)
    }
    pub fn jobs(&self) -> String {
        self.name("jobs")
    }
    pub fn idempotency(&self) -> String {
        self.name("job_idempotency")
    }
    pub fn identities(&self) -> String {
        self.name("cloud_identities")
    }
    pub fn inventory(&self) -> String {
        self.name("cloud_identity_inventory")
    }
    pub fn runners(&self) -> String {
        self.name("runners")
    }
    pub fn workers(&self) -> String {
        self.name("workers")
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StepError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StepError::internal(e.to_string()))
}

fn keys(hash: &str, range: &Option<String>) -> Result<Vec<KeySchemaElement>, StepError> {
    let mut out = vec![key(hash, KeyType::Hash)?];
    if let Some(r) = range {
        out.push(key(r, KeyType::Range)?);
    }
    Ok(out)
}

/// Creates every table that does not exist yet (the local stack and tests;
/// AWS deployments create them with Terraform from the same file).
pub async fn create_all(
    client: &aws_sdk_dynamodb::Client,
    names: &TableNames,
) -> Result<(), StepError> {
    let existing = client
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<String>, _>>()
        .await
        .map_err(|e| classify("listing tables", e))?;
    for (logical, spec) in specs()? {
        let name = names.name(&logical);
        if existing.contains(&name) {
            continue;
        }
        let mut req = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(keys(&spec.hash_key, &spec.range_key)?));
        for (attr, kind) in &spec.attributes {
            let t = match kind.as_str() {
                "S" => ScalarAttributeType::S,
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                other => {
                    return Err(StepError::internal(format!(
                        "table {logical}: attribute type {other}"
                    )));
                }
            };
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(t)
                    .build()
                    .map_err(|e| StepError::internal(e.to_string()))?,
            );
        }
        for index in &spec.global_secondary_indexes {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(keys(&index.hash_key, &index.range_key)?))
                    .projection(index.projection())
                    .build()
                    .map_err(|e| StepError::internal(e.to_string()))?,
            );
        }
        req.send()
            .await
            .map_err(|e| classify(&format!("creating table {name}"), e))?;
        if let Some(attr) = &spec.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()
                        .map_err(|e| StepError::internal(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| classify(&format!("enabling TTL on {name}"), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse_and_index_attributes_are_declared() {
        let specs = specs().unwrap();
        assert!(specs.contains_key("jobs"));
        for (name, spec) in &specs {
            assert!(spec.attributes.contains_key(&spec.hash_key), "{name}");
            for i in &spec.global_secondary_indexes {
                assert!(
                    spec.attributes.contains_key(&i.hash_key),
                    "{name}.{}",
                    i.name
                );
                if let Some(r) = &i.range_key {
                    assert!(spec.attributes.contains_key(r), "{name}.{}", i.name);
                }
            }
        }
    }
}
