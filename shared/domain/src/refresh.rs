//! Which cloud identities one scheduled refresh run starts: a bounded
//! batch, oldest inventory first, never an identity whose refresh is still
//! running, and the same batch however often the run is repeated within
//! its window (an EventBridge retry, a second invocation).

use chrono::{DateTime, Utc};

/// An identity as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub owner: String,
    pub id: String,
    /// When its inventory was last fetched; `None`: never.
    pub fetched_at: Option<DateTime<Utc>>,
    /// A refresh or connection test of it is QUEUED or RUNNING.
    pub in_flight: bool,
    /// This window's run already started its refresh.
    pub this_window: bool,
}

/// The identities to refresh (owner, id), at most `batch`: first those this
/// window already started (so a repeated run replays them), then the
/// identities with no refresh in flight, never-fetched first, then by
/// oldest fetch (ties by owner and id, so the order is the same on every
/// run).
pub fn select(candidates: &[Candidate], batch: usize) -> Vec<(String, String)> {
    let mut chosen: Vec<&Candidate> = candidates.iter().filter(|c| c.this_window).collect();
    let mut rest: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.this_window && !c.in_flight)
        .collect();
    rest.sort_by(|a, b| (a.fetched_at, &a.owner, &a.id).cmp(&(b.fetched_at, &b.owner, &b.id)));
    chosen.sort_by(|a, b| (&a.owner, &a.id).cmp(&(&b.owner, &b.id)));
    chosen.truncate(batch);
    let room = batch - chosen.len();
    chosen.extend(rest.into_iter().take(room));
    chosen
        .into_iter()
        .map(|c| (c.owner.clone(), c.id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn c(id: &str, hour: Option<u32>, in_flight: bool, this_window: bool) -> Candidate {
        Candidate {
            owner: "org-1".into(),
            id: id.into(),
            fetched_at: hour.map(|h| Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()),
            in_flight,
            this_window,
        }
    }

    fn ids(chosen: Vec<(String, String)>) -> Vec<String> {
        chosen.into_iter().map(|(_, id)| id).collect()
    }

    #[test]
    fn oldest_first_bounded_and_never_twice_at_once() {
        let all = [
            c("d", Some(9), false, false),
            c("a", Some(3), false, false),
            c("busy", None, true, false),
            c("new", None, false, false),
            c("b", Some(3), false, false),
        ];
        assert_eq!(ids(select(&all, 3)), ["new", "a", "b"]);
        assert_eq!(ids(select(&all, 10)), ["new", "a", "b", "d"]);
    }

    #[test]
    fn a_repeated_run_replays_its_window() {
        // The first run chose new, a and b; they were fetched since (their
        // fetched_at is now the newest) or are still running.
        let after = [
            c("d", Some(9), false, false),
            c("a", Some(12), false, true),
            c("new", Some(12), true, true),
            c("b", None, true, true),
        ];
        assert_eq!(ids(select(&after, 3)), ["a", "b", "new"]);
        // A run that stopped after one job completes the same batch.
        let partial = [
            c("d", Some(9), false, false),
            c("a", Some(3), false, false),
            c("new", None, true, true),
            c("b", Some(3), false, false),
        ];
        assert_eq!(ids(select(&partial, 3)), ["new", "a", "b"]);
    }
}
