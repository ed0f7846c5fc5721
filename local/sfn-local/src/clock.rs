//! Time, as the engine sees it. Wait states, Retry back-off and timeouts go
//! through a [`Clock`] so that tests take no real time: under a Tokio
//! runtime with paused time (`#[tokio::test(start_paused = true)]`) the
//! [`TokioClock`] advances instantly whenever every task is idle, and the
//! timestamps it reports follow that virtual time. A speed-up factor lets
//! the local stack run Retry back-offs faster than AWS would.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// The source of "now" and of sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Current wall-clock time (used for history timestamps and `$$` times).
    fn now(&self) -> DateTime<Utc>;
    /// Sleeps for `duration` of this clock's time (Wait states, Retry
    /// back-off).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// Waits out a timeout (TimeoutSeconds of a task or an execution). A
    /// clock that speeds up waits may keep timeouts at their real length,
    /// because what they bound (a Lambda call, a build) runs in real time.
    fn timeout(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleep(duration)
    }
}

/// Wall time anchored at creation and advanced by Tokio's clock, so that
/// paused-time tests see consistent virtual timestamps.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin_wall: DateTime<Utc>,
    origin: tokio::time::Instant,
    speedup: f64,
}

impl TokioClock {
    pub fn new() -> Self {
        TokioClock {
            origin_wall: Utc::now(),
            origin: tokio::time::Instant::now(),
            speedup: 1.0,
        }
    }

    /// A clock whose sleeps (Wait states, Retry back-off) last `1/factor`
    /// of the requested time; timeouts keep their real length.
    pub fn with_speedup(factor: f64) -> Self {
        TokioClock {
            speedup: if factor.is_finite() && factor >= 1.0 {
                factor
            } else {
                1.0
            },
            ..TokioClock::new()
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin.elapsed().mul_f64(self.speedup);
        self.origin_wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let scaled = duration.div_f64(self.speedup);
        Box::pin(tokio::time::sleep(scaled))
    }

    fn timeout(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_advances_virtual_timestamps_instantly() {
        let clock = TokioClock::new();
        let before = clock.now();
        let real = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3600)).await;
        let after = clock.now();
        assert!(real.elapsed() < Duration::from_secs(5));
        assert_eq!((after - before).num_seconds(), 3600);
    }

    #[tokio::test(start_paused = true)]
    async fn speedup_shortens_sleeps_but_not_the_clock() {
        let clock = TokioClock::with_speedup(10.0);
        let start = tokio::time::Instant::now();
        let before = clock.now();
        clock.sleep(Duration::from_secs(100)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!((clock.now() - before).num_seconds(), 100);
    }
}
