//! A clock that moves only when a test moves it, so that heartbeat TTLs,
//! step times and timestamps are exact.

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use jobs_domain::ports::Clock;

use crate::lock;

#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl Default for ManualClock {
    /// 2030-01-01T00:00:00Z.
    fn default() -> Self {
        ManualClock::at(
            Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        )
    }
}

impl ManualClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        ManualClock { now: Mutex::new(t) }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}
