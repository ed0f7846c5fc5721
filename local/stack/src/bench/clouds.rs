//! The Google Cloud and Azure half of the discovery benchmark: a project
//! with every region Google lists today and a subscription, served by the
//! local fakes ([`crate::cloud_fakes`]) with 50 ms added to every request
//! and the providers' documented request quotas, discovered by our
//! adapters. Our wall time against the same requests one after another and
//! against the critical path; what the quotas refused.

use std::time::Instant;

use jobs_adapters::azure::AzureCloud;
use jobs_adapters::gcp::GcpCloud;
use jobs_adapters::rest::{Rest, RestStats};
use jobs_domain::identity::{CloudAccount, CloudIdentity, IdentityRequest};

use crate::cloud_fakes::{GcpSubnetwork, Quota, demo};
use crate::{LocalError, Result};

/// Google Cloud's regions (its public list): the fake's project has them all.
const GCP_REGIONS: [&str; 42] = [
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];
/// Networks, zones (and Azure's virtual networks, public and private zones).
const ITEMS: usize = 120;
/// Subnetworks in each Google region.
const SUBNETS_PER_REGION: usize = 20;
/// Items per page, whatever the client asks for.
const PAGE: usize = 50;
/// Added to every request the fakes answer.
const LATENCY_MS: u64 = 50;
/// Our adapters' opening window (`DISCOVERY_CONCURRENCY`'s default).
const WINDOW: usize = 8;

fn pages(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

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
        Ok(jobs_domain::SecretString::new(demo::AZURE_SECRET))
    }
}

fn identity(id: &str, body: serde_json::Value) -> Result<CloudIdentity> {
    let account =
        match IdentityRequest::parse(&body).map_err(|e| LocalError::Setup(e.to_string()))? {
            IdentityRequest::Gcp(g) => CloudAccount::Gcp(g),
            IdentityRequest::Azure {
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
    let now = chrono::Utc::now();
    Ok(CloudIdentity {
        id: id.into(),
        owner: "bench".into(),
        account,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Discovery of a Google Cloud project (every region Google lists, 20
/// subnetworks in each, 120 networks and zones) and an Azure subscription
/// (120 virtual networks, public and private zones), 50 per page, with 50
/// ms added to every request and each provider's request quota.
pub async fn other_clouds(runs: usize) -> Result<()> {
    let (google, azure) = demo::start(ITEMS, PAGE).await?;
    google.update(|w| {
        let p = &mut w.projects[0];
        p.regions = GCP_REGIONS.map(String::from).into();
        p.subnetworks = GCP_REGIONS
            .iter()
            .enumerate()
            .flat_map(|(r, region)| {
                (0..SUBNETS_PER_REGION).map(move |i| {
                    let k = r * SUBNETS_PER_REGION + i;
                    GcpSubnetwork {
                        region: region.to_string(),
                        network: format!("net-{}", i % ITEMS),
                        name: format!("{region}-subnet-{i}"),
                        cidr: format!("10.{}.{}.0/24", k / 256, k % 256),
                    }
                })
            })
            .collect();
    });
    google.set_latency(std::time::Duration::from_millis(LATENCY_MS));
    azure.set_latency(std::time::Duration::from_millis(LATENCY_MS));
    google.set_quota(Some(Quota::GOOGLE_LISTS));
    azure.set_quota(Some(Quota::AZURE_READS));
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
    let gcp_identity = identity("bench-gcp", demo::gcp_identity())?;
    let azure_identity = identity("bench-azure", demo::azure_identity())?;
    println!(
        "\nDiscovery of a Google Cloud project ({} regions, {SUBNETS_PER_REGION} subnetworks in each, {ITEMS} networks and DNS zones) \
         and an Azure subscription ({ITEMS} virtual networks, public and private DNS zones), served {PAGE} per page by the \
         local fakes with {LATENCY_MS} ms added to every request and the providers' documented quotas (Compute Engine: 1,500 \
         list requests a minute per project; Resource Manager: 250 reads refilled at 25/s per subscription). Median of {runs} runs:",
        GCP_REGIONS.len()
    );
    for provider in ["Google Cloud", "Azure"] {
        let (mut walls, mut sums, mut requests, mut throttled, mut found) =
            (Vec::new(), Vec::new(), 0, 0, String::new());
        let refused_before = google.throttled_count() + azure.throttled_count();
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
                    .with_concurrency(WINDOW)
                    .discover(&gcp_identity)
                    .await?
            };
            walls.push(started.elapsed().as_secs_f64());
            sums.push(stats.sequential().as_secs_f64());
            requests = stats.requests();
            throttled += stats.throttled();
            let s = inventory.summary();
            found = format!(
                "{} regions, {} networks, {} subnets, {} DNS zones",
                inventory.resources.subnets.len(),
                s.vpcs,
                s.subnets,
                s.hosted_zones
            );
        }
        let refused = google.throttled_count() + azure.throttled_count() - refused_before;
        // Round trips that must follow one another. Google: the STS
        // exchange, generateAccessToken, then the longer of the region
        // list followed by one region's subnetworks, and the networks' or
        // zones' pages (which need no region list). Azure: the token, the
        // subscription, then the longest of its three lists.
        let chain = if provider == "Azure" {
            2 + pages(ITEMS)
        } else {
            2 + (pages(GCP_REGIONS.len()) + pages(SUBNETS_PER_REGION)).max(pages(ITEMS))
        };
        let critical = chain as f64 * LATENCY_MS as f64 / 1000.0;
        let (wall, sum) = (median(walls), median(sums));
        println!("\n  {provider}: found {found} in {requests} requests");
        println!(
            "  {:<46} {:>7.3} s   throttled: {throttled} in {runs} runs (the fake refused {refused})",
            if provider == "Azure" {
                "worker-jobs discovery (its three lists at once)".to_string()
            } else {
                format!("worker-jobs discovery (adaptive, windows of {WINDOW})")
            },
            wall
        );
        println!(
            "  {:<46} {:>7.3} s   ratio {:.1}x (goal >= 5x{})",
            "the same requests one after another (sum)",
            sum,
            sum / wall,
            if provider == "Azure" {
                format!(
                    "; about {:.1}x at best here: {} requests in all against a critical path of {chain}, as its three \
                     lists are chains of pages",
                    (2 + 3 * pages(ITEMS)) as f64 / chain as f64,
                    2 + 3 * pages(ITEMS)
                )
            } else {
                String::new()
            }
        );
        println!(
            "  {:<46} {:>7.3} s   ours / critical path {:.2}x (goal <= 1.5x)",
            format!("critical path ({chain} round trips x {LATENCY_MS} ms)"),
            critical,
            wall / critical
        );
    }
    google.stop();
    azure.stop();
    Ok(())
}
