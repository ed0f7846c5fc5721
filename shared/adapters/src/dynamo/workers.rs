//! Worker deployment records and the workers' run queues, keyed by worker
//! name.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use jobs_domain::ports::{PortResult, RunQueues, WorkerStore};
use jobs_domain::runs::WorkerRuns;
use jobs_domain::worker::Worker;

use super::{Replace, from_item, get_item, put_versioned, to_item};
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
            &[("name", name)],
            &format!("worker {name}"),
        )
        .await?
        .map(|i| from_item("worker", i))
        .transpose()
    }

    async fn put(&self, worker: &Worker, expected_version: Option<u64>) -> PortResult<()> {
        put_versioned(
            &self.client,
            &self.table,
            &["name"],
            to_item("worker", worker)?,
            expected_version,
            Replace::WholeItem,
            &format!("worker {}", worker.name),
        )
        .await
    }
}

pub struct DynamoRunQueues {
    client: Client,
    table: String,
}

impl DynamoRunQueues {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoRunQueues {
            client,
            table: names.name("worker_runs"),
        }
    }
}

#[async_trait]
impl RunQueues for DynamoRunQueues {
    async fn get(&self, name: &str) -> PortResult<Option<WorkerRuns>> {
        get_item(
            &self.client,
            &self.table,
            &[("name", name)],
            &format!("the run queue of {name}"),
        )
        .await?
        .map(|i| from_item("run queue", i))
        .transpose()
    }

    async fn put(&self, runs: &WorkerRuns, expected_version: Option<u64>) -> PortResult<()> {
        put_versioned(
            &self.client,
            &self.table,
            &["name"],
            to_item("run queue", runs)?,
            expected_version,
            Replace::WholeItem,
            &format!("the run queue of {}", runs.name),
        )
        .await
    }
}
