//! Cloud identities (keyed by owner and id) and their cached inventory.
//!
//! The inventory lives in the identity's `credentials` attribute (what the
//! platform reads). An inventory whose JSON fits comfortably in one item is
//! stored there inline as a map. A larger one is gzip-compressed, split into
//! chunks in the `cloud_identity_inventory` table under a new generation,
//! and only then does `credentials` switch to point at that generation (with
//! the summary and a SHA-256 of the whole); the previous generation's
//! chunks are deleted afterwards. Readers therefore always get a whole
//! inventory, old or new, never a mix.

use std::io::{Read, Write};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnValue, WriteRequest,
};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use jobs_domain::identity::CloudIdentity;
use jobs_domain::inventory::{Inventory, Summary};
use jobs_domain::owner::scoped;
use jobs_domain::ports::{Fetched, IdentityStore, PortResult};
use jobs_domain::{ErrorKind, StepError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Item, Replace, from_item, get_item, put_versioned, s, to_item};
use crate::aws::{classify, error_code};
use crate::tables::TableNames;

/// Inline inventories up to this many bytes of JSON (an item may hold 400 KB
/// including the identity's own attributes).
pub const INLINE_LIMIT: usize = 300 * 1024;
/// Bytes of compressed inventory per chunk item.
pub const CHUNK_BYTES: usize = 350 * 1024;

/// The `credentials` attribute: `format` is `inline` (the inventory is in
/// `inventory`) or `chunked` (it is in the chunk table under `generation`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CredentialsDoc {
    format: String,
    fetched_at: String,
    summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inventory: Option<Inventory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunks: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

const INLINE: &str = "inline";
const CHUNKED: &str = "chunked";

pub struct DynamoIdentityStore {
    client: Client,
    table: String,
    chunk_table: String,
}

impl DynamoIdentityStore {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoIdentityStore {
            client,
            table: names.identities(),
            chunk_table: names.inventory(),
        }
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> PortResult<()> {
        for batch in requests.chunks(25) {
            let mut pending = batch.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let resp = self
                    .client
                    .batch_write_item()
                    .request_items(&self.chunk_table, pending)
                    .send()
                    .await
                    .map_err(|e| classify("writing inventory chunks", e))?;
                pending = resp
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.chunk_table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StepError::new(
                            ErrorKind::Throttled,
                            "DynamoDB kept leaving inventory chunks unprocessed",
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(6)))
                        .await;
                }
            }
        }
        Ok(())
    }

    /// `identity` is the chunk table's key: `owner/id`.
    async fn chunk_keys(&self, identity: &str, generation: &str) -> PortResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.chunk_table)
                .key_condition_expression("identity = :id AND begins_with(chunk, :g)")
                .expression_attribute_values(":id", s(identity))
                .expression_attribute_values(":g", s(format!("{generation}#")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("reading inventory chunks", e))?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    async fn delete_generation(&self, identity: &str, generation: &str) -> PortResult<()> {
        let items = self.chunk_keys(identity, generation).await?;
        let requests = items
            .into_iter()
            .filter_map(|item| {
                let chunk = item.get("chunk")?.clone();
                let req = DeleteRequest::builder()
                    .key("identity", s(identity))
                    .key("chunk", chunk)
                    .build()
                    .ok()?;
                Some(WriteRequest::builder().delete_request(req).build())
            })
            .collect();
        self.batch_write(requests).await
    }

    async fn read_doc(&self, owner: &str, id: &str) -> PortResult<Option<CredentialsDoc>> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("owner", s(owner))
            .key("id", s(id))
            .projection_expression("credentials")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&format!("reading cloud identity {id}"), e))?;
        match resp.item.and_then(|mut i| i.remove("credentials")) {
            Some(AttributeValue::M(m)) => Ok(Some(from_item("the credentials attribute", m)?)),
            Some(_) => Err(StepError::internal(format!(
                "cloud identity {id}: credentials is not a map"
            ))),
            None => Ok(None),
        }
    }
}

fn identity_item(identity: &CloudIdentity) -> Result<Item, StepError> {
    to_item("cloud identity", identity)
}

#[async_trait]
impl IdentityStore for DynamoIdentityStore {
    async fn get(&self, owner: &str, id: &str) -> PortResult<Option<CloudIdentity>> {
        match get_item(
            &self.client,
            &self.table,
            &[("owner", owner), ("id", id)],
            &format!("cloud identity {id}"),
        )
        .await?
        {
            None => Ok(None),
            Some(mut item) => {
                item.remove("credentials");
                item.remove("inventory_fetched_at");
                Ok(Some(from_item("cloud identity", item)?))
            }
        }
    }

    async fn put(&self, identity: &CloudIdentity, expected_version: Option<u64>) -> PortResult<()> {
        // SET the identity's own attributes: its cached inventory survives.
        put_versioned(
            &self.client,
            &self.table,
            &["owner", "id"],
            identity_item(identity)?,
            expected_version,
            Replace::Attributes,
            &format!("cloud identity {}", identity.id),
        )
        .await
    }

    async fn save_inventory(&self, owner: &str, id: &str, inventory: &Inventory) -> PortResult<()> {
        let identity = scoped(owner, id);
        let json = serde_json::to_vec(inventory)
            .map_err(|e| StepError::internal(format!("encoding the inventory: {e}")))?;
        let summary = inventory.summary();
        let fetched_at = jobs_domain::time::format(&inventory.fetched_at);
        let doc = if json.len() <= INLINE_LIMIT {
            CredentialsDoc {
                format: INLINE.into(),
                fetched_at,
                summary,
                inventory: Some(inventory.clone()),
                generation: None,
                chunks: None,
                bytes: None,
                sha256: None,
            }
        } else {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(&json)
                .map_err(|e| StepError::internal(format!("compressing the inventory: {e}")))?;
            let compressed = gz
                .finish()
                .map_err(|e| StepError::internal(format!("compressing the inventory: {e}")))?;
            let generation = uuid::Uuid::new_v4().simple().to_string();
            let requests: Vec<WriteRequest> = compressed
                .chunks(CHUNK_BYTES)
                .enumerate()
                .map(|(i, part)| {
                    let put = PutRequest::builder()
                        .item("identity", s(identity.clone()))
                        .item("chunk", s(format!("{generation}#{i:05}")))
                        .item("data", AttributeValue::B(Blob::new(part.to_vec())))
                        .build()
                        .map_err(|e| StepError::internal(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StepError>>()?;
            let chunks = requests.len();
            self.batch_write(requests).await?;
            CredentialsDoc {
                format: CHUNKED.into(),
                fetched_at,
                summary,
                inventory: None,
                generation: Some(generation),
                chunks: Some(chunks),
                bytes: Some(json.len()),
                sha256: Some(hex::encode(Sha256::digest(&compressed))),
            }
        };
        let doc_item = to_item("the credentials attribute", &doc)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("owner", s(owner))
            .key("id", s(id))
            .update_expression("SET credentials = :c, inventory_fetched_at = :t")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":c", AttributeValue::M(doc_item))
            .expression_attribute_values(":t", s(jobs_domain::time::format(&inventory.fetched_at)))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let old = match result {
            Ok(resp) => resp.attributes.and_then(|mut a| a.remove("credentials")),
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {
                if let Some(generation) = &doc.generation {
                    self.delete_generation(&identity, generation).await?;
                }
                return Err(StepError::not_found(format!(
                    "cloud identity {id} no longer exists"
                )));
            }
            Err(e) => return Err(classify(&format!("saving the inventory of {id}"), e)),
        };
        if let Some(AttributeValue::M(m)) = old
            && let Ok(CredentialsDoc {
                generation: Some(old_generation),
                ..
            }) = from_item::<CredentialsDoc>("old credentials", m)
            && doc.generation.as_deref() != Some(old_generation.as_str())
        {
            self.delete_generation(&identity, &old_generation).await?;
        }
        Ok(())
    }

    async fn inventory(&self, owner: &str, id: &str) -> PortResult<Option<Inventory>> {
        // A concurrent save may delete the generation we were pointed at
        // between the two reads: read the pointer again once in that case.
        for _ in 0..2 {
            let Some(doc) = self.read_doc(owner, id).await? else {
                return Ok(None);
            };
            if let Some(inventory) = doc.inventory {
                return Ok(Some(inventory));
            }
            let (Some(generation), Some(chunks), Some(sha)) =
                (doc.generation, doc.chunks, doc.sha256)
            else {
                return Err(StepError::internal(format!(
                    "cloud identity {id}: credentials has format {:?} without its fields",
                    doc.format
                )));
            };
            let mut items = self.chunk_keys(&scoped(owner, id), &generation).await?;
            if items.len() != chunks {
                continue;
            }
            items.sort_by(|a, b| {
                let key = |i: &Item| {
                    i.get("chunk")
                        .and_then(|c| c.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                key(a).cmp(&key(b))
            });
            let mut compressed = Vec::new();
            for item in items {
                match item.get("data") {
                    Some(AttributeValue::B(b)) => compressed.extend_from_slice(b.as_ref()),
                    _ => {
                        return Err(StepError::internal(format!(
                            "inventory chunk of {id} without data"
                        )));
                    }
                }
            }
            if hex::encode(Sha256::digest(&compressed)) != sha {
                return Err(StepError::internal(format!(
                    "the stored inventory of {id} fails its checksum"
                )));
            }
            let mut json = Vec::new();
            GzDecoder::new(compressed.as_slice())
                .read_to_end(&mut json)
                .map_err(|e| {
                    StepError::internal(format!("decompressing the inventory of {id}: {e}"))
                })?;
            let inv = serde_json::from_slice(&json)
                .map_err(|e| StepError::internal(format!("decoding the inventory of {id}: {e}")))?;
            return Ok(Some(inv));
        }
        Err(StepError::conflict(format!(
            "the inventory of {id} kept changing while being read; retry"
        )))
    }

    async fn list_fetched(&self) -> PortResult<Vec<Fetched>> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .projection_expression("#o, id, #c.fetched_at")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#c", "credentials")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("listing cloud identities", e))?;
            for item in resp.items.unwrap_or_default() {
                if let (Some(AttributeValue::S(owner)), Some(AttributeValue::S(id))) =
                    (item.get("owner"), item.get("id"))
                {
                    let fetched = match item.get("credentials") {
                        Some(AttributeValue::M(c)) => match c.get("fetched_at") {
                            Some(AttributeValue::S(t)) => DateTime::parse_from_rfc3339(t)
                                .ok()
                                .map(|t| t.with_timezone(&Utc)),
                            _ => None,
                        },
                        _ => None,
                    };
                    ids.push(Fetched {
                        owner: owner.clone(),
                        id: id.clone(),
                        fetched_at: fetched,
                    });
                }
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(ids),
            }
        }
    }
}
