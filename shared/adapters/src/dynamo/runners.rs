//! The runner registry's storage: one item per runner, token stored only
//! as its hash.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use jobs_domain::ports::{PortResult, RunnerStore};
use jobs_domain::runner::Runner;

use super::{Replace, from_item, get_item, put_versioned, s, to_item};
use crate::aws::classify;
use crate::tables::TableNames;

pub struct DynamoRunnerStore {
    client: Client,
    table: String,
}

impl DynamoRunnerStore {
    pub fn new(client: Client, names: &TableNames) -> Self {
        DynamoRunnerStore {
            client,
            table: names.runners(),
        }
    }
}

impl DynamoRunnerStore {
    async fn write(&self, runner: &Runner, expected: Option<u64>) -> PortResult<()> {
        put_versioned(
            &self.client,
            &self.table,
            &["id"],
            to_item("runner", runner)?,
            expected,
            Replace::WholeItem,
            &format!("runner {}", runner.id),
        )
        .await
    }
}

#[async_trait]
impl RunnerStore for DynamoRunnerStore {
    async fn create(&self, runner: &Runner) -> PortResult<()> {
        self.write(runner, None).await
    }

    async fn get(&self, id: &str) -> PortResult<Option<Runner>> {
        get_item(
            &self.client,
            &self.table,
            &[("id", id)],
            &format!("runner {id}"),
        )
        .await?
        .map(|i| from_item("runner", i))
        .transpose()
    }

    async fn update(&self, runner: &Runner, expected_version: u64) -> PortResult<()> {
        self.write(runner, Some(expected_version)).await
    }

    async fn delete(&self, id: &str) -> PortResult<bool> {
        let resp = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify(&format!("removing runner {id}"), e))?;
        Ok(resp.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list(&self) -> PortResult<Vec<Runner>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("listing runners", e))?;
            for item in resp.items.unwrap_or_default() {
                out.push(from_item("runner", item)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    out.sort_by_key(|r: &Runner| r.registered_at);
                    return Ok(out);
                }
            }
        }
    }
}
