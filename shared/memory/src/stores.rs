//! Cloud identities (and their inventory), worker deployment records and
//! the registry's runners in memory. Every write is conditional on the
//! version the caller read (`Conflict` otherwise), as in DynamoDB.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use jobs_domain::StepError;
use jobs_domain::identity::CloudIdentity;
use jobs_domain::inventory::Inventory;
use jobs_domain::owner::scoped;
use jobs_domain::ports::{Fetched, IdentityStore, PortResult, RunQueues, RunnerStore, WorkerStore};
use jobs_domain::runner::Runner;
use jobs_domain::runs::WorkerRuns;
use jobs_domain::worker::Worker;

use crate::{Faults, lock};

/// The write rule every store shares: create only when absent, replace
/// only at the expected version.
fn check_version(what: &str, stored: Option<u64>, expected: Option<u64>) -> Result<(), StepError> {
    match (stored, expected) {
        (None, None) => Ok(()),
        (Some(s), Some(e)) if s == e => Ok(()),
        (Some(_), None) => Err(StepError::conflict(format!("{what} already exists"))),
        _ => Err(StepError::conflict(format!("{what} changed concurrently"))),
    }
}

/// Identities and inventories are keyed `owner/id` ([`scoped`]).
#[derive(Debug, Default)]
pub struct MemoryIdentityStore {
    identities: Mutex<BTreeMap<String, CloudIdentity>>,
    inventories: Mutex<HashMap<String, Inventory>>,
    pub faults: Faults,
}

impl MemoryIdentityStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl IdentityStore for MemoryIdentityStore {
    async fn get(&self, owner: &str, id: &str) -> PortResult<Option<CloudIdentity>> {
        self.faults.check("get")?;
        Ok(lock(&self.identities).get(&scoped(owner, id)).cloned())
    }

    async fn put(&self, identity: &CloudIdentity, expected_version: Option<u64>) -> PortResult<()> {
        self.faults.check("put")?;
        let mut all = lock(&self.identities);
        let key = scoped(&identity.owner, &identity.id);
        let what = format!("cloud identity {}", identity.id);
        check_version(&what, all.get(&key).map(|i| i.version), expected_version)?;
        let mut stored = identity.clone();
        stored.version = expected_version.map_or(1, |v| v + 1);
        all.insert(key, stored);
        Ok(())
    }

    async fn save_inventory(&self, owner: &str, id: &str, inventory: &Inventory) -> PortResult<()> {
        self.faults.check("save_inventory")?;
        let key = scoped(owner, id);
        if !lock(&self.identities).contains_key(&key) {
            return Err(StepError::not_found(format!(
                "cloud identity {id} no longer exists"
            )));
        }
        lock(&self.inventories).insert(key, inventory.clone());
        Ok(())
    }

    async fn inventory(&self, owner: &str, id: &str) -> PortResult<Option<Inventory>> {
        self.faults.check("inventory")?;
        Ok(lock(&self.inventories).get(&scoped(owner, id)).cloned())
    }

    async fn list_fetched(&self) -> PortResult<Vec<Fetched>> {
        self.faults.check("list_fetched")?;
        let inventories = lock(&self.inventories);
        Ok(lock(&self.identities)
            .iter()
            .map(|(key, identity)| Fetched {
                owner: identity.owner.clone(),
                id: identity.id.clone(),
                fetched_at: inventories.get(key).map(|i| i.fetched_at),
            })
            .collect())
    }
}

#[derive(Debug, Default)]
pub struct MemoryWorkerStore {
    workers: Mutex<HashMap<String, Worker>>,
    pub faults: Faults,
}

impl MemoryWorkerStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl WorkerStore for MemoryWorkerStore {
    async fn get(&self, name: &str) -> PortResult<Option<Worker>> {
        self.faults.check("get")?;
        Ok(lock(&self.workers).get(name).cloned())
    }

    async fn put(&self, worker: &Worker, expected_version: Option<u64>) -> PortResult<()> {
        self.faults.check("put")?;
        let mut all = lock(&self.workers);
        let what = format!("worker {}", worker.name);
        check_version(
            &what,
            all.get(&worker.name).map(|w| w.version),
            expected_version,
        )?;
        let mut stored = worker.clone();
        stored.version = expected_version.map_or(1, |v| v + 1);
        all.insert(worker.name.clone(), stored);
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemoryRunQueues {
    queues: Mutex<HashMap<String, WorkerRuns>>,
    pub faults: Faults,
}

impl MemoryRunQueues {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RunQueues for MemoryRunQueues {
    async fn get(&self, name: &str) -> PortResult<Option<WorkerRuns>> {
        self.faults.check("get")?;
        Ok(lock(&self.queues).get(name).cloned())
    }

    async fn put(&self, runs: &WorkerRuns, expected_version: Option<u64>) -> PortResult<()> {
        self.faults.check("put")?;
        let mut all = lock(&self.queues);
        let what = format!("the run queue of {}", runs.name);
        check_version(
            &what,
            all.get(&runs.name).map(|r| r.version),
            expected_version,
        )?;
        let mut stored = runs.clone();
        stored.version = expected_version.map_or(1, |v| v + 1);
        all.insert(runs.name.clone(), stored);
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemoryRunnerStore {
    runners: Mutex<HashMap<String, Runner>>,
    pub faults: Faults,
}

impl MemoryRunnerStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RunnerStore for MemoryRunnerStore {
    async fn create(&self, runner: &Runner) -> PortResult<()> {
        self.faults.check("create")?;
        let mut all = lock(&self.runners);
        check_version(
            &format!("runner {}", runner.id),
            all.get(&runner.id).map(|r| r.version),
            None,
        )?;
        all.insert(runner.id.clone(), runner.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> PortResult<Option<Runner>> {
        self.faults.check("get")?;
        Ok(lock(&self.runners).get(id).cloned())
    }

    async fn update(&self, runner: &Runner, expected_version: u64) -> PortResult<()> {
        self.faults.check("update")?;
        let mut all = lock(&self.runners);
        let what = format!("runner {} (or it was removed)", runner.id);
        check_version(
            &what,
            all.get(&runner.id).map(|r| r.version),
            Some(expected_version),
        )?;
        let mut stored = runner.clone();
        stored.version = expected_version + 1;
        all.insert(runner.id.clone(), stored);
        Ok(())
    }

    async fn delete(&self, id: &str) -> PortResult<bool> {
        self.faults.check("delete")?;
        Ok(lock(&self.runners).remove(id).is_some())
    }

    async fn list(&self) -> PortResult<Vec<Runner>> {
        self.faults.check("list")?;
        let mut all: Vec<Runner> = lock(&self.runners).values().cloned().collect();
        all.sort_by_key(|r| r.registered_at);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use jobs_domain::ErrorKind;

    fn runner(id: &str) -> Runner {
        Runner {
            id: id.into(),
            name: "runner-1".into(),
            owner: "org-1".into(),
            pool: "default".into(),
            token_hash: String::new(),
            registered_at: Utc::now(),
            last_heartbeat_at: None,
            version: 1,
        }
    }

    #[tokio::test]
    async fn runners_are_created_once_and_updated_at_their_version() {
        let store = MemoryRunnerStore::new();
        store.create(&runner("a")).await.unwrap();
        assert_eq!(
            store.create(&runner("a")).await.unwrap_err().kind,
            ErrorKind::Conflict
        );
        store.update(&runner("a"), 1).await.unwrap();
        assert_eq!(
            store.update(&runner("a"), 1).await.unwrap_err().kind,
            ErrorKind::Conflict
        );
        assert!(store.delete("a").await.unwrap());
        assert!(!store.delete("a").await.unwrap());
        assert_eq!(
            store.update(&runner("a"), 2).await.unwrap_err().kind,
            ErrorKind::Conflict
        );
    }

    #[tokio::test]
    async fn an_inventory_needs_its_identity() {
        let store = MemoryIdentityStore::new();
        let inv = Inventory {
            fetched_at: Utc::now(),
            account_id: "111122223333".into(),
            regions: vec![],
            resources: Default::default(),
            outcomes: vec![],
        };
        assert_eq!(
            store
                .save_inventory("org-1", "gone", &inv)
                .await
                .unwrap_err()
                .kind,
            ErrorKind::NotFound
        );
    }
}
