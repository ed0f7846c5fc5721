//! The run queue of a worker's lifecycle jobs, as Terraform Cloud and
//! Spacelift keep one per stack: DEPLOY, UPDATE and DESTROY of one worker
//! run one at a time, in submission order, so that applies never interleave
//! and a later job sees what the earlier one left (a DESTROY submitted while
//! a DEPLOY applies destroys what the DEPLOY created).

use serde::{Deserialize, Serialize};

/// One worker's run queue: the job that holds the worker now, and those
/// waiting behind it, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRuns {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default)]
    pub waiting: Vec<String>,
    /// Incremented by every write; writes are conditional on it.
    #[serde(default)]
    pub version: u64,
}

/// Whether a job may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The job holds the worker: it runs.
    Go,
    /// `ahead` jobs come first (the active one and those queued before it).
    Wait { ahead: usize },
}

impl WorkerRuns {
    pub fn new(name: &str) -> WorkerRuns {
        WorkerRuns {
            name: name.to_string(),
            ..WorkerRuns::default()
        }
    }

    /// Puts `job_id` at the end of the queue; false if it is already in it
    /// (or holds the worker).
    pub fn enqueue(&mut self, job_id: &str) -> bool {
        if self.active.as_deref() == Some(job_id) || self.waiting.iter().any(|j| j == job_id) {
            return false;
        }
        self.waiting.push(job_id.to_string());
        true
    }

    /// The job's turn: it takes the worker when the worker is free and it is
    /// first in line (a job not queued yet joins the end of the line).
    pub fn take_turn(&mut self, job_id: &str) -> Turn {
        if self.active.as_deref() == Some(job_id) {
            return Turn::Go;
        }
        self.enqueue(job_id);
        let position = self.waiting.iter().position(|j| j == job_id).unwrap_or(0);
        if self.active.is_none() && position == 0 {
            self.waiting.remove(0);
            self.active = Some(job_id.to_string());
            return Turn::Go;
        }
        Turn::Wait {
            ahead: position + usize::from(self.active.is_some()),
        }
    }

    /// The job ended: it gives the worker up (or leaves the line). Answers
    /// whether anything changed.
    pub fn finish(&mut self, job_id: &str) -> bool {
        if self.active.as_deref() == Some(job_id) {
            self.active = None;
            return true;
        }
        let before = self.waiting.len();
        self.waiting.retain(|j| j != job_id);
        before != self.waiting.len()
    }

    /// Whether any job holds or waits for the worker.
    pub fn busy(&self) -> bool {
        self.active.is_some() || !self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_one_at_a_time_in_submission_order() {
        let mut q = WorkerRuns::new("runner-1");
        for j in ["deploy", "update", "destroy"] {
            assert!(q.enqueue(j));
        }
        assert!(!q.enqueue("update"), "queued once");
        // The later ones may start first: they wait for their turn.
        assert_eq!(q.take_turn("destroy"), Turn::Wait { ahead: 2 });
        assert_eq!(q.take_turn("update"), Turn::Wait { ahead: 1 });
        assert_eq!(q.take_turn("deploy"), Turn::Go);
        assert_eq!(
            q.take_turn("deploy"),
            Turn::Go,
            "asking again (a redelivery)"
        );
        assert_eq!(q.take_turn("update"), Turn::Wait { ahead: 1 });
        assert!(q.finish("deploy"));
        assert!(!q.finish("deploy"));
        assert_eq!(q.take_turn("destroy"), Turn::Wait { ahead: 1 });
        assert_eq!(q.take_turn("update"), Turn::Go);
        assert!(q.finish("update"));
        assert_eq!(q.take_turn("destroy"), Turn::Go);
        assert!(q.finish("destroy"));
        assert!(!q.busy());
    }

    #[test]
    fn a_job_that_ends_while_waiting_leaves_the_line() {
        let mut q = WorkerRuns::new("runner-1");
        q.take_turn("a");
        q.enqueue("b");
        q.enqueue("c");
        assert!(q.finish("b"));
        q.finish("a");
        assert_eq!(q.take_turn("c"), Turn::Go);
    }

    #[test]
    fn a_job_never_queued_joins_the_end() {
        let mut q = WorkerRuns::new("runner-1");
        q.take_turn("a");
        assert_eq!(q.take_turn("late"), Turn::Wait { ahead: 1 });
        assert_eq!(q.waiting, ["late"]);
    }
}
