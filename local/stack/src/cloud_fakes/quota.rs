//! The request quotas the fakes can apply ([`super::Knobs::quota`]), as
//! Google Cloud and Azure document theirs.

use std::time::{Duration, Instant};

/// How a provider meters requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// A token bucket. Azure Resource Manager: reads per subscription (and
    /// principal), a bucket of 250 refilled at 25 per second
    /// (<https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling>).
    TokenBucket { burst: u32, per_second: u32 },
    /// A count per synchronized minute. Compute Engine: list requests per
    /// project, 1,500 a minute, refilled at the start of the next minute
    /// (<https://cloud.google.com/compute/api-quota>).
    PerMinute(u32),
}

impl Quota {
    /// Azure Resource Manager's documented read quota.
    pub const AZURE_READS: Quota = Quota::TokenBucket {
        burst: 250,
        per_second: 25,
    };
    /// Compute Engine's documented list quota.
    pub const GOOGLE_LISTS: Quota = Quota::PerMinute(1500);
}

/// Where a fake's [`Quota`] stands.
pub(crate) struct Metered {
    /// Tokens in the bucket, or requests left in the minute.
    pub left: f64,
    /// The last refill, or the start of the minute.
    pub at: Instant,
}

impl Metered {
    /// Takes one request's worth; `Err(seconds to wait)` when there is none.
    pub fn take(&mut self, quota: Quota, now: Instant) -> std::result::Result<(), u64> {
        match quota {
            Quota::TokenBucket { burst, per_second } => {
                let rate = f64::from(per_second.max(1));
                self.left = (self.left + now.duration_since(self.at).as_secs_f64() * rate)
                    .min(f64::from(burst));
                self.at = now;
                if self.left >= 1.0 {
                    self.left -= 1.0;
                    Ok(())
                } else {
                    Err(((1.0 - self.left) / rate).ceil().max(1.0) as u64)
                }
            }
            Quota::PerMinute(n) => {
                let elapsed = now.duration_since(self.at);
                if elapsed >= Duration::from_secs(60) {
                    self.at += Duration::from_secs(60 * (elapsed.as_secs() / 60));
                    self.left = f64::from(n);
                }
                if self.left >= 1.0 {
                    self.left -= 1.0;
                    Ok(())
                } else {
                    Err((60 - now.duration_since(self.at).as_secs()).max(1))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_bucket_refills_at_its_rate_and_a_minute_quota_at_the_next_minute() {
        let start = Instant::now();
        let bucket = Quota::TokenBucket {
            burst: 2,
            per_second: 4,
        };
        let mut m = Metered {
            left: 2.0,
            at: start,
        };
        assert_eq!(m.take(bucket, start), Ok(()));
        assert_eq!(m.take(bucket, start), Ok(()));
        assert_eq!(m.take(bucket, start), Err(1));
        assert_eq!(m.take(bucket, start + Duration::from_millis(260)), Ok(()));

        let minute = Quota::PerMinute(2);
        let mut m = Metered {
            left: 2.0,
            at: start,
        };
        assert_eq!(m.take(minute, start), Ok(()));
        assert_eq!(m.take(minute, start + Duration::from_secs(10)), Ok(()));
        assert_eq!(m.take(minute, start + Duration::from_secs(15)), Err(45));
        assert_eq!(m.take(minute, start + Duration::from_secs(61)), Ok(()));
        assert_eq!(m.take(minute, start + Duration::from_secs(62)), Ok(()));
        assert_eq!(m.take(minute, start + Duration::from_secs(63)), Err(57));
    }
}
