//! An emulated customer account: the role the platform assumes (with a
//! trust policy naming the platform and the ExternalId it issued) and VPCs,
//! subnets, security groups, hosted zones and IAM users to discover.
//!
//! moto keeps each account apart by the credentials used: assuming a role
//! in account 111111111111 gives credentials that create resources there.

use aws_credential_types::Credentials;
use aws_types::SdkConfig;
use aws_types::region::Region;
use futures::StreamExt;
use jobs_adapters::aws::source_chain;
use serde_json::json;

use crate::{LocalError, Result};

/// What to create.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub account: String,
    pub role_name: String,
    pub external_id: String,
    pub regions: Vec<String>,
    pub vpcs_per_region: usize,
    pub subnets_per_vpc: usize,
    pub security_groups_per_region: usize,
    pub hosted_zones: usize,
    pub iam_users: usize,
    /// Calls in flight while seeding.
    pub concurrency: usize,
}

impl SeedSpec {
    /// The demo's customer: two regions, a few of everything.
    pub fn demo(external_id: &str) -> SeedSpec {
        SeedSpec {
            account: "111111111111".into(),
            role_name: "AlethiaDiscovery".into(),
            external_id: external_id.into(),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            vpcs_per_region: 2,
            subnets_per_vpc: 3,
            security_groups_per_region: 4,
            hosted_zones: 3,
            iam_users: 5,
            concurrency: 8,
        }
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.role_name)
    }
}

/// Counts of what was created (beyond what the emulator has by default,
/// such as each region's default VPC).
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub vpcs: usize,
    pub subnets: usize,
    pub security_groups: usize,
    pub hosted_zones: usize,
    pub iam_users: usize,
}

/// Runs `call` for every item, `concurrency` at a time; answers how many
/// succeeded, or the first error.
async fn all<T, F, Fut>(
    concurrency: usize,
    items: impl IntoIterator<Item = T>,
    what: &str,
    call: F,
) -> Result<usize>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let results: Vec<std::result::Result<(), String>> = futures::stream::iter(items)
        .map(call)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut n = 0;
    for r in results {
        r.map_err(fail(what))?;
        n += 1;
    }
    Ok(n)
}

fn fail(what: &str) -> impl Fn(String) -> LocalError + '_ {
    move |e| LocalError::Setup(format!("seeding the customer account ({what}): {e}"))
}

/// Credentials inside the customer account (moto does not check the trust
/// policy, so the platform's own credentials can assume any role).
pub async fn customer_credentials(platform: &SdkConfig, spec: &SeedSpec) -> Result<Credentials> {
    let sts = aws_sdk_sts::Client::new(platform);
    let out = sts
        .assume_role()
        .role_arn(spec.role_arn())
        .role_session_name("seed")
        .external_id(&spec.external_id)
        .send()
        .await
        .map_err(|e| {
            LocalError::Setup(format!(
                "assuming the customer role to seed it: {}",
                jobs_adapters::aws::source_chain(&e)
            ))
        })?;
    let c = out
        .credentials
        .ok_or_else(|| LocalError::Setup("AssumeRole returned no credentials".into()))?;
    Ok(Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        None,
        "seed",
    ))
}

fn ec2(platform: &SdkConfig, creds: &Credentials, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(platform)
            .region(Region::new(region.to_string()))
            .credentials_provider(creds.clone())
            .build(),
    )
}

pub async fn seed(platform: &SdkConfig, spec: &SeedSpec) -> Result<Seeded> {
    let creds = customer_credentials(platform, spec).await?;
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(platform)
            .credentials_provider(creds.clone())
            .build(),
    );
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": spec.external_id}}
        }]
    });
    let _ = iam
        .create_role()
        .role_name(&spec.role_name)
        .assume_role_policy_document(trust.to_string())
        .description("Lets the Alethia platform discover this account (read-only)")
        .send()
        .await;

    let mut seeded = Seeded::default();
    for region in &spec.regions {
        let client = ec2(platform, &creds, region);
        let mut vpc_ids = Vec::new();
        for v in 0..spec.vpcs_per_region {
            let out = client
                .create_vpc()
                .cidr_block(format!("10.{}.0.0/16", v + 1))
                .send()
                .await
                .map_err(|e| fail("vpc")(jobs_adapters::aws::source_chain(&e)))?;
            let id = out
                .vpc
                .and_then(|v| v.vpc_id)
                .ok_or_else(|| fail("vpc")("no id".into()))?;
            vpc_ids.push((v, id));
            seeded.vpcs += 1;
        }
        let subnet_jobs: Vec<(String, String)> = vpc_ids
            .iter()
            .flat_map(|(v, id)| {
                (0..spec.subnets_per_vpc).map(move |s| {
                    // Up to 256 /24s per /16, then /26s within them.
                    let cidr = if spec.subnets_per_vpc <= 256 {
                        format!("10.{}.{}.0/24", v + 1, s)
                    } else {
                        format!("10.{}.{}.{}/26", v + 1, s / 4, (s % 4) * 64)
                    };
                    (id.clone(), cidr)
                })
            })
            .collect();
        seeded.subnets += all(spec.concurrency, subnet_jobs, "subnet", |(vpc, cidr)| {
            let client = client.clone();
            async move {
                client
                    .create_subnet()
                    .vpc_id(vpc)
                    .cidr_block(cidr)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| source_chain(&e))
            }
        })
        .await?;
        seeded.security_groups += all(
            spec.concurrency,
            0..spec.security_groups_per_region,
            "security group",
            |g| {
                let client = client.clone();
                let vpc = vpc_ids
                    .get(g % vpc_ids.len().max(1))
                    .map(|(_, id)| id.clone());
                async move {
                    let mut req = client
                        .create_security_group()
                        .group_name(format!("app-{g}"))
                        .description(format!("application tier {g}"));
                    if let Some(v) = vpc {
                        req = req.vpc_id(v);
                    }
                    req.send().await.map(|_| ()).map_err(|e| source_chain(&e))
                }
            },
        )
        .await?;
    }

    let route53 = aws_sdk_route53::Client::from_conf(
        aws_sdk_route53::config::Builder::from(platform)
            .credentials_provider(creds.clone())
            .build(),
    );
    seeded.hosted_zones = all(spec.concurrency, 0..spec.hosted_zones, "hosted zone", |z| {
        let route53 = route53.clone();
        async move {
            route53
                .create_hosted_zone()
                .name(format!("zone{z}.acme.example"))
                .caller_reference(format!("seed-{z}"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| source_chain(&e))
        }
    })
    .await?;
    seeded.iam_users = all(spec.concurrency, 0..spec.iam_users, "iam user", |u| {
        let iam = iam.clone();
        async move {
            iam.create_user()
                .user_name(format!("engineer-{u}"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| source_chain(&e))
        }
    })
    .await?;
    Ok(seeded)
}
