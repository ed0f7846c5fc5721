//! Worker deployment records, keyed by worker name.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use jobs_domain::StepError;
use jobs_domain::ports::{PortResult, WorkerStore};
use jobs_domain::worker::Worker;

use super::{from_item, get_item, n, to_item};
use crate::aws::{classify, error_code};
use crate::tables::TableNames;

pub struct DynamoWorkerStore {
    client: Client,
    table: String,
}

impl DynamoWorkerStore {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoWorkerStore {
            client,
            table: names.workers(),
        }
    }
}

#[async_trait]
impl WorkerStore for DynamoWorkerStore {
    async fn get(&self, name: &str) -> PortResult<Option<Worker>> {
        get_item(
            &self.client,
            &self.table,
            "name",
            name,
            &format!("worker {name}"),
        )
        .await?
        .map(|i| from_item("worker", i))
        .transpose()
    }

    async fn put(&self, worker: &Worker, expected_version: Option<u64>) -> PortResult<()> {
        let mut stored = worker.clone();
        stored.version = expected_version.map_or(1, |v| v + 1);
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item("worker", &stored)?));
        req = match expected_version {
            None => req
                .condition_expression("attribute_not_exists(#n)")
                .expression_attribute_names("#n", "name"),
            Some(v) => req
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ConditionalCheckFailedException") => Err(
                StepError::conflict(format!("worker {} changed concurrently", worker.name)),
            ),
            Err(e) => Err(classify(&format!("writing worker {}", worker.name), e)),
        }
    }
}
