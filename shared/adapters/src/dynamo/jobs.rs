//! The jobs table: job records with conditional writes on their version,
//! idempotency keys bound atomically with the job they name, and the
//! indexes for listing and for the runners' queue.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
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

/// Items per page of the index queries (each page is one bounded read).
const QUERY_PAGE: i32 = 100;

pub struct DynamoJobStore {
    client: Client,
    table: String,
    idempotency_table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoJobStore {
            client,
            table: names.jobs(),
            idempotency_table: names.idempotency(),
        }
    }

    /// The stored item: the job plus the index attributes derived from it.
    fn item(job: &Job) -> Result<Item, StepError> {
        let mut item = to_item("job", job)?;
        item.insert("kind".into(), s(KIND));
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
        item.remove("kind");
        item.remove("queue_pool");
        item.remove("held_by");
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
        let item = Self::item(job)?;
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
            Self::item(job)?,
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
            Some(c) => Some(decode_cursor(c, KEY_ATTRIBUTES)?),
            None => None,
        };
        let mut items = Vec::new();
        loop {
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
                    if items.len() >= limit {
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
