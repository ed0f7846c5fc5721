//! Adaptive concurrency for the calls discovery makes to a customer's
//! cloud: one window per throttling bucket of the provider (an AWS service
//! in a region; a Google API), AIMD as TCP does it. A window opens at the
//! configured width, grows by one call per success until the provider first
//! throttles (slow start), then by one call per window's worth of successes;
//! a throttled answer halves it (never below one call), at most once per
//! round: answers to calls sent before the last cut say nothing new. So a
//! discovery runs everything at once while the provider keeps up, and falls
//! back to the pace the provider's bucket refills at, without a retry storm,
//! when it does not.
//!
//! Provider-neutral: the AWS adapter feeds it from an SDK interceptor
//! (`crate::aws`), the Google one from its REST client (`crate::rest`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// How far a window may grow, in multiples of its opening width.
const GROWTH: usize = 8;

#[derive(Debug)]
struct State {
    /// Calls allowed in flight (fractional between whole steps).
    limit: f64,
    in_flight: usize,
    /// Bumped at every cut; a permit remembers the one it was taken in.
    epoch: u64,
    slow_start: bool,
    /// The narrowest the window has been.
    narrowest: f64,
}

/// The calls in flight to one throttling bucket.
#[derive(Debug)]
pub struct Window {
    state: Mutex<State>,
    changed: Notify,
    ceiling: f64,
    throttled: AtomicUsize,
}

impl Window {
    /// A window of `initial` calls (at least one) that may grow to
    /// [`GROWTH`] times that.
    pub fn new(initial: usize) -> Window {
        let initial = initial.max(1) as f64;
        Window {
            state: Mutex::new(State {
                limit: initial,
                in_flight: 0,
                epoch: 0,
                slow_start: true,
                narrowest: initial,
            }),
            changed: Notify::new(),
            ceiling: initial * GROWTH as f64,
            throttled: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain numbers: a panic elsewhere leaves nothing half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for room in the window; the permit frees it when dropped.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut s = self.lock();
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit {
                        window: self.clone(),
                        epoch: s.epoch,
                    };
                }
            }
            changed.await;
        }
    }

    /// The round calls sent now belong to.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// An answer that was not a throttle.
    pub fn succeeded(&self) {
        {
            let mut s = self.lock();
            let step = if s.slow_start { 1.0 } else { 1.0 / s.limit };
            s.limit = (s.limit + step).min(self.ceiling);
        }
        self.changed.notify_waiters();
    }

    /// A throttled answer to a call sent in round `epoch`.
    pub fn throttled(&self, epoch: u64) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        if epoch == s.epoch {
            s.limit = (s.limit / 2.0).max(1.0);
            s.narrowest = s.narrowest.min(s.limit);
            s.slow_start = false;
            s.epoch += 1;
        }
    }

    /// Throttled answers seen so far.
    pub fn throttled_count(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The calls the window allows now, and the fewest it has allowed.
    pub fn width(&self) -> (usize, usize) {
        let s = self.lock();
        (s.limit.floor() as usize, s.narrowest.floor() as usize)
    }
}

/// Room for one call in a [`Window`].
#[derive(Debug)]
pub struct Permit {
    window: Arc<Window>,
    epoch: u64,
}

impl Permit {
    /// The round this call was sent in (for [`Window::throttled`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.window.lock().in_flight -= 1;
        self.window.changed.notify_waiters();
    }
}

/// The windows of one discovery, by bucket name.
#[derive(Debug)]
pub struct Windows {
    initial: usize,
    windows: Mutex<HashMap<String, Arc<Window>>>,
}

impl Windows {
    /// Every window opens `initial` calls wide.
    pub fn new(initial: usize) -> Windows {
        Windows {
            initial,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The window of bucket `name`, opened on first use.
    pub fn get(&self, name: &str) -> Arc<Window> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        w.entry(name.to_string())
            .or_insert_with(|| Arc::new(Window::new(self.initial)))
            .clone()
    }

    /// Throttled answers over every window, and the narrowest any was.
    pub fn summary(&self) -> (usize, usize) {
        let w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let throttled = w.values().map(|w| w.throttled_count()).sum();
        let narrowest = w
            .values()
            .map(|w| w.width().1)
            .min()
            .unwrap_or(self.initial);
        (throttled, narrowest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_window_admits_its_width_then_waits_for_a_permit_to_drop() {
        let w = Arc::new(Window::new(2));
        let a = w.acquire().await;
        let _b = w.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), w.acquire()).await;
        assert!(third.is_err(), "a third call waits");
        drop(a);
        tokio::time::timeout(Duration::from_millis(50), w.acquire())
            .await
            .expect("room again once a call ends");
    }

    #[test]
    fn success_grows_a_window_fast_then_slowly_and_a_throttle_halves_it_once_per_round() {
        let w = Window::new(4);
        for _ in 0..4 {
            w.succeeded();
        }
        assert_eq!(w.width().0, 8, "slow start: one call per success");
        let round = w.epoch();
        w.throttled(round);
        w.throttled(round);
        w.throttled(round);
        assert_eq!(w.width().0, 4, "three answers of one round cut once");
        assert_eq!(w.throttled_count(), 3);
        w.throttled(w.epoch());
        assert_eq!(w.width(), (2, 2), "a call sent after the cut cuts again");
        for _ in 0..3 {
            w.succeeded();
        }
        assert_eq!(
            w.width().0,
            3,
            "after a throttle: one call per window of successes"
        );
        for _ in 0..50 {
            w.throttled(w.epoch());
        }
        assert_eq!(w.width().0, 1, "never below one call");
        for _ in 0..10_000 {
            w.succeeded();
        }
        assert_eq!(w.width().0, 32, "never above eight times the opening width");
    }

    #[tokio::test]
    async fn a_cut_window_holds_new_calls_until_enough_have_ended() {
        let w = Arc::new(Window::new(4));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(w.acquire().await);
        }
        w.throttled(held[0].epoch());
        assert_eq!(w.width().0, 2);
        held.pop();
        held.pop();
        assert!(
            tokio::time::timeout(Duration::from_millis(30), w.acquire())
                .await
                .is_err(),
            "two in flight in a window of two"
        );
        held.pop();
        tokio::time::timeout(Duration::from_millis(50), w.acquire())
            .await
            .expect("one in flight: room");
    }

    #[test]
    fn windows_are_per_bucket() {
        let ws = Windows::new(3);
        let a = ws.get("ec2/us-east-1");
        assert!(Arc::ptr_eq(&a, &ws.get("ec2/us-east-1")));
        ws.get("ec2/eu-west-1").throttled(0);
        assert_eq!(a.width().0, 3);
        assert_eq!(ws.summary(), (1, 1));
    }
}
