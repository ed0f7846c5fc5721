//! Jobs and idempotency keys in memory, with the `JobStore` contract:
//! conditional writes on the version, a key (scoped to its owner) bound to
//! its job atomically, an owner's newest-first pages behind an opaque
//! cursor, the runners' queue oldest first.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine as _;
use jobs_domain::StepError;
use jobs_domain::job::{Job, JobStatus, JobSummary, JobType, OpenJob};
use jobs_domain::owner::scoped;
use jobs_domain::ports::{Created, IdempotencyKey, JobFilter, JobStore, Page, PortResult};

use crate::{Faults, lock};

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<String, Job>,
    /// owner/key → (request hash, job id)
    keys: HashMap<String, (String, String)>,
}

#[derive(Debug, Default)]
pub struct MemoryJobStore {
    state: Mutex<State>,
    pub faults: Faults,
}

impl MemoryJobStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored job (any order), for assertions.
    pub fn all(&self) -> Vec<Job> {
        lock(&self.state).jobs.values().cloned().collect()
    }

    /// Stores a job as it is (a test's starting point), replacing any.
    pub fn insert(&self, job: Job) {
        lock(&self.state).jobs.insert(job.id.clone(), job);
    }

    /// Whether an owner's idempotency key is bound.
    pub fn key_bound(&self, owner: &str, key: &str) -> bool {
        lock(&self.state).keys.contains_key(&scoped(owner, key))
    }
}

/// The listing a cursor belongs to (owner and filters), as DynamoDB's index
/// keys do.
fn listing_of(owner: &str, filter: &JobFilter) -> String {
    format!(
        "{owner}/{}/{}",
        filter.job_type.map(|t| t.as_str()).unwrap_or("-"),
        filter.status.map(|s| s.as_str()).unwrap_or("-")
    )
}

fn cursor_of(job: &Job, owner: &str, filter: &JobFilter) -> String {
    let text = format!(
        "{}\n{}\n{}",
        jobs_domain::time::format(&job.created_at),
        job.id,
        listing_of(owner, filter)
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn parse_cursor(cursor: &str, owner: &str, filter: &JobFilter) -> PortResult<(String, String)> {
    let bad = || {
        StepError::invalid(format!(
            "next_token {cursor:?} is not a cursor this API issued"
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.split('\n');
    let (Some(created), Some(id), Some(listing), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !jobs_domain::job::is_job_id(id) {
        return Err(bad());
    }
    if listing != listing_of(owner, filter) {
        return Err(StepError::invalid(
            "next_token was issued for another listing (other type or status filters); list again without it",
        ));
    }
    Ok((created.to_string(), id.to_string()))
}

fn created_key(job: &Job) -> (String, String) {
    (jobs_domain::time::format(&job.created_at), job.id.clone())
}

fn answer_for(state: &State, key: &IdempotencyKey) -> Option<Created> {
    let (hash, job_id) = state.keys.get(&scoped(&key.owner, &key.key))?;
    if hash != &key.request_hash {
        return Some(Created::KeyReused);
    }
    state
        .jobs
        .get(job_id)
        .map(|j| Created::Existing(Box::new(j.clone())))
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn create(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Created> {
        self.faults.check("create")?;
        let mut state = lock(&self.state);
        if let Some(k) = key
            && let Some(bound) = answer_for(&state, k)
        {
            return Ok(bound);
        }
        if state.jobs.contains_key(&job.id) {
            return Err(StepError::conflict(format!(
                "job {} already exists",
                job.id
            )));
        }
        state.jobs.insert(job.id.clone(), job.clone());
        if let Some(k) = key {
            state.keys.insert(
                scoped(&k.owner, &k.key),
                (k.request_hash.clone(), job.id.clone()),
            );
        }
        Ok(Created::New)
    }

    async fn find_key(&self, key: &IdempotencyKey) -> PortResult<Option<Created>> {
        self.faults.check("find_key")?;
        Ok(answer_for(&lock(&self.state), key))
    }

    async fn get(&self, id: &str) -> PortResult<Option<Job>> {
        self.faults.check("get")?;
        Ok(lock(&self.state).jobs.get(id).cloned())
    }

    async fn update(&self, job: &Job, expected_version: u64) -> PortResult<()> {
        self.faults.check("update")?;
        let mut state = lock(&self.state);
        match state.jobs.get(&job.id) {
            Some(stored) if stored.version == expected_version => {
                let mut next = job.clone();
                next.version = expected_version + 1;
                state.jobs.insert(job.id.clone(), next);
                Ok(())
            }
            _ => Err(StepError::conflict(format!(
                "job {} changed since version {expected_version}",
                job.id
            ))),
        }
    }

    async fn list(
        &self,
        owner: &str,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<Page<JobSummary>> {
        self.faults.check("list")?;
        let after = cursor.map(|c| parse_cursor(c, owner, filter)).transpose()?;
        let limit = limit.clamp(1, 100);
        let state = lock(&self.state);
        let mut matching: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| j.owner == owner)
            .filter(|j| filter.job_type.is_none_or(|t| j.job_type == t))
            .filter(|j| filter.status.is_none_or(|s| j.status == s))
            .filter(|j| after.as_ref().is_none_or(|a| &created_key(j) < a))
            .collect();
        matching.sort_by_key(|j| std::cmp::Reverse(created_key(j)));
        let more = matching.len() > limit;
        let page: Vec<&Job> = matching.into_iter().take(limit).collect();
        let next = match page.last() {
            Some(last) if more => Some(cursor_of(last, owner, filter)),
            _ => None,
        };
        Ok(Page {
            items: page.into_iter().map(JobSummary::from).collect(),
            next,
        })
    }

    async fn open_jobs(&self, status: JobStatus, limit: usize) -> PortResult<Vec<OpenJob>> {
        self.faults.check("open_jobs")?;
        let state = lock(&self.state);
        let mut open: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| j.is_open() && j.status == status)
            .collect();
        open.sort_by_key(|j| created_key(j));
        Ok(open.into_iter().take(limit).map(OpenJob::from).collect())
    }

    async fn release_key(&self, key: &IdempotencyKey) -> PortResult<()> {
        self.faults.check("release_key")?;
        lock(&self.state).keys.remove(&scoped(&key.owner, &key.key));
        Ok(())
    }

    async fn queued_runner_jobs(&self, queue: &str, limit: usize) -> PortResult<Vec<Job>> {
        self.faults.check("queued_runner_jobs")?;
        let state = lock(&self.state);
        let mut queued: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| {
                j.job_type == JobType::RunnerJob
                    && j.status == JobStatus::Queued
                    && j.queue().as_deref() == Some(queue)
            })
            .collect();
        queued.sort_by_key(|j| created_key(j));
        Ok(queued.into_iter().take(limit).cloned().collect())
    }

    async fn runner_jobs_of(&self, runner_id: &str) -> PortResult<Vec<Job>> {
        self.faults.check("runner_jobs_of")?;
        let state = lock(&self.state);
        let mut held: Vec<Job> = state
            .jobs
            .values()
            .filter(|j| {
                j.job_type == JobType::RunnerJob
                    && j.status == JobStatus::Running
                    && j.runner_id.as_deref() == Some(runner_id)
            })
            .cloned()
            .collect();
        held.sort_by_key(created_key);
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use jobs_domain::ErrorKind;
    use serde_json::json;

    fn job_at(t: JobType, secs: i64) -> Job {
        let at = Utc.timestamp_opt(1_900_000_000 + secs, 0).single().unwrap();
        Job::new("org-1", t, json!({}), at)
    }

    fn key(k: &str, body: &str) -> IdempotencyKey {
        IdempotencyKey {
            owner: "org-1".into(),
            key: k.into(),
            request_hash: body.into(),
        }
    }

    #[tokio::test]
    async fn updates_are_conditional_on_the_version() {
        let store = MemoryJobStore::new();
        let job = job_at(JobType::RunnerJob, 0);
        store.create(&job, None).await.unwrap();
        store.update(&job, 1).await.unwrap();
        assert_eq!(store.get(&job.id).await.unwrap().unwrap().version, 2);
        let stale = store.update(&job, 1).await.unwrap_err();
        assert_eq!(stale.kind, ErrorKind::Conflict);
        let missing = job_at(JobType::RunnerJob, 1);
        assert_eq!(
            store.update(&missing, 1).await.unwrap_err().kind,
            ErrorKind::Conflict
        );
    }

    #[tokio::test]
    async fn a_key_answers_its_job_or_refuses_another_body() {
        let store = MemoryJobStore::new();
        let first = job_at(JobType::RunnerJob, 0);
        assert_eq!(
            store.create(&first, Some(&key("k", "a"))).await.unwrap(),
            Created::New
        );
        let second = job_at(JobType::RunnerJob, 1);
        match store.create(&second, Some(&key("k", "a"))).await.unwrap() {
            Created::Existing(j) => assert_eq!(j.id, first.id),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            store.create(&second, Some(&key("k", "b"))).await.unwrap(),
            Created::KeyReused
        );
        assert!(
            store.get(&second.id).await.unwrap().is_none(),
            "nothing half-written"
        );
        let other_owner = IdempotencyKey {
            owner: "org-2".into(),
            ..key("k", "b")
        };
        assert_eq!(
            store.find_key(&other_owner).await.unwrap(),
            None,
            "keys are scoped to their owner"
        );
        store.release_key(&key("k", "a")).await.unwrap();
        assert_eq!(store.find_key(&key("k", "a")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn pages_are_newest_first_and_cursors_are_checked() {
        let store = MemoryJobStore::new();
        for i in 0..5 {
            store
                .create(&job_at(JobType::RunnerJob, i), None)
                .await
                .unwrap();
        }
        store
            .create(&job_at(JobType::ConnectionTest, 10), None)
            .await
            .unwrap();
        let filter = JobFilter {
            job_type: Some(JobType::RunnerJob),
            status: None,
        };
        let mut other = job_at(JobType::RunnerJob, 20);
        other.owner = "org-2".into();
        store.create(&other, None).await.unwrap();
        let p1 = store.list("org-1", &filter, 2, None).await.unwrap();
        let p2 = store
            .list("org-1", &filter, 2, p1.next.as_deref())
            .await
            .unwrap();
        let p3 = store
            .list("org-1", &filter, 2, p2.next.as_deref())
            .await
            .unwrap();
        let seen: Vec<_> = [p1.items, p2.items, p3.items.clone()].concat();
        assert_eq!(seen.len(), 5, "the other owner's job is not listed");
        assert!(seen.windows(2).all(|w| w[0].created_at > w[1].created_at));
        assert_eq!(p3.next, None);
        let forged = store
            .list("org-1", &filter, 2, Some("bm90IGEgY3Vyc29y"))
            .await
            .unwrap_err();
        assert_eq!(forged.kind, ErrorKind::InvalidInput);
        let theirs = store
            .list("org-2", &filter, 2, p1.next.as_deref())
            .await
            .unwrap_err();
        assert_eq!(
            theirs.kind,
            ErrorKind::InvalidInput,
            "another owner's cursor"
        );
    }

    #[tokio::test]
    async fn the_queue_is_oldest_first_per_pool() {
        let store = MemoryJobStore::new();
        let mut ids = Vec::new();
        for (i, pool) in ["a", "b", "a"].into_iter().enumerate() {
            let mut j = job_at(JobType::RunnerJob, 100 - i as i64 * 10);
            j.pool = Some(pool.into());
            ids.push(j.id.clone());
            store.create(&j, None).await.unwrap();
        }
        let queued = store.queued_runner_jobs("org-1/a", 10).await.unwrap();
        assert_eq!(
            queued.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
            [ids[2].clone(), ids[0].clone()]
        );
        assert!(queued[0].created_at < queued[1].created_at + Duration::zero());
    }

    #[tokio::test]
    async fn open_jobs_are_a_status_s_state_machine_jobs_oldest_first() {
        let store = MemoryJobStore::new();
        let mut ids = Vec::new();
        for (i, (t, status)) in [
            (JobType::ConnectionTest, JobStatus::Queued),
            (JobType::FetchResources, JobStatus::Running),
            (JobType::RunnerJob, JobStatus::Queued),
            (JobType::DeployWorker, JobStatus::Success),
            (JobType::DeployWorker, JobStatus::Queued),
        ]
        .into_iter()
        .enumerate()
        {
            let mut j = job_at(t, 100 - i as i64);
            j.status = status;
            j.owner = format!("org-{i}");
            store.create(&j, None).await.unwrap();
            ids.push(j.id);
        }
        let queued: Vec<String> = store
            .open_jobs(JobStatus::Queued, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(
            queued,
            [ids[4].clone(), ids[0].clone()],
            "every owner's, oldest first"
        );
        let running = store.open_jobs(JobStatus::Running, 10).await.unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].owner, "org-1");
    }

    #[tokio::test]
    async fn a_runner_holds_only_its_unfinished_jobs() {
        let store = MemoryJobStore::new();
        let mut ids = Vec::new();
        for (i, status) in [JobStatus::Running, JobStatus::Success, JobStatus::Running]
            .into_iter()
            .enumerate()
        {
            let mut j = job_at(JobType::RunnerJob, i as i64);
            j.status = status;
            j.runner_id = Some(if i < 2 { "A" } else { "B" }.into());
            store.create(&j, None).await.unwrap();
            ids.push(j.id);
        }
        let held: Vec<String> = store
            .runner_jobs_of("A")
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(held, [ids[0].clone()]);
    }
}
