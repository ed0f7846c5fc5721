//! The discovery benchmark (`local-stack bench-discovery`): an account
//! seeded in every region the emulator offers it, discovered by our adapter
//! and by a plain sequential boto3 script in the same run, through a proxy
//! that adds 50 ms to every call and throttles as AWS does
//! ([`crate::throttle`]): once with moto answering every call, once with
//! the proxy replaying moto's answers ([`crate::latency`]: moto answers one
//! request at a time, AWS every region at once); then a Google Cloud
//! project and an Azure subscription ([`other_clouds`], against the fakes).
//! It prints figures and ratios against the goals; it asserts nothing.

use std::time::{Duration, Instant};

use jobs_adapters::cloud::{AwsCloud, CallCounter};
use jobs_domain::identity::{AwsAccount, CloudAccount, CloudIdentity, RegionSelection};
use jobs_domain::inventory::Inventory;
use jobs_domain::ports::ResourceDiscovery;

use crate::latency::{LatencyProxy, ProxyOptions};
use crate::seed::{SeedSpec, seed};
use crate::stack::LocalStack;
use crate::throttle::{AwsLimits, AwsThrottle, Counts};
use crate::{LocalError, Result, paths};

mod clouds;
mod crowd;
pub use clouds::other_clouds;

/// The owner of the benchmarks' identities.
const BENCH_OWNER: &str = "bench";
/// Added to every call.
const LATENCY_MS: u64 = 50;
/// Between two runs of one side: the account's buckets refill (Route 53's
/// five tokens take a second), as between discoveries minutes apart.
const BETWEEN_RUNS: Duration = Duration::from_millis(1200);
/// The width every adaptive window opens at (`DISCOVERY_CONCURRENCY`'s
/// default).
const WINDOW: usize = 8;

/// Pages of `n` items at `page` a page (an empty list is one page).
fn pages(n: usize, page: usize) -> usize {
    n.div_ceil(page).max(1)
}

/// What the account holds, as our adapter found it.
struct Shape {
    /// Per region: (VPCs, subnets, security groups).
    regions: Vec<(usize, usize, usize)>,
    zones: usize,
    users: usize,
}

impl Shape {
    fn of(inventory: &Inventory) -> Shape {
        let r = &inventory.resources;
        let count = |region: &str| {
            let n = |len: Option<usize>| len.unwrap_or(0);
            (
                n(r.vpcs.get(region).map(Vec::len)),
                n(r.subnets.get(region).map(Vec::len)),
                n(r.security_groups.get(region).map(Vec::len)),
            )
        };
        Shape {
            regions: inventory.regions.iter().map(|g| count(g)).collect(),
            zones: r.hosted_zones.len(),
            users: r.iam_users.len(),
        }
    }

    /// The fewest HTTP calls that list the account with each API's largest
    /// page: AssumeRole, DescribeRegions, then every page.
    fn minimum_calls(&self) -> usize {
        let regional: usize = self
            .regions
            .iter()
            .map(|(v, s, g)| pages(*v, 1000) + pages(*s, 1000) + pages(*g, 1000))
            .sum();
        2 + regional + pages(self.zones, 100) + pages(self.users, 1000)
    }

    /// Round trips that must follow one another: AssumeRole; then the
    /// longer of DescribeRegions followed by the longest regional chain of
    /// pages, and the longest global chain (which needs no region list).
    fn critical_path(&self) -> (usize, usize, usize) {
        let regional = self
            .regions
            .iter()
            .map(|(v, s, g)| pages(*v, 1000).max(pages(*s, 1000)).max(pages(*g, 1000)))
            .max()
            .unwrap_or(0);
        let global = pages(self.zones, 100).max(pages(self.users, 1000));
        (1 + (1 + regional).max(global), regional, global)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The regions moto offers an account: (enabled, opt-in ones not enabled).
async fn offered_regions(stack: &LocalStack) -> Result<(Vec<String>, Vec<String>)> {
    let out = aws_sdk_ec2::Client::new(&stack.sdk)
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .map_err(|e| {
            LocalError::Setup(format!(
                "listing the emulator's regions: {}",
                jobs_adapters::aws::source_chain(&e)
            ))
        })?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for r in out.regions.unwrap_or_default() {
        let name = r.region_name.unwrap_or_default();
        match r.opt_in_status.as_deref() {
            Some("not-opted-in") => off.push(name),
            _ => on.push(name),
        }
    }
    on.sort();
    off.sort();
    Ok((on, off))
}

pub async fn discovery(stack: &LocalStack, runs: usize) -> Result<()> {
    let (regions, opt_in) = offered_regions(stack).await?;
    let spec = SeedSpec {
        account: "222222222222".into(),
        role_name: "AlethiaDiscovery".into(),
        external_id: "bench-external-id".into(),
        regions: regions.clone(),
        vpcs_per_region: 4,
        subnets_per_vpc: 12,
        security_groups_per_region: 24,
        hosted_zones: 250,
        iam_users: 300,
        concurrency: 16,
    };
    println!(
        "The emulator's DescribeRegions lists {} regions: {} enabled for the account, {} opt-in regions not opted in \
         (where an account holds nothing; both clients skip them).",
        regions.len() + opt_in.len(),
        regions.len(),
        opt_in.len()
    );
    println!(
        "Seeding account {} in each of the {} enabled regions ({} VPCs x {} subnets, {} security groups per region), \
         {} hosted zones, {} IAM users, straight to the emulator ...",
        spec.account,
        regions.len(),
        spec.vpcs_per_region,
        spec.subnets_per_vpc,
        spec.security_groups_per_region,
        spec.hosted_zones,
        spec.iam_users
    );
    let started = Instant::now();
    let seeded = seed(&stack.sdk, &spec).await?;
    println!(
        "  seeded in {:.1} s: {} VPCs, {} subnets, {} security groups, {} hosted zones, {} IAM users (plus each region's defaults)",
        started.elapsed().as_secs_f64(),
        seeded.vpcs,
        seeded.subnets,
        seeded.security_groups,
        seeded.hosted_zones,
        seeded.iam_users
    );
    let identity = CloudIdentity {
        id: "bench".into(),
        owner: BENCH_OWNER.into(),
        account: CloudAccount::Aws(AwsAccount {
            role_arn: spec.role_arn(),
            external_id: spec.external_id.clone(),
            regions: RegionSelection::AllEnabled,
        }),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        version: 1,
    };

    println!(
        "\nDiscovery of the seeded account, \"all enabled regions\", through a proxy adding {LATENCY_MS} ms to every call and \
         throttling as AWS documents it (EC2: 100 tokens refilled at 20/s per account, Region and Describe action; Route 53: \
         5/s per account). Median of {runs} runs of each client, runs {:.1} s apart.",
        BETWEEN_RUNS.as_secs_f64()
    );
    for replay in [false, true] {
        let throttle = AwsThrottle::new(AwsLimits::documented());
        let proxy = LatencyProxy::start_with(
            &stack.aws_endpoint,
            ProxyOptions {
                delay: Duration::from_millis(LATENCY_MS),
                throttle: Some(throttle.clone()),
                replay,
            },
        )
        .await?;
        let measured = measure(stack, &identity, &spec, &proxy, &throttle, runs).await;
        proxy.stop();
        measured?.print(if replay {
            "B. moto's answers replayed by the proxy (recorded in a first, unmeasured run of each client): the emulator's \
             queue out of the figures, as AWS answers every region at once. The goals apply here."
        } else {
            "A. moto answering every call (one Python process, one request at a time: its queue adds to both clients)"
        });
    }
    crowd::crowded(stack, &identity, &spec).await
}

/// One client's figures.
struct Side {
    seconds: f64,
    calls: usize,
    /// What the proxy counted over all runs.
    counts: Counts,
    /// The time the emulator had one of a run's requests to answer;
    /// requests answered from a record in one run.
    emulator: Duration,
    replayed: usize,
    found: String,
}

struct Measured {
    ours: Side,
    base: Side,
    shape: Shape,
    runs: usize,
    /// Our process's CPU time in one of our runs (the proxy's included),
    /// and in one of the script's (the proxy's alone).
    cpu: Option<(f64, f64)>,
}

impl Measured {
    fn print(&self, label: &str) {
        println!("\n  {label}");
        println!("  found by ours:  {}", self.ours.found);
        println!("  found by boto3: {}", self.base.found);
        for (name, side) in [
            (
                format!("worker-jobs discovery (adaptive, windows of {WINDOW})"),
                &self.ours,
            ),
            ("plain sequential boto3 script".to_string(), &self.base),
        ] {
            println!(
                "  {name:<46} {:>7.3} s  {:>3} HTTP calls  throttled: {} in {} runs ({})  moto busy: {:.3} s{}",
                side.seconds,
                side.calls,
                side.counts.throttled(),
                self.runs,
                side.counts.throttled_by_service(),
                side.emulator.as_secs_f64(),
                if side.replayed > 0 {
                    format!(", {} answers replayed", side.replayed)
                } else {
                    String::new()
                }
            );
        }
        let minimum = self.shape.minimum_calls();
        let (trips, regional, global) = self.shape.critical_path();
        let critical = trips as f64 * LATENCY_MS as f64 / 1000.0;
        println!(
            "  ratio (boto3 / ours): {:.1}x (goal >= 5x); our calls: {} over the minimum of {minimum} (AssumeRole, \
             DescribeRegions, one page per 1000 EC2/IAM items, per 100 hosted zones)",
            self.base.seconds / self.ours.seconds,
            self.ours.calls as i64 - minimum as i64,
        );
        println!(
            "  critical path: {trips} round trips x {LATENCY_MS} ms = {critical:.3} s (AssumeRole; then DescribeRegions and \
             {regional} page per regional list, beside the longest global chain: {global} pages of hosted zones); \
             ours / critical path: {:.2}x (goal <= 1.5x)",
            self.ours.seconds / critical
        );
        if let Some((ours, proxy)) = self.cpu {
            println!(
                "  this process's CPU in one of our runs: {ours:.3} s, of which the proxy's about {proxy:.3} s (its CPU \
                 while it serves the script's same {} calls); {}, on {} cores shared with whatever else runs",
                self.base.calls,
                if cfg!(debug_assertions) {
                    "a debug build (local/demo.sh bench-discovery --release measures an optimized one)"
                } else {
                    "a release build"
                },
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
        }
    }
}

/// One run of the sequential boto3 script through `proxy`: its JSON line.
async fn baseline(
    stack: &LocalStack,
    spec: &SeedSpec,
    proxy: &LatencyProxy,
) -> Result<serde_json::Value> {
    let out = tokio::process::Command::new(paths::venv_bin("python")?)
        .arg(paths::root().join("local/stack/bench/discovery_baseline.py"))
        .arg(spec.role_arn())
        .arg(&spec.external_id)
        .arg("all")
        .envs(stack.env())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .output()
        .await
        .map_err(|e| LocalError::Setup(format!("running the boto3 baseline: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(LocalError::Setup(format!(
            "the boto3 baseline failed: {}",
            stderr.trim().lines().last().unwrap_or_default()
        )));
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map_err(|e| LocalError::Setup(e.to_string()))
}

/// This process's CPU time so far, in seconds (Linux: `/proc/self/stat`).
fn process_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (in parentheses): utime and stime
    // are the 12th and 13th, in ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

async fn measure(
    stack: &LocalStack,
    identity: &CloudIdentity,
    spec: &SeedSpec,
    proxy: &LatencyProxy,
    throttle: &AwsThrottle,
    runs: usize,
) -> Result<Measured> {
    let sdk =
        crate::aws_env::sdk_config(&proxy.endpoint, jobs_adapters::aws::ATTEMPT_TIMEOUT).await;
    let ours_once = || async {
        let counter = CallCounter::default();
        let cloud = AwsCloud::new(sdk.clone())
            .with_concurrency(WINDOW)
            .with_counter(counter.clone());
        let (started, cpu) = (Instant::now(), process_cpu());
        let inventory = cloud.discover(identity, "bench").await?;
        let cpu = cpu.zip(process_cpu()).map(|(a, b)| b - a);
        Ok::<_, LocalError>((
            started.elapsed().as_secs_f64(),
            cpu,
            counter.get(),
            inventory,
        ))
    };
    let base_once = || baseline(stack, spec, proxy);
    let replaying = |before: (usize, usize, Duration)| {
        let after = proxy.stats.get();
        (
            (after.2 - before.2) / runs as u32,
            (after.1 - before.1) / runs,
        )
    };

    // A first run of each fills the proxy's records when it replays.
    let (_, _, _, mut inventory) = ours_once().await?;
    base_once().await?;
    tokio::time::sleep(BETWEEN_RUNS).await;

    let (mut ours, mut ours_cpu, mut ours_calls) = (Vec::new(), Vec::new(), 0);
    let (before, stats) = (throttle.counts(), proxy.stats.get());
    for run in 0..runs {
        if run > 0 {
            tokio::time::sleep(BETWEEN_RUNS).await;
        }
        let (seconds, cpu, calls, found) = ours_once().await?;
        ours.push(seconds);
        ours_cpu.extend(cpu);
        ours_calls = calls;
        inventory = found;
    }
    let ours_counts = throttle.counts().since(&before);
    let (ours_emulator, ours_replayed) = replaying(stats);
    let summary = inventory.summary();
    if !summary.problems.is_empty() {
        println!(
            "  (ours reported {} problem(s), e.g. {:?})",
            summary.problems.len(),
            summary.problems.first().and_then(|p| p.message.clone())
        );
    }

    let (mut base, mut base_calls, mut base_found) = (Vec::new(), 0, String::new());
    tokio::time::sleep(BETWEEN_RUNS).await;
    let (before, stats) = (throttle.counts(), proxy.stats.get());
    let mut proxy_cpu = Vec::new();
    for run in 0..runs {
        if run > 0 {
            tokio::time::sleep(BETWEEN_RUNS).await;
        }
        let cpu = process_cpu();
        let v = base_once().await?;
        // This process only proxies while the script runs.
        proxy_cpu.extend(cpu.zip(process_cpu()).map(|(a, b)| b - a));
        base.push(v["seconds"].as_f64().unwrap_or_default());
        base_calls = v["calls"].as_u64().unwrap_or_default() as usize;
        let f = &v["found"];
        base_found = format!(
            "{} regions, {} VPCs, {} subnets, {} security groups, {} hosted zones, {} IAM users",
            v["regions"],
            f["vpcs"],
            f["subnets"],
            f["security_groups"],
            f["hosted_zones"],
            f["iam_users"]
        );
    }
    let base_counts = throttle.counts().since(&before);
    let (base_emulator, base_replayed) = replaying(stats);
    Ok(Measured {
        ours: Side {
            seconds: median(ours),
            calls: ours_calls,
            counts: ours_counts,
            emulator: ours_emulator,
            replayed: ours_replayed,
            found: format!(
                "{} regions, {} VPCs, {} subnets, {} security groups, {} hosted zones, {} IAM users",
                inventory.regions.len(),
                summary.vpcs,
                summary.subnets,
                summary.security_groups,
                summary.hosted_zones,
                summary.iam_users
            ),
        },
        base: Side {
            seconds: median(base),
            calls: base_calls,
            counts: base_counts,
            emulator: base_emulator,
            replayed: base_replayed,
            found: base_found,
        },
        shape: Shape::of(&inventory),
        runs,
        cpu: (!ours_cpu.is_empty() && !proxy_cpu.is_empty())
            .then(|| (median(ours_cpu), median(proxy_cpu))),
    })
}
