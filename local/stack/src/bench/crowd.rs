//! The crowded pass of the discovery benchmark: [`CROWD`] discoveries of
//! the one account at once, as when the refresh schedule starts a
//! FETCH_RESOURCES for each of a team's identities in one account, under
//! AWS's documented limits. One discovery stays far below every bucket;
//! a crowd runs into Route 53's five requests a second per account, which
//! every discovery's first call shares. Each of our discoveries has windows
//! of its own (each runs in a Lambda of its own), so what keeps this from a
//! retry storm is each client's answer to being throttled. Both clients run
//! as a crowd: [`CROWD`] of ours at once, then [`CROWD`] boto3 scripts.

use std::time::Instant;

use jobs_adapters::cloud::AwsCloud;
use jobs_domain::identity::CloudIdentity;
use jobs_domain::ports::ResourceDiscovery;

use super::{BETWEEN_RUNS, LATENCY_MS, Shape, WINDOW, baseline, median, pages};
use crate::latency::{LatencyProxy, ProxyOptions};
use crate::seed::SeedSpec;
use crate::stack::LocalStack;
use crate::throttle::{AwsLimits, AwsThrottle};
use crate::{LocalError, Result};

/// Discoveries of the account at once.
pub const CROWD: usize = 12;

/// One crowd's figures.
struct Crowd {
    /// Each discovery's wall time, of those that finished.
    seconds: Vec<f64>,
    /// From the first start to the last end.
    wall: f64,
    /// Every request the proxy saw, retries included.
    calls: usize,
    throttled: String,
    throttled_count: usize,
    /// Discoveries that did not find everything: (how many, an example).
    incomplete: (usize, Option<String>),
}

impl Crowd {
    fn print(&self, name: &str, minimum: usize) {
        println!(
            "  {name:<34} all done in {:>6.3} s (each: median {:.3} s, slowest {:.3} s)  {:>4} HTTP calls ({:+} over {CROWD} x \
             the minimum)  throttled: {} ({})  incomplete: {}{}",
            self.wall,
            median(self.seconds.clone()),
            self.seconds.iter().copied().fold(0.0, f64::max),
            self.calls,
            self.calls as i64 - (CROWD * minimum) as i64,
            self.throttled_count,
            self.throttled,
            self.incomplete.0,
            self.incomplete
                .1
                .as_ref()
                .map(|e| format!(" (e.g. {e})"))
                .unwrap_or_default()
        );
    }
}

/// Runs the crowded pass through a replaying proxy (moto's queue out of the
/// figures, as in the pass the goals apply to) and prints it.
pub async fn crowded(stack: &LocalStack, identity: &CloudIdentity, spec: &SeedSpec) -> Result<()> {
    let throttle = AwsThrottle::new(AwsLimits::documented());
    let proxy = LatencyProxy::start_with(
        &stack.aws_endpoint,
        ProxyOptions {
            delay: std::time::Duration::from_millis(LATENCY_MS),
            throttle: Some(throttle.clone()),
            replay: true,
        },
    )
    .await?;
    let result = run(stack, identity, spec, &proxy, &throttle).await;
    proxy.stop();
    let (ours, base, shape) = result?;
    let minimum = shape.minimum_calls();
    // No client can do better than Route 53's bucket lets it: every page
    // of hosted zones of every discovery, at its refill rate once the
    // burst is spent, and the last page's round trip.
    let rate = AwsLimits::documented().route53;
    let zone_pages = CROWD * pages(shape.zones, 100);
    let floor =
        (zone_pages as f64 - rate.burst).max(0.0) / rate.per_second + LATENCY_MS as f64 / 1000.0;
    println!(
        "\n  C. {CROWD} discoveries of the account at once (a refresh of {CROWD} identities in one account), the same \
         documented limits and replayed answers: they share Route 53's {} requests a second",
        rate.per_second
    );
    ours.print("worker-jobs discovery, each its own", minimum);
    base.print("plain sequential boto3 script", minimum);
    println!(
        "  Route 53's floor: {zone_pages} pages of hosted zones, {} at once then {} a second, plus a round trip = {floor:.2} s; \
         ours / floor: {:.2}x, boto3 / floor: {:.2}x",
        rate.burst,
        rate.per_second,
        ours.wall / floor,
        base.wall / floor
    );
    println!(
        "  both retry a throttled call after a backoff with jitter (ours: the SDK's standard mode, 5 attempts; boto3: its \
         defaults, 3 attempts); incomplete = a discovery that gave up on a list after its last attempt"
    );
    Ok(())
}

async fn run(
    stack: &LocalStack,
    identity: &CloudIdentity,
    spec: &SeedSpec,
    proxy: &LatencyProxy,
    throttle: &AwsThrottle,
) -> Result<(Crowd, Crowd, Shape)> {
    let sdk =
        crate::aws_env::sdk_config(&proxy.endpoint, jobs_adapters::aws::ATTEMPT_TIMEOUT).await;
    // The proxy counts every request (retries too): no counter here.
    let discover = || {
        let cloud = AwsCloud::new(sdk.clone()).with_concurrency(WINDOW);
        async move {
            let started = Instant::now();
            let inventory = cloud.discover(identity, "bench").await?;
            Ok::<_, LocalError>((started.elapsed().as_secs_f64(), inventory))
        }
    };

    // One run of each alone fills the proxy's records (and gives the shape).
    let (_, inventory) = discover().await?;
    let shape = Shape::of(&inventory);
    baseline(stack, spec, proxy).await?;
    tokio::time::sleep(BETWEEN_RUNS).await;

    let before = throttle.counts();
    let started = Instant::now();
    let outcomes = futures::future::join_all((0..CROWD).map(|_| discover())).await;
    let wall = started.elapsed().as_secs_f64();
    let counts = throttle.counts().since(&before);
    let (mut seconds, mut incomplete) = (Vec::new(), (0, None));
    for outcome in outcomes {
        let (s, inventory) = outcome?;
        seconds.push(s);
        let problems = inventory.summary().problems;
        if let Some(p) = problems.first() {
            incomplete.0 += 1;
            incomplete
                .1
                .get_or_insert_with(|| p.message.clone().unwrap_or_default());
        }
    }
    let ours = Crowd {
        seconds,
        wall,
        calls: counts.requests(),
        throttled: counts.throttled_by_service(),
        throttled_count: counts.throttled(),
        incomplete,
    };

    tokio::time::sleep(BETWEEN_RUNS).await;
    let before = throttle.counts();
    let outcomes =
        futures::future::join_all((0..CROWD).map(|_| baseline(stack, spec, proxy))).await;
    let counts = throttle.counts().since(&before);
    let (mut seconds, mut incomplete) = (Vec::new(), (0, None));
    for outcome in outcomes {
        match outcome {
            Ok(v) => seconds.push(v["seconds"].as_f64().unwrap_or_default()),
            // The script stops at the first list it cannot get.
            Err(e) => {
                incomplete.0 += 1;
                incomplete.1.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let base = Crowd {
        // Each script times itself from after its imports: the Python
        // interpreters' start (on shared cores) stays out of its figure.
        wall: seconds.iter().copied().fold(0.0, f64::max),
        seconds,
        calls: counts.requests(),
        throttled: counts.throttled_by_service(),
        throttled_count: counts.throttled(),
        incomplete,
    };
    Ok((ours, base, shape))
}
