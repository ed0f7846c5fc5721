//! The discovery benchmark (`local-stack bench-discovery`): a seeded account
//! (3 regions x 10 VPCs x 50 subnets, 300 security groups, 200 hosted
//! zones, 300 IAM users) discovered by our adapter, against the same
//! account discovered by a plain sequential boto3 script in the same run.
//! It prints figures and ratios; it asserts nothing.

use std::time::Instant;

use jobs_adapters::cloud::{AwsCloud, CallCounter};
use jobs_domain::identity::{AwsAccount, CloudAccount, CloudIdentity, RegionSelection};
use jobs_domain::ports::ResourceDiscovery;
use jobs_domain::region::Region;

use crate::seed::{SeedSpec, seed};
use crate::stack::LocalStack;
use crate::{LocalError, Result, paths};

/// The owner of the benchmarks' identities.
const BENCH_OWNER: &str = "bench";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// The smallest number of HTTP calls that can list what the account holds
/// with each API's largest page: AssumeRole, DescribeRegions, then pages.
fn minimum_calls(per_region: &[(usize, usize, usize)], zones: usize, users: usize) -> usize {
    let pages = |n: usize, page: usize| n.div_ceil(page).max(1);
    let regional: usize = per_region
        .iter()
        .map(|(v, s, g)| pages(*v, 1000) + pages(*s, 1000) + pages(*g, 1000))
        .sum();
    2 + regional + pages(zones, 100) + pages(users, 1000)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn discovery(stack: &LocalStack, runs: usize) -> Result<()> {
    let spec = SeedSpec {
        account: "222222222222".into(),
        role_name: "AlethiaDiscovery".into(),
        external_id: "bench-external-id".into(),
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        vpcs_per_region: 10,
        subnets_per_vpc: 50,
        security_groups_per_region: 100,
        hosted_zones: 200,
        iam_users: 300,
        concurrency: 16,
    };
    println!(
        "Seeding account {}: 3 regions x 10 VPCs x 50 subnets, 300 security groups, 200 hosted zones, 300 IAM users ...",
        spec.account
    );
    seed(&stack.sdk, &spec).await?;
    let identity = CloudIdentity {
        id: "bench".into(),
        owner: BENCH_OWNER.into(),
        account: CloudAccount::Aws(AwsAccount {
            role_arn: spec.role_arn(),
            external_id: spec.external_id.clone(),
            regions: RegionSelection::Listed {
                regions: REGIONS
                    .iter()
                    .map(|r| Region::parse("region", r))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| LocalError::Setup(e.to_string()))?,
            },
        }),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        version: 1,
    };

    println!(
        "\nDiscovery of the seeded account (median of {runs} runs of each, same moto, same run):"
    );
    let direct = measure(stack, &identity, &spec, &stack.aws_endpoint, runs).await?;
    direct.print("on loopback (moto answers in about a millisecond)");
    let proxy = crate::latency::LatencyProxy::start(
        &stack.aws_endpoint,
        std::time::Duration::from_millis(LATENCY_MS),
    )
    .await?;
    let slow = measure(stack, &identity, &spec, &proxy.endpoint, runs).await;
    proxy.stop();
    slow?.print(&format!(
        "with {LATENCY_MS} ms added to every call (a client some distance from the AWS endpoint)"
    ));
    Ok(())
}

/// Added latency per call in the second measurement.
const LATENCY_MS: u64 = 40;

struct Measured {
    ours: f64,
    our_calls: usize,
    base: f64,
    base_calls: usize,
    minimum: usize,
    found: String,
    base_found: serde_json::Value,
}

impl Measured {
    fn print(&self, label: &str) {
        println!("\n  {label}");
        println!(
            "  found: {} (baseline found {})",
            self.found, self.base_found
        );
        println!(
            "  {:<44} {:>8.3} s   {:>4} HTTP calls",
            "worker-jobs discovery (parallel, bound 8)", self.ours, self.our_calls
        );
        println!(
            "  {:<44} {:>8.3} s   {:>4} HTTP calls",
            "plain sequential boto3 script", self.base, self.base_calls
        );
        println!(
            "  minimum pages for this account: {} calls (AssumeRole, DescribeRegions, one page per 1000 EC2/IAM items, per 100 hosted zones)",
            self.minimum
        );
        println!(
            "  ratio (baseline time / ours): {:.2}x    our calls over the minimum: {}",
            self.base / self.ours,
            self.our_calls as i64 - self.minimum as i64
        );
    }
}

async fn measure(
    stack: &LocalStack,
    identity: &CloudIdentity,
    spec: &SeedSpec,
    endpoint: &str,
    runs: usize,
) -> Result<Measured> {
    let sdk = crate::aws_env::sdk_config(endpoint, jobs_adapters::aws::ATTEMPT_TIMEOUT).await;
    let mut ours = Vec::new();
    let mut our_calls = 0;
    let mut found = None;
    for _ in 0..runs {
        let counter = CallCounter::default();
        let cloud = AwsCloud::new(sdk.clone()).with_counter(counter.clone());
        let started = Instant::now();
        let inventory = cloud.discover(identity, "bench").await?;
        ours.push(started.elapsed().as_secs_f64());
        our_calls = counter.get();
        found = Some(inventory);
    }
    let inventory = found.ok_or_else(|| LocalError::Setup("no run".into()))?;
    let summary = inventory.summary();
    let per_region: Vec<(usize, usize, usize)> = REGIONS
        .iter()
        .map(|r| {
            let n = |m: &std::collections::BTreeMap<String, Vec<_>>| {
                m.get(*r).map(Vec::len).unwrap_or(0)
            };
            (
                n(&inventory.resources.vpcs),
                inventory
                    .resources
                    .subnets
                    .get(*r)
                    .map(Vec::len)
                    .unwrap_or(0),
                inventory
                    .resources
                    .security_groups
                    .get(*r)
                    .map(Vec::len)
                    .unwrap_or(0),
            )
        })
        .collect();
    let minimum = minimum_calls(&per_region, summary.hosted_zones, summary.iam_users);

    let python = paths::venv_bin("python")?;
    let script = paths::root().join("local/stack/bench/discovery_baseline.py");
    let mut base = Vec::new();
    let mut base_calls = 0;
    let mut base_found = serde_json::Value::Null;
    for _ in 0..runs {
        let out = tokio::process::Command::new(&python)
            .arg(&script)
            .arg(spec.role_arn())
            .arg(&spec.external_id)
            .arg(REGIONS.join(","))
            .envs(stack.env())
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .await
            .map_err(|e| LocalError::Setup(format!("running the boto3 baseline: {e}")))?;
        if !out.status.success() {
            return Err(LocalError::Setup(format!(
                "the boto3 baseline failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| LocalError::Setup(e.to_string()))?;
        base.push(v["seconds"].as_f64().unwrap_or_default());
        base_calls = v["calls"].as_u64().unwrap_or_default() as usize;
        base_found = v["found"].clone();
    }
    Ok(Measured {
        ours: median(ours),
        our_calls,
        base: median(base),
        base_calls,
        minimum,
        found: format!(
            "{} VPCs, {} subnets, {} security groups, {} hosted zones, {} IAM users",
            summary.vpcs,
            summary.subnets,
            summary.security_groups,
            summary.hosted_zones,
            summary.iam_users
        ),
        base_found,
    })
}

/// Items of each type in the benchmark's Google project and Azure
/// subscription, and the page size the fakes serve them in.
const OTHER_ITEMS: usize = 60;
const OTHER_PAGE: usize = 10;
/// Added to every request the fakes answer.
const OTHER_LATENCY_MS: u64 = 50;

/// The Azure client secret, as the platform's secret store would give it.
struct FixedSecret;

#[async_trait::async_trait]
impl jobs_domain::ports::IdentitySecrets for FixedSecret {
    async fn put(
        &self,
        _: &str,
        _: &str,
        _: &jobs_domain::SecretString,
    ) -> jobs_domain::ports::PortResult<String> {
        Ok("bench".into())
    }

    async fn get(&self, _: &str) -> jobs_domain::ports::PortResult<jobs_domain::SecretString> {
        Ok(jobs_domain::SecretString::new(
            crate::cloud_fakes::demo::AZURE_SECRET,
        ))
    }
}

/// Discovery of a Google Cloud project and an Azure subscription (the
/// fakes, 60 items of each type served 10 per page, 50 ms added to every
/// request): our wall time against the sum of the same requests made one
/// after another, and against the critical path (the round trips that must
/// follow each other: token exchanges, then the longest chain of pages).
pub async fn other_clouds(runs: usize) -> Result<()> {
    use crate::cloud_fakes::demo;
    use jobs_adapters::azure::AzureCloud;
    use jobs_adapters::gcp::GcpCloud;
    use jobs_adapters::rest::{Rest, RestStats};

    let (google, azure) = demo::start(OTHER_ITEMS, OTHER_PAGE).await?;
    google.set_latency(std::time::Duration::from_millis(OTHER_LATENCY_MS));
    azure.set_latency(std::time::Duration::from_millis(OTHER_LATENCY_MS));
    let platform = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    "AKIDBENCHMARK",
                    "bench-secret",
                    None,
                    None,
                    "bench",
                ),
            ),
        )
        .build();
    let now = chrono::Utc::now();
    let identity = |id: &str, body: serde_json::Value| -> Result<CloudIdentity> {
        let account = match jobs_domain::identity::IdentityRequest::parse(&body)
            .map_err(|e| LocalError::Setup(e.to_string()))?
        {
            jobs_domain::identity::IdentityRequest::Gcp(g) => CloudAccount::Gcp(g),
            jobs_domain::identity::IdentityRequest::Azure {
                tenant_id,
                client_id,
                subscription_id,
                ..
            } => CloudAccount::Azure(jobs_domain::identity::AzureAccount {
                tenant_id,
                client_id,
                subscription_id,
                client_secret_ref: "bench".into(),
            }),
            other => return Err(LocalError::Setup(format!("unexpected {other:?}"))),
        };
        Ok(CloudIdentity {
            id: id.into(),
            owner: BENCH_OWNER.into(),
            account,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    };
    let gcp_identity = identity("bench-gcp", demo::gcp_identity())?;
    let azure_identity = identity("bench-azure", demo::azure_identity())?;
    let pages = OTHER_ITEMS.div_ceil(OTHER_PAGE);
    println!(
        "\nDiscovery of a Google Cloud project (3 regions) and an Azure subscription, {OTHER_ITEMS} items of each type served {OTHER_PAGE} per page by the local fakes, {OTHER_LATENCY_MS} ms added to every request (median of {runs} runs):"
    );
    for provider in ["Google Cloud", "Azure"] {
        let (mut walls, mut sums, mut requests, mut found) =
            (Vec::new(), Vec::new(), 0, String::new());
        for _ in 0..runs {
            let stats = RestStats::default();
            let rest = Rest::new(jobs_adapters::aws::ATTEMPT_TIMEOUT)
                .map_err(|e| LocalError::Setup(e.message))?
                .with_stats(stats.clone());
            let started = Instant::now();
            let inventory = if provider == "Azure" {
                AzureCloud::new(
                    rest,
                    demo::azure_endpoints(&azure),
                    std::sync::Arc::new(FixedSecret),
                )
                .discover(&azure_identity)
                .await?
            } else {
                GcpCloud::new(rest, demo::gcp_endpoints(&google), platform.clone())
                    .discover(&gcp_identity)
                    .await?
            };
            walls.push(started.elapsed().as_secs_f64());
            sums.push(stats.sequential().as_secs_f64());
            requests = stats.requests();
            let s = inventory.summary();
            found = format!(
                "{} networks, {} subnets, {} DNS zones",
                s.vpcs, s.subnets, s.hosted_zones
            );
        }
        // Round trips that must follow each other: Google: STS exchange,
        // generateAccessToken, the regions list, then the longest list;
        // Azure: the token, the subscription, then the longest list.
        let chain = if provider == "Azure" { 2 } else { 3 } + pages;
        let critical = chain as f64 * OTHER_LATENCY_MS as f64 / 1000.0;
        let (wall, sum) = (median(walls), median(sums));
        println!("\n  {provider}: found {found} in {requests} requests");
        println!(
            "  {:<44} {:>8.3} s",
            "worker-jobs discovery (parallel, bound 8)", wall
        );
        println!(
            "  {:<44} {:>8.3} s   ratio {:.2}x",
            "the same requests one after another (sum)",
            sum,
            sum / wall
        );
        println!(
            "  {:<44} {:>8.3} s   ours / critical path {:.2}x",
            format!("critical path ({chain} round trips x {OTHER_LATENCY_MS} ms)"),
            critical,
            wall / critical
        );
    }
    google.stop();
    azure.stop();
    Ok(())
}
