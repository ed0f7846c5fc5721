//! The jobs table: job records with conditional writes on their version,
//! idempotency keys bound atomically with the job they name, and the
//! indexes for listing and for the runners' queue.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use jobs_domain::StepError;
use jobs_domain::job::{Job, JobStatus, JobType};
use jobs_domain::ports::{Created, IdempotencyKey, JobFilter, JobStore, Page, PortResult};

use super::{
    Item, Replace, decode_cursor, encode_cursor, from_item, get_item, put_versioned, s, to_item,
};
use crate::aws::{classify, error_code};
use crate::tables::TableNames;

/// Every job item carries `kind = JOB` so that the `by-created` index lists
/// all jobs newest first.
const KIND: &str = "JOB";
const KEY_ATTRIBUTES: &[&str] = &[
    "id",
    "kind",
    "status",
    "type",
    "created_at",
    "queue_pool",
    "held_by",
];

/// Job fields holding the caller's JSON, stored as text.
const CALLER_JSON: &[&str] = &["params", "result"];

fn json_field<'a>(job: &'a Job, field: &str) -> Option<&'a serde_json::Value> {
    match field {
        "params" => Some(&job.params),
        _ => job.result.as_ref(),
    }
}

/// DynamoDB reads one listing request makes at most.
const MAX_LIST_READS: usize = 10;

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
            "next_token was issued for another listing (other type or status filters); list again without it",
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
        item.insert("kind".into(), s(KIND));
        if job.status.is_terminal() {
            let expires = job.updated_at + self.retention.jobs;
            item.insert(
                EXPIRES_AT.into(),
                AttributeValue::N(expires.timestamp().to_string()),
            );
        }
        if job.job_type == JobType::RunnerJob
            && job.status == JobStatus::Queued
            && let Some(pool) = &job.pool
        {
            item.insert("queue_pool".into(), s(pool.clone()));
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

    fn decode(item: Item) -> Result<Job, StepError> {
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
        item.remove("kind");
        item.remove("queue_pool");
        item.remove("held_by");
        item.remove(EXPIRES_AT);
        from_item("job", item)
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
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", key_attr)
                .expression_attribute_values(":k", s(key))
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
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(id)")
                .send()
                .await
                .map_err(|e| classify(&format!("creating job {}", job.id), e))?;
            return Ok(Created::New);
        };
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|e| StepError::internal(e.to_string()))?;
        let put_key = Put::builder()
            .table_name(&self.idempotency_table)
            .item("key", s(key.key.clone()))
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
            "key",
            &key.key,
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
        get_item(&self.client, &self.table, "id", id, &format!("job {id}"))
            .await?
            .map(Self::decode)
            .transpose()
    }

    async fn update(&self, job: &Job, expected_version: u64) -> PortResult<()> {
        put_versioned(
            &self.client,
            &self.table,
            "id",
            self.item(job)?,
            Some(expected_version),
            Replace::WholeItem,
            &format!("job {}", job.id),
        )
        .await
    }

    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<Page<Job>> {
        let limit = limit.clamp(1, 100);
        let (index, key_attr, key_value, status_filter) = match (filter.job_type, filter.status) {
            (Some(t), status) => ("by-type", "type", t.as_str().to_string(), status),
            (None, Some(st)) => ("by-status", "status", st.as_str().to_string(), None),
            (None, None) => ("by-created", "kind", KIND.to_string(), None),
        };
        let mut start = match cursor {
            Some(c) => Some(listing_cursor(c, key_attr, &key_value)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut reads = 0;
        loop {
            reads += 1;
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", key_attr)
                .expression_attribute_values(":k", s(key_value.clone()))
                .scan_index_forward(false)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            if let Some(st) = status_filter {
                q = q
                    .filter_expression("#st = :st")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            let resp = q.send().await.map_err(|e| classify("listing jobs", e))?;
            for item in resp.items.unwrap_or_default() {
                items.push(Self::decode(item)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    // A status filter within a type can skip many items:
                    // the work per request is bounded, and a short page
                    // with a cursor says there may be more.
                    if items.len() >= limit || reads >= MAX_LIST_READS {
                        return Ok(Page {
                            items,
                            next: encode_cursor(&k),
                        });
                    }
                    start = Some(k);
                }
                _ => return Ok(Page { items, next: None }),
            }
        }
    }

    async fn release_key(&self, key: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.idempotency_table)
            .key("key", s(key))
            .send()
            .await
            .map_err(|e| classify("releasing an idempotency key", e))?;
        Ok(())
    }

    async fn queued_runner_jobs(&self, pool: &str, limit: usize) -> PortResult<Vec<Job>> {
        let jobs = self
            .query_all("runner-queue", "queue_pool", pool, true, Some(limit))
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
