//! Access to a customer's AWS account: `sts:AssumeRole` with the
//! platform-issued ExternalId, `sts:GetCallerIdentity`, and discovery of
//! VPCs, subnets and security groups per region, Route 53 hosted zones and
//! IAM users (global). Every page is read; each (type, region) gets its own
//! outcome. Everything runs at once, paced per throttling bucket (an AWS
//! service in a region, as EC2 throttles per account and Region, Route 53
//! and IAM per account) by an adaptive window ([`adaptive`]): wide while
//! the service keeps up, halved when it throttles, while the SDK retries the
//! throttled call with back-off. The global types do not wait for the
//! region list. The temporary credentials exist only inside this module, in
//! SDK credential objects that redact their secret in `Debug`.

pub mod adaptive;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::region::Region as SdkRegion;
use chrono::Utc;
use jobs_domain::identity::{AwsAccount, CloudAccount, CloudIdentity, RegionSelection, RoleArn};
use jobs_domain::inventory::{
    FetchOutcome, FetchStatus, GLOBAL, HostedZone, IamUser, Inventory, ResourceType, Resources,
    SecurityGroup, Subnet, Vpc,
};
use jobs_domain::ports::{CallerIdentity, IdentityVerifier, PortResult, ResourceDiscovery};
use jobs_domain::{ErrorKind, StepError};

use crate::aws::{ThrottleSignal, classify, error_code};
use adaptive::{Window, Windows};

/// Counts every HTTP attempt made by the clients it is attached to (the
/// discovery benchmark compares it with the minimum number of pages).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(pub Arc<AtomicUsize>);

impl CallCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A client of SDK crate `$sdk` in `$region`, with the given credentials
/// (the platform's own when `None`), the call counter, if any, and its
/// attempts reported to `$window`, if any. The endpoint comes from the
/// shared configuration.
macro_rules! client {
    ($sdk:ident, $cloud:expr, $credentials:expr, $region:expr, $window:expr) => {{
        let mut b =
            $sdk::config::Builder::from(&$cloud.base).region(SdkRegion::new($region.to_string()));
        if let Some(c) = $credentials {
            b = b.credentials_provider(c);
        }
        if let Some(counter) = &$cloud.counter {
            b = b.interceptor(counter.clone());
        }
        if let Some(w) = $window {
            b = b.interceptor(ThrottleSignal(w));
        }
        $sdk::Client::from_conf(b.build())
    }};
}

/// Reads every page of a paginator (`$pages`), each within room in
/// `$window`, mapping the items of each page; an error names the call
/// (`$what`).
macro_rules! all_pages {
    ($window:expr, $pages:expr, $what:expr, |$page:ident| $items:expr, |$item:ident| $map:expr) => {{
        let window: &Arc<Window> = $window;
        let mut pages = $pages;
        let mut out = Vec::new();
        loop {
            // The paginator sends the next request when polled, not before.
            let permit = window.acquire().await;
            let Some($page) = pages.next().await else {
                break;
            };
            drop(permit);
            let $page = $page.map_err(|e| classify(&$what, e))?;
            for $item in $items {
                out.push($map);
            }
        }
        out
    }};
}

/// The customer-account adapter.
pub struct AwsCloud {
    base: SdkConfig,
    concurrency: usize,
    counter: Option<CallCounter>,
    session_seconds: i32,
}

/// Page sizes: the largest each API allows, so that the fewest calls are made.
const EC2_PAGE: i32 = 1000;
const ROUTE53_PAGE: i32 = 100;
const IAM_PAGE: i32 = 1000;

/// What one discovery task found.
enum Found {
    Vpcs(Vec<Vpc>),
    Subnets(Vec<Subnet>),
    SecurityGroups(Vec<SecurityGroup>),
    HostedZones(Vec<HostedZone>),
    IamUsers(Vec<IamUser>),
}

impl Found {
    fn len(&self) -> usize {
        match self {
            Found::Vpcs(v) => v.len(),
            Found::Subnets(v) => v.len(),
            Found::SecurityGroups(v) => v.len(),
            Found::HostedZones(v) => v.len(),
            Found::IamUsers(v) => v.len(),
        }
    }
}

fn tag_name(tags: Option<&[aws_sdk_ec2::types::Tag]>) -> Option<String> {
    tags?
        .iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// The region used for global services (IAM, Route 53, STS) in a partition.
fn home_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

impl AwsCloud {
    /// `base` carries the platform's own credentials, region and endpoint.
    pub fn new(base: SdkConfig) -> Self {
        AwsCloud {
            base,
            concurrency: 8,
            counter: None,
            session_seconds: 900,
        }
    }

    /// Each throttling bucket (a service in a region) starts with `n` calls
    /// in flight; its window then adapts ([`adaptive`]), between one call
    /// and eight times `n`.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Counts the HTTP attempts of the customer-account clients.
    pub fn with_counter(mut self, counter: CallCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    fn sts(&self, credentials: Option<Credentials>, region: &str) -> aws_sdk_sts::Client {
        client!(aws_sdk_sts, self, credentials, region, None::<Arc<Window>>)
    }

    fn ec2(&self, credentials: &Credentials, region: &str, w: &Arc<Window>) -> aws_sdk_ec2::Client {
        client!(
            aws_sdk_ec2,
            self,
            Some(credentials.clone()),
            region,
            Some(w.clone())
        )
    }

    fn route53(
        &self,
        credentials: &Credentials,
        region: &str,
        w: &Arc<Window>,
    ) -> aws_sdk_route53::Client {
        client!(
            aws_sdk_route53,
            self,
            Some(credentials.clone()),
            region,
            Some(w.clone())
        )
    }

    fn iam(&self, credentials: &Credentials, region: &str, w: &Arc<Window>) -> aws_sdk_iam::Client {
        client!(
            aws_sdk_iam,
            self,
            Some(credentials.clone()),
            region,
            Some(w.clone())
        )
    }

    /// Assumes the identity's role. The credentials never leave this type.
    async fn assume(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<(Credentials, RoleArn)> {
        let identity = aws_account(identity)?;
        let role = RoleArn::parse("role_arn", &identity.role_arn)
            .map_err(|e| StepError::invalid(e.to_string()))?;
        let sts = self.sts(None, home_region(&role.partition));
        let result = sts
            .assume_role()
            .role_arn(&identity.role_arn)
            .role_session_name(session_name)
            .external_id(&identity.external_id)
            .duration_seconds(self.session_seconds)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if matches!(
                    error_code(&e),
                    Some("AccessDenied" | "AccessDeniedException")
                ) =>
            {
                return Err(StepError::new(
                    ErrorKind::AccessDenied,
                    format!(
                        "The platform could not assume {}: AssumeRole was denied. Check that the role exists, that its trust \
                         policy allows the platform's principal to call sts:AssumeRole, and that it requires the ExternalId \
                         {} (condition sts:ExternalId). ({})",
                        identity.role_arn,
                        identity.external_id,
                        classify("AssumeRole", e).message
                    ),
                ));
            }
            Err(e) => return Err(classify(&format!("assuming {}", identity.role_arn), e)),
        };
        let c = out
            .credentials
            .ok_or_else(|| StepError::internal("AssumeRole answered without credentials"))?;
        let expiry = std::time::SystemTime::try_from(c.expiration).ok();
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "alethia-assumed-role",
        );
        Ok((credentials, role))
    }

    async fn caller(
        &self,
        credentials: &Credentials,
        role: &RoleArn,
    ) -> PortResult<CallerIdentity> {
        let out = self
            .sts(Some(credentials.clone()), home_region(&role.partition))
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("verifying the assumed identity (GetCallerIdentity)", e))?;
        let identity = CallerIdentity {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
            user_id: out.user_id.unwrap_or_default(),
        };
        if identity.account != role.account_id {
            return Err(StepError::new(
                ErrorKind::AccessDenied,
                format!(
                    "The assumed identity belongs to account {}, not to {} named in the role ARN",
                    identity.account, role.account_id
                ),
            ));
        }
        Ok(identity)
    }

    /// The regions to scan, and those requested but not enabled.
    async fn regions(
        &self,
        identity: &CloudIdentity,
        credentials: &Credentials,
        role: &RoleArn,
        windows: &Windows,
    ) -> PortResult<(Vec<String>, Vec<String>)> {
        let home = home_region(&role.partition);
        let window = windows.get(&bucket("ec2", home));
        let permit = window.acquire().await;
        let out = self
            .ec2(credentials, home, &window)
            .describe_regions()
            .all_regions(true)
            .send()
            .await
            .map_err(|e| classify("listing the account's regions (ec2:DescribeRegions)", e))?;
        drop(permit);
        let mut enabled = Vec::new();
        for r in out.regions.unwrap_or_default() {
            let status = r.opt_in_status.as_deref().unwrap_or("opt-in-not-required");
            if status != "not-opted-in"
                && let Some(name) = r.region_name
            {
                enabled.push(name);
            }
        }
        enabled.sort();
        match &aws_account(identity)?.regions {
            RegionSelection::AllEnabled => Ok((enabled, Vec::new())),
            RegionSelection::Listed { regions } => {
                let (on, off): (Vec<String>, Vec<String>) = regions
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .partition(|r| enabled.contains(r));
                Ok((on, off))
            }
        }
    }

    async fn fetch(
        &self,
        credentials: &Credentials,
        kind: ResourceType,
        region: &str,
        windows: &Windows,
    ) -> PortResult<Found> {
        let service = match kind {
            ResourceType::HostedZones => "route53",
            ResourceType::IamUsers => "iam",
            _ => "ec2",
        };
        let window = &windows.get(&bucket(service, region));
        Ok(match kind {
            ResourceType::Vpcs => Found::Vpcs(all_pages!(
                window,
                self.ec2(credentials, region, window)
                    .describe_vpcs()
                    .max_results(EC2_PAGE)
                    .into_paginator()
                    .send(),
                format!("ec2:DescribeVpcs in {region}"),
                |page| page.vpcs.unwrap_or_default(),
                |v| Vpc {
                    id: v.vpc_id.clone().unwrap_or_default(),
                    cidr_block: v.cidr_block.clone().unwrap_or_default(),
                    is_default: v.is_default.unwrap_or(false),
                    name: tag_name(v.tags.as_deref()),
                    state: v.state.map(|s| s.as_str().to_string()),
                }
            )),
            ResourceType::Subnets => Found::Subnets(all_pages!(
                window,
                self.ec2(credentials, region, window)
                    .describe_subnets()
                    .max_results(EC2_PAGE)
                    .into_paginator()
                    .send(),
                format!("ec2:DescribeSubnets in {region}"),
                |page| page.subnets.unwrap_or_default(),
                |s| Subnet {
                    id: s.subnet_id.clone().unwrap_or_default(),
                    vpc_id: s.vpc_id.clone().unwrap_or_default(),
                    cidr_block: s.cidr_block.clone().unwrap_or_default(),
                    availability_zone: s.availability_zone.clone().unwrap_or_default(),
                    name: tag_name(s.tags.as_deref()),
                }
            )),
            ResourceType::SecurityGroups => Found::SecurityGroups(all_pages!(
                window,
                self.ec2(credentials, region, window)
                    .describe_security_groups()
                    .max_results(EC2_PAGE)
                    .into_paginator()
                    .send(),
                format!("ec2:DescribeSecurityGroups in {region}"),
                |page| page.security_groups.unwrap_or_default(),
                |g| SecurityGroup {
                    id: g.group_id.unwrap_or_default(),
                    name: g.group_name.unwrap_or_default(),
                    vpc_id: g.vpc_id,
                    description: g.description.unwrap_or_default(),
                }
            )),
            ResourceType::HostedZones => Found::HostedZones(all_pages!(
                window,
                self.route53(credentials, region, window)
                    .list_hosted_zones()
                    .max_items(ROUTE53_PAGE)
                    .into_paginator()
                    .send(),
                "route53:ListHostedZones",
                |page| page.hosted_zones,
                |z| HostedZone {
                    id: z.id.trim_start_matches("/hostedzone/").to_string(),
                    name: z.name,
                    private: z.config.map(|c| c.private_zone).unwrap_or(false),
                    record_count: z.resource_record_set_count,
                }
            )),
            ResourceType::IamUsers => Found::IamUsers(all_pages!(
                window,
                self.iam(credentials, region, window)
                    .list_users()
                    .max_items(IAM_PAGE)
                    .into_paginator()
                    .send(),
                "iam:ListUsers",
                |page| page.users,
                |u| IamUser {
                    name: u.user_name,
                    id: u.user_id,
                    arn: u.arn,
                    created_at: Some(u.create_date.to_string()),
                }
            )),
        })
    }
}

/// The throttling bucket a call to `service` in `region` draws on.
fn bucket(service: &str, region: &str) -> String {
    format!("{service}/{region}")
}

fn aws_account(identity: &CloudIdentity) -> PortResult<&AwsAccount> {
    match &identity.account {
        CloudAccount::Aws(a) => Ok(a),
        other => Err(StepError::internal(format!(
            "identity {} is a {} identity, not aws",
            identity.id,
            other.provider().as_str()
        ))),
    }
}

/// The outcome status of a failed fetch.
fn status_of(error: &StepError) -> FetchStatus {
    let m = &error.message;
    if m.contains("OptInRequired")
        || m.contains("AuthFailure")
        || m.contains("UnrecognizedClientException")
    {
        return FetchStatus::RegionDisabled;
    }
    match error.kind {
        ErrorKind::AccessDenied => FetchStatus::AccessDenied,
        ErrorKind::Throttled => FetchStatus::Throttled,
        _ => FetchStatus::Error,
    }
}

#[async_trait]
impl IdentityVerifier for AwsCloud {
    async fn verify(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<CallerIdentity> {
        let (credentials, role) = self.assume(identity, session_name).await?;
        self.caller(&credentials, &role).await
    }
}

#[async_trait]
impl ResourceDiscovery for AwsCloud {
    async fn discover(
        &self,
        identity: &CloudIdentity,
        session_name: &str,
    ) -> PortResult<Inventory> {
        let (credentials, role) = self.assume(identity, session_name).await?;
        let windows = Windows::new(self.concurrency);
        let home = home_region(&role.partition).to_string();
        let (credentials, home, windows) = (&credentials, &home, &windows);
        // Every (type, region) starts at once; the windows pace the calls.
        let run = move |kind: ResourceType, region: String| async move {
            let call_region = if region == GLOBAL {
                home.clone()
            } else {
                region.clone()
            };
            let found = self.fetch(credentials, kind, &call_region, windows).await;
            (kind, region, found)
        };
        // The global types need no region list: they run beside it.
        let global = futures::future::join_all(
            ResourceType::GLOBAL.map(|kind| run(kind, GLOBAL.to_string())),
        );
        let regional = async {
            let (regions, disabled) = self.regions(identity, credentials, &role, windows).await?;
            let tasks = regions
                .iter()
                .flat_map(|region| ResourceType::REGIONAL.map(|kind| run(kind, region.clone())));
            let found = futures::future::join_all(tasks).await;
            Ok::<_, StepError>((regions, disabled, found))
        };
        let (global, regional) = futures::future::join(global, regional).await;
        let (regions, disabled, mut results) = regional?;
        results.extend(global);
        let (throttled, narrowest) = windows.summary();
        tracing::debug!(throttled, narrowest, "discovery paced");

        let mut resources = Resources::default();
        let mut outcomes = Vec::new();
        for region in &disabled {
            for kind in ResourceType::REGIONAL {
                outcomes.push(FetchOutcome {
                    resource_type: kind,
                    region: region.clone(),
                    status: FetchStatus::RegionDisabled,
                    count: 0,
                    message: Some(format!(
                        "{region} is not enabled for account {}",
                        role.account_id
                    )),
                });
            }
        }
        for (kind, region, found) in results {
            match found {
                Ok(found) => {
                    outcomes.push(FetchOutcome {
                        resource_type: kind,
                        region: region.clone(),
                        status: FetchStatus::Ok,
                        count: found.len(),
                        message: None,
                    });
                    match found {
                        Found::Vpcs(v) => {
                            resources.vpcs.insert(region, v);
                        }
                        Found::Subnets(v) => {
                            resources.subnets.insert(region, v);
                        }
                        Found::SecurityGroups(v) => {
                            resources.security_groups.insert(region, v);
                        }
                        Found::HostedZones(v) => resources.hosted_zones = v,
                        Found::IamUsers(v) => resources.iam_users = v,
                    }
                }
                Err(e) => {
                    tracing::warn!(resource_type = kind.as_str(), region = %region, error = %e, "discovery call failed");
                    outcomes.push(FetchOutcome {
                        resource_type: kind,
                        region,
                        status: status_of(&e),
                        count: 0,
                        message: Some(e.message),
                    });
                }
            }
        }
        outcomes.sort_by(|a, b| (a.resource_type, &a.region).cmp(&(b.resource_type, &b.region)));
        Ok(Inventory {
            fetched_at: Utc::now(),
            account_id: role.account_id.clone(),
            regions,
            resources,
            outcomes,
        })
    }
}
