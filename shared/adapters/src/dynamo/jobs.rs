//! The jobs table: job records with conditional writes on their version,
//! idempotency keys (scoped to their owner) bound atomically with the job
//! they name, an owner's listings from indexes keyed by owner and filters,
//! the sharded open-jobs index, and the runners' queue.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use jobs_domain::StepError;
use jobs_domain::job::{Job, JobStatus, JobSummary, JobType, OpenJob};
use jobs_domain::owner::scoped;
use jobs_domain::ports::{Created, IdempotencyKey, JobFilter, JobStore, Page, PortResult};

use super::{
    Item, Replace, decode_cursor, encode_cursor, from_item, get_item, put_versioned, s, to_item,
};
use crate::aws::{classify, error_code};
use crate::tables::TableNames;

/// The index attributes a cursor may hold (a listing's partition key).
const KEY_ATTRIBUTES: &[&str] = &[
    "id",
    "created_at",
    "owner",
    "owner_type",
    "owner_status",
    "owner_type_status",
];

/// The attributes derived from a job for the indexes (never part of it).
const DERIVED: &[&str] = &[
    "owner_type",
    "owner_status",
    "owner_type_status",
    "open_shard",
    "queue_pool",
    "held_by",
];

/// Shards of the sparse open-jobs index: its writes spread over this many
/// partitions, and a reader queries each.
const OPEN_SHARDS: u8 = 16;

/// A job's partition of the open-jobs index: its status and a shard from
/// its id (random hex), so that a reader asks for one status and a job
/// stays on its shard while it runs.
fn open_shard(status: JobStatus, job_id: &str) -> String {
    let digit = job_id
        .chars()
        .last()
        .and_then(|c| c.to_digit(16))
        .unwrap_or(0);
    format!("{}#{:02}", status.as_str(), digit % u32::from(OPEN_SHARDS))
}

/// An owner's listing: the index, its partition attribute and value.
fn listing(owner: &str, filter: &JobFilter) -> (&'static str, &'static str, String) {
    match (filter.job_type, filter.status) {
        (Some(t), Some(st)) => (
            "by-owner-type-status",
            "owner_type_status",
            format!("{owner}#{}#{}", t.as_str(), st.as_str()),
        ),
        (Some(t), None) => (
            "by-owner-type",
            "owner_type",
            format!("{owner}#{}", t.as_str()),
        ),
        (None, Some(st)) => (
            "by-owner-status",
            "owner_status",
            format!("{owner}#{}", st.as_str()),
        ),
        (None, None) => ("by-owner", "owner", owner.to_string()),
    }
}

/// Job fields holding the caller's JSON, stored as text.
const CALLER_JSON: &[&str] = &["params", "result"];

fn json_field<'a>(job: &'a Job, field: &str) -> Option<&'a serde_json::Value> {
    match field {
        "params" => Some(&job.params),
        _ => job.result.as_ref(),
    }
}

/// A listing's cursor: it must hold exactly the keys of the index the
/// listing reads (`id`, `created_at` and the index's partition attribute),
/// with the same partition value, or DynamoDB would refuse it (a 5xx) or
/// page another listing. A cursor of another listing is the caller's
/// mistake: `InvalidInput` naming `next_token`.
fn listing_cursor(cursor: &str, key_attr: &str, key_value: &str) -> PortResult<Item> {
    let item = decode_cursor(cursor, KEY_ATTRIBUTES)?;
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = vec!["created_at", "id", key_attr];
    want.sort_unstable();
    let same_listing = keys == want
        && item
            .get(key_attr)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some(key_value);
    if same_listing {
        Ok(item)
    } else {
        Err(StepError::invalid(
            "next_token was issued for another listing (other type or status filters, or another owner); list again without it",
        ))
    }
}

/// Items per page of the index queries (each page is one bounded read).
const QUERY_PAGE: i32 = 100;

pub struct DynamoJobStore {
    client: Client,
    table: String,
    idempotency_table: String,
    retention: Retention,
}

/// How long finished jobs and idempotency keys are kept: their items carry
/// `expires_at` (epoch seconds), by which DynamoDB's TTL deletes them.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// After the job finished (its last update).
    pub jobs: chrono::Duration,
    /// After the key was first used.
    pub keys: chrono::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            jobs: chrono::Duration::days(90),
            keys: chrono::Duration::hours(24 * 7),
        }
    }
}

/// The TTL attribute of the jobs and idempotency tables (infra/tables.json).
pub const EXPIRES_AT: &str = "expires_at";

impl DynamoJobStore {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoJobStore {
            client,
            table: names.jobs(),
            idempotency_table: names.idempotency(),
            retention: Retention::default(),
        }
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The stored item: the job plus the index attributes derived from it
    /// (and, once it has finished, when it expires).
    fn item(&self, job: &Job) -> Result<Item, StepError> {
        let mut item = to_item("job", job)?;
        // The caller's own JSON (a runner job's payload, a runner's result)
        // is stored as text: as a map it would be bound by DynamoDB's rules
        // for attribute names (an empty key is refused) and nesting depth.
        for field in CALLER_JSON {
            if let Some(value) = json_field(job, field) {
                item.insert(field.to_string(), s(value.to_string()));
            }
        }
        let (t, st) = (job.job_type.as_str(), job.status.as_str());
        let owner = &job.owner;
        item.insert("owner_type".into(), s(format!("{owner}#{t}")));
        item.insert("owner_status".into(), s(format!("{owner}#{st}")));
        item.insert("owner_type_status".into(), s(format!("{owner}#{t}#{st}")));
        if job.is_open() {
            item.insert("open_shard".into(), s(open_shard(job.status, &job.id)));
        }
        if job.status.is_terminal() {
            let expires = job.updated_at + self.retention.jobs;
            item.insert(
                EXPIRES_AT.into(),
                AttributeValue::N(expires.timestamp().to_string()),
            );
        }
        if job.job_type == JobType::RunnerJob
            && job.status == JobStatus::Queued
            && let Some(queue) = job.queue()
        {
            item.insert("queue_pool".into(), s(queue));
        }
        // Sparse too: only a runner's unfinished work is in its index, so a
        // requeue reads what it may release and nothing the runner finished.
        if job.job_type == JobType::RunnerJob
            && job.status == JobStatus::Running
            && let Some(runner) = &job.runner_id
        {
            item.insert("held_by".into(), s(runner.clone()));
        }
        Ok(item)
    }

    /// An item (or an index's copy of one) with the caller's JSON parsed
    /// back and the derived attributes dropped, as type `T`.
    fn decode_as<T: serde::de::DeserializeOwned>(item: Item, what: &str) -> Result<T, StepError> {
        let mut item = item;
        for field in CALLER_JSON {
            // (A record written before this stored its JSON as a map, and a
            // string result as that string: not JSON text, kept as it is.)
            if let Some(AttributeValue::S(text)) = item.get(*field)
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
            {
                let attribute = serde_dynamo::to_attribute_value(value)
                    .map_err(|e| StepError::internal(format!("decoding job {field}: {e}")))?;
                item.insert(field.to_string(), attribute);
            }
        }
        for attr in DERIVED {
            item.remove(*attr);
        }
        item.remove(EXPIRES_AT);
        from_item(what, item)
    }

    fn decode(item: Item) -> Result<Job, StepError> {
        Self::decode_as(item, "job")
    }

    /// The idempotency item's key: the caller's key within its owner.
    fn key_of(key: &IdempotencyKey) -> AttributeValue {
        s(scoped(&key.owner, &key.key))
    }

    /// A query of one partition (`key_attr` = `key`) of one index.
    fn index_query(&self, index: &str, key_attr: &str, key: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", key_attr)
            .expression_attribute_values(":k", s(key))
    }

    async fn query_all(
        &self,
        index: &str,
        key_attr: &str,
        key: &str,
        forward: bool,
        limit: Option<usize>,
    ) -> PortResult<Vec<Job>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let resp = self
                .index_query(index, key_attr, key)
                .scan_index_forward(forward)
                .limit(QUERY_PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify(&format!("querying jobs by {key_attr}"), e))?;
            for item in resp.items.unwrap_or_default() {
                out.push(Self::decode(item)?);
                if limit.is_some_and(|l| out.len() >= l) {
                    return Ok(out);
                }
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Created> {
        let item = self.item(job)?;
        let Some(key) = key else {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(id)")
                .send()
                .await;
            return match put {
                Ok(_) => Ok(Created::New),
                // The id is new and random: an item already under it is
                // this very write, whose answer was lost and the SDK sent
                // it again.
                Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => {
                    // Compared as stored: the table keeps microseconds,
                    // the clock gives nanoseconds.
                    let stamp = jobs_domain::time::format;
                    match self.get(&job.id).await? {
                        Some(stored)
                            if stored.owner == job.owner
                                && stamp(&stored.created_at) == stamp(&job.created_at) =>
                        {
                            Ok(Created::New)
                        }
                        _ => Err(classify(&format!("creating job {}", job.id), e)),
                    }
                }
                Err(e) => Err(classify(&format!("creating job {}", job.id), e)),
            };
        };
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|e| StepError::internal(e.to_string()))?;
        let put_key = Put::builder()
            .table_name(&self.idempotency_table)
            .item("key", Self::key_of(key))
            .item("job_id", s(job.id.clone()))
            .item("request_hash", s(key.request_hash.clone()))
            .item("created_at", s(jobs_domain::time::format(&job.created_at)))
            .item(
                EXPIRES_AT,
                AttributeValue::N(
                    (job.created_at + self.retention.keys)
                        .timestamp()
                        .to_string(),
                ),
            )
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", "key")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StepError::internal(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_job).build())
            .transact_items(TransactWriteItem::builder().put(put_key).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::New),
            Err(e) if error_code(&e) == Some("TransactionCanceledException") => {
                // The key is taken (or, far less likely, the job id): answer
                // what the key names.
                match self.find_key(key).await? {
                    Some(bound) => Ok(bound),
                    None => Err(StepError::conflict(
                        "the idempotency key changed while the job was being created; retry",
                    )),
                }
            }
            Err(e) => Err(classify(&format!("creating job {}", job.id), e)),
        }
    }

    async fn find_key(&self, key: &IdempotencyKey) -> PortResult<Option<Created>> {
        let Some(existing) = get_item(
            &self.client,
            &self.idempotency_table,
            &[("key", &scoped(&key.owner, &key.key))],
            "an idempotency key",
        )
        .await?
        else {
            return Ok(None);
        };
        if existing.get("request_hash").and_then(|v| v.as_s().ok()) != Some(&key.request_hash) {
            return Ok(Some(Created::KeyReused));
        }
        let job_id = existing
            .get("job_id")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StepError::internal("an idempotency record without job_id"))?;
        match self.get(job_id).await? {
            Some(job) => Ok(Some(Created::Existing(Box::new(job)))),
            None => Err(StepError::conflict(
                "the idempotency key names a job that is not readable yet; retry",
            )),
        }
    }

    async fn get(&self, id: &str) -> PortResult<Option<Job>> {
        get_item(
            &self.client,
            &self.table,
            &[("id", id)],
            &format!("job {id}"),
        )
        .await?
        .map(Self::decode)
        .transpose()
    }

    async fn update(&self, job: &Job, expected_version: u64) -> PortResult<()> {
        put_versioned(
            &self.client,
            &self.table,
            &["id"],
            self.item(job)?,
            Some(expected_version),
            Replace::WholeItem,
            &format!("job {}", job.id),
        )
        .await
    }

    async fn list(
        &self,
        owner: &str,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<Page<JobSummary>> {
        let limit = limit.clamp(1, 100);
        let (index, key_attr, key_value) = listing(owner, filter);
        let start = match cursor {
            Some(c) => Some(listing_cursor(c, key_attr, &key_value)?),
            None => None,
        };
        // One read: the index's key is the listing, so every item it
        // answers belongs on the page.
        let resp = self
            .index_query(index, key_attr, &key_value)
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| classify("listing jobs", e))?;
        let items = resp
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Self::decode_as(item, "job summary"))
            .collect::<Result<Vec<JobSummary>, _>>()?;
        let next = match resp.last_evaluated_key {
            Some(k) if !k.is_empty() => encode_cursor(&k),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn open_jobs(&self, status: JobStatus, limit: usize) -> PortResult<Vec<OpenJob>> {
        // The shards at once: one round trip, not sixteen, for the
        // sweeper and the refresh schedule, which read them every run.
        let pages = futures::future::try_join_all((0..OPEN_SHARDS).map(|shard| {
            self.index_query(
                "open-jobs",
                "open_shard",
                &format!("{}#{shard:02}", status.as_str()),
            )
            .limit(limit.clamp(1, 1000) as i32)
            .send()
        }))
        .await
        .map_err(|e| classify("listing open jobs", e))?;
        let mut open = Vec::new();
        for item in pages.into_iter().flat_map(|p| p.items.unwrap_or_default()) {
            open.push(Self::decode_as::<OpenJob>(item, "open job")?);
        }
        open.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        open.truncate(limit);
        Ok(open)
    }

    async fn release_key(&self, key: &IdempotencyKey) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.idempotency_table)
            .key("key", Self::key_of(key))
            .send()
            .await
            .map_err(|e| classify("releasing an idempotency key", e))?;
        Ok(())
    }

    async fn queued_runner_jobs(&self, queue: &str, limit: usize) -> PortResult<Vec<Job>> {
        let jobs = self
            .query_all("runner-queue", "queue_pool", queue, true, Some(limit))
            .await?;
        // The index is eventually consistent on AWS: keep only what is
        // still queued in the item we read (the claim re-checks anyway).
        Ok(jobs
            .into_iter()
            .filter(|j| j.status == JobStatus::Queued)
            .collect())
    }

    async fn runner_jobs_of(&self, runner_id: &str) -> PortResult<Vec<Job>> {
        let jobs = self
            .query_all("held-by-runner", "held_by", runner_id, true, None)
            .await?;
        // The index is eventually consistent on AWS: keep what the items
        // read say (every release re-checks anyway).
        Ok(jobs
            .into_iter()
            .filter(|j| j.status == JobStatus::Running)
            .collect())
    }
}
