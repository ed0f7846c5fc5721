//! A fake of the Google Cloud APIs the platform calls, for tests and the
//! local demo only (never shipped): the Security Token Service exchanging a
//! signed AWS `GetCallerIdentity` request for a federated token (workload
//! identity federation), IAM Service Account Credentials impersonating a
//! service account with it, and the Compute Engine and Cloud DNS reads of
//! discovery. One server serves the four APIs on their own paths, so that
//! `GOOGLE_STS_URL`, `GOOGLE_IAMCREDENTIALS_URL`, `GOOGLE_COMPUTE_URL` and
//! `GOOGLE_DNS_URL` may all be its [`GoogleFake::url`].
//!
//! The AWS signature itself cannot be checked (there is no secret key
//! here); everything around it is checked as Google and AWS do.

use std::collections::HashMap;

use chrono::{NaiveDateTime, SecondsFormat, Utc};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{Call, Core, Ctx, Page, Provider, Reply, numeric_id, param};

/// The AWS account every signed `GetCallerIdentity` is attributed to
/// unless the world says otherwise.
pub const DEFAULT_AWS_CALLER_ACCOUNT: &str = "123456789012";

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const AWS4_REQUEST: &str = "urn:ietf:params:aws:token-type:aws4_request";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const STS_URL_SHAPE: &str =
    "https://sts.REGION.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// AWS refuses a signature dated further than this from its clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// What the fake knows: the projects and who may reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleWorld {
    /// The AWS account the fake attributes every signed
    /// `GetCallerIdentity` to (AWS would know it from the access key).
    pub aws_caller_account: String,
    pub projects: Vec<GcpProject>,
}

impl Default for GoogleWorld {
    fn default() -> Self {
        GoogleWorld {
            aws_caller_account: DEFAULT_AWS_CALLER_ACCOUNT.into(),
            projects: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpProject {
    pub project_id: String,
    pub project_number: String,
    pub pools: Vec<WorkloadPool>,
    pub service_accounts: Vec<ServiceAccount>,
    pub compute_enabled: bool,
    pub dns_enabled: bool,
    /// False: every Compute and DNS read answers 403 PERMISSION_DENIED
    /// (missing permission), not SERVICE_DISABLED.
    pub can_read: bool,
    pub regions: Vec<String>,
    pub networks: Vec<String>,
    pub subnetworks: Vec<GcpSubnetwork>,
    pub managed_zones: Vec<GcpZone>,
}

impl Default for GcpProject {
    /// An empty project with both APIs enabled and reads allowed, so that
    /// `..Default::default()` gives a working project.
    fn default() -> Self {
        GcpProject {
            project_id: String::new(),
            project_number: String::new(),
            pools: Vec::new(),
            service_accounts: Vec::new(),
            compute_enabled: true,
            dns_enabled: true,
            can_read: true,
            regions: Vec::new(),
            networks: Vec::new(),
            subnetworks: Vec::new(),
            managed_zones: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadPool {
    pub pool_id: String,
    pub disabled: bool,
    pub providers: Vec<AwsProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsProvider {
    pub provider_id: String,
    pub aws_account_id: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccount {
    pub email: String,
    /// `roles/iam.workloadIdentityUser` granted to the pool's principals.
    pub federated_users_allowed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpSubnetwork {
    pub region: String,
    /// The network's name.
    pub network: String,
    pub name: String,
    pub cidr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpZone {
    pub name: String,
    /// With the trailing dot, as Cloud DNS writes it: `example.com.`.
    pub dns_name: String,
    pub private: bool,
}

impl GoogleWorld {
    /// One project reachable the way the platform is set up to reach it:
    /// pool `alethia-pool` with provider `aws-platform` trusting account
    /// 123456789012, service account `discovery@{project_id}.iam.
    /// gserviceaccount.com` open to the pool, regions us-central1,
    /// europe-west1 and asia-east1, `n` networks, `n` subnetworks in each
    /// region and `n` managed zones (every second one private).
    pub fn demo(project_id: &str, project_number: &str, n: usize) -> GoogleWorld {
        let regions: Vec<String> = ["us-central1", "europe-west1", "asia-east1"]
            .map(String::from)
            .into();
        let networks: Vec<String> = (0..n).map(|i| format!("net-{i}")).collect();
        let mut subnetworks = Vec::new();
        for (r, region) in regions.iter().enumerate() {
            for (i, network) in networks.iter().enumerate() {
                let k = r * n + i;
                subnetworks.push(GcpSubnetwork {
                    region: region.clone(),
                    network: network.clone(),
                    name: format!("{region}-subnet-{i}"),
                    cidr: format!("10.{}.{}.0/24", k / 256, k % 256),
                });
            }
        }
        GoogleWorld {
            aws_caller_account: DEFAULT_AWS_CALLER_ACCOUNT.into(),
            projects: vec![GcpProject {
                project_id: project_id.into(),
                project_number: project_number.into(),
                pools: vec![WorkloadPool {
                    pool_id: "alethia-pool".into(),
                    disabled: false,
                    providers: vec![AwsProvider {
                        provider_id: "aws-platform".into(),
                        aws_account_id: DEFAULT_AWS_CALLER_ACCOUNT.into(),
                        disabled: false,
                    }],
                }],
                service_accounts: vec![ServiceAccount {
                    email: format!("discovery@{project_id}.iam.gserviceaccount.com"),
                    federated_users_allowed: true,
                }],
                regions,
                networks,
                subnetworks,
                managed_zones: (0..n)
                    .map(|i| GcpZone {
                        name: format!("zone-{i}"),
                        dns_name: format!("zone-{i}.example.com."),
                        private: i % 2 == 1,
                    })
                    .collect(),
                ..GcpProject::default()
            }],
        }
    }

    fn project(&self, id_or_number: &str) -> Option<&GcpProject> {
        self.projects
            .iter()
            .find(|p| p.project_id == id_or_number || p.project_number == id_or_number)
    }
}

/// The running fake; see the module documentation.
pub struct GoogleFake {
    core: Core<Google>,
}

common_api!(GoogleFake, GoogleWorld);

impl GoogleFake {
    /// Every `subject_token` the STS endpoint received (accepted or not),
    /// as sent: the URL-encoded JSON after the form's own decoding.
    pub fn subject_tokens(&self) -> Vec<String> {
        self.core.with_provider(|g| g.subject_tokens.clone())
    }
}

/// Whose token a bearer token is.
enum Holder {
    Federated,
    ServiceAccount {
        project_id: String,
        scopes: Vec<String>,
    },
}

#[derive(Default)]
struct Google {
    tokens: HashMap<String, Holder>,
    subject_tokens: Vec<String>,
}

/// The two read APIs.
#[derive(Clone, Copy)]
enum Api {
    Compute,
    Dns,
}

impl Api {
    fn service(self) -> &'static str {
        match self {
            Api::Compute => "compute.googleapis.com",
            Api::Dns => "dns.googleapis.com",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Api::Compute => "Compute Engine API",
            Api::Dns => "Cloud DNS API",
        }
    }

    /// The OAuth scopes that allow reading through the API.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Api::Compute => &[
                CLOUD_PLATFORM,
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/compute",
                "https://www.googleapis.com/auth/compute.readonly",
            ],
            Api::Dns => &[
                CLOUD_PLATFORM,
                "https://www.googleapis.com/auth/cloud-platform.read-only",
                "https://www.googleapis.com/auth/ndev.clouddns.readonly",
                "https://www.googleapis.com/auth/ndev.clouddns.readwrite",
            ],
        }
    }
}

/// The Compute and DNS reads served.
enum Read<'a> {
    Project,
    Regions,
    Networks,
    Subnetworks(&'a str),
    ManagedZones,
}

impl Read<'_> {
    fn api(&self) -> Api {
        match self {
            Read::ManagedZones => Api::Dns,
            _ => Api::Compute,
        }
    }

    fn permission(&self) -> &'static str {
        match self {
            Read::Project => "compute.projects.get",
            Read::Regions => "compute.regions.list",
            Read::Networks => "compute.networks.list",
            Read::Subnetworks(_) => "compute.subnetworks.list",
            Read::ManagedZones => "dns.managedZones.list",
        }
    }
}

impl Provider for Google {
    type World = GoogleWorld;

    fn handle(&mut self, world: &GoogleWorld, ctx: &mut Ctx<'_>, call: &Call) -> Reply {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        match (call.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "token"]) => self.exchange(world, ctx, call),
            ("POST", ["v1", "projects", project, "serviceAccounts", name]) => {
                match name.strip_suffix(":generateAccessToken") {
                    Some(email) => self.generate(world, ctx, call, project, email),
                    None => no_such_url(call),
                }
            }
            ("GET", ["compute", "v1", "projects", p]) => {
                self.read(world, ctx, call, p, Read::Project)
            }
            ("GET", ["compute", "v1", "projects", p, "regions"]) => {
                self.read(world, ctx, call, p, Read::Regions)
            }
            ("GET", ["compute", "v1", "projects", p, "global", "networks"]) => {
                self.read(world, ctx, call, p, Read::Networks)
            }
            ("GET", ["compute", "v1", "projects", p, "regions", r, "subnetworks"]) => {
                self.read(world, ctx, call, p, Read::Subnetworks(r))
            }
            ("GET", ["dns", "v1", "projects", p, "managedZones"]) => {
                self.read(world, ctx, call, p, Read::ManagedZones)
            }
            _ => no_such_url(call),
        }
    }

    fn throttled(&self, world: &GoogleWorld, _ctx: &Ctx<'_>, call: &Call) -> Reply {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        if segments == ["v1", "token"] {
            // STS speaks OAuth 2.0 errors, also when it sheds load.
            return oauth_error(
                429,
                "temporarily_unavailable",
                "Quota exceeded for quota metric 'Token exchange requests' of service 'sts.googleapis.com'. Retry later.",
            );
        }
        let (service, legacy) = match segments.first() {
            Some(&"compute") => (Api::Compute.service(), true),
            Some(&"dns") => (Api::Dns.service(), true),
            _ => ("iamcredentials.googleapis.com", false),
        };
        let consumer = match segments.as_slice() {
            [_, "v1", "projects", p, ..] => world
                .project(p)
                .map_or_else(|| (*p).to_string(), |p| p.project_number.clone()),
            _ => "unknown".into(),
        };
        let message = format!(
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service '{service}' for consumer 'project_number:{consumer}'."
        );
        rpc_error(
            429,
            "RESOURCE_EXHAUSTED",
            &message,
            legacy.then(|| errors(&message, "usageLimits", "rateLimitExceeded")),
            Some(json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": service,
                    "consumer": format!("projects/{consumer}"),
                    "quota_metric": format!("{service}/default"),
                    "quota_limit": "defaultPerMinutePerProject",
                }
            }])),
        )
    }
}

impl Google {
    /// Token exchange, https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token;
    /// the AWS subject token as in https://google.aip.dev/auth/4117 and
    /// https://cloud.google.com/iam/docs/workload-identity-federation-with-other-clouds#rest.
    fn exchange(&mut self, world: &GoogleWorld, ctx: &mut Ctx<'_>, call: &Call) -> Reply {
        let params = sts_params(call);
        let get = |name: &str| param(&params, name).filter(|v| !v.is_empty());
        if let Some(token) = get("subject_token") {
            self.subject_tokens.push(token.to_string());
        }
        match get("grant_type") {
            Some(TOKEN_EXCHANGE) => {}
            other => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    &format!(
                        "Unsupported grant_type {:?}: only {TOKEN_EXCHANGE} is supported.",
                        other.unwrap_or("")
                    ),
                );
            }
        }
        if get("requested_token_type") != Some(ACCESS_TOKEN) {
            return oauth_error(
                400,
                "invalid_request",
                &format!("Invalid value for \"requested_token_type\": expected {ACCESS_TOKEN}."),
            );
        }
        if get("subject_token_type") != Some(AWS4_REQUEST) {
            return oauth_error(
                400,
                "invalid_request",
                &format!(
                    "Invalid value for \"subject_token_type\": an AWS provider expects {AWS4_REQUEST}."
                ),
            );
        }
        if !get("scope").is_some_and(|s| s.split_whitespace().any(|s| s == CLOUD_PLATFORM)) {
            return oauth_error(
                400,
                "invalid_scope",
                &format!(
                    "The scope {:?} is invalid: request {CLOUD_PLATFORM}.",
                    get("scope").unwrap_or("")
                ),
            );
        }
        let Some(audience) = get("audience") else {
            return oauth_error(
                400,
                "invalid_request",
                "The \"audience\" parameter is required.",
            );
        };
        let Some(provider) = find_provider(world, audience) else {
            return oauth_error(
                400,
                "invalid_target",
                "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
            );
        };
        let Some(subject) = get("subject_token") else {
            return oauth_error(
                400,
                "invalid_request",
                "The \"subject_token\" parameter is required.",
            );
        };
        if let Err(why) = check_subject_token(subject, audience) {
            return oauth_error(400, "invalid_grant", &why);
        }
        if provider.aws_account_id != world.aws_caller_account {
            return oauth_error(
                400,
                "invalid_grant",
                &format!(
                    "The AWS account of the caller ({}) is not allowed by the provider's attribute condition or account ID.",
                    world.aws_caller_account
                ),
            );
        }
        let token = ctx.issue("ya29.fedtok-");
        self.tokens.insert(token.clone(), Holder::Federated);
        Reply::json(
            200,
            json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
            }),
        )
    }

    /// https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
    fn generate(
        &mut self,
        world: &GoogleWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        project: &str,
        email: &str,
    ) -> Reply {
        match call.bearer().and_then(|t| self.tokens.get(t)) {
            None => return unauthenticated(false),
            // Impersonation chains are not modelled: a service account's
            // token holds no role on another service account.
            Some(Holder::ServiceAccount { .. }) => return sa_permission_denied(),
            Some(Holder::Federated) => {}
        }
        if project != "-" {
            return invalid_argument(
                &format!(
                    "Invalid resource name projects/{project}/serviceAccounts/{email}: the project must be the wildcard '-'."
                ),
                false,
            );
        }
        let body: Value = match serde_json::from_str(&call.rec.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return invalid_argument(
                    "Invalid JSON payload received. Expected an object with \"scope\".",
                    false,
                );
            }
        };
        let scopes: Option<Vec<String>> = body
            .get("scope")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect());
        let Some(scopes) = scopes.filter(|s| !s.is_empty()) else {
            return invalid_argument("Scope required.", false);
        };
        let lifetime = match body.get("lifetime") {
            None => 3600,
            Some(v) => match v
                .as_str()
                .and_then(|s| s.strip_suffix('s'))
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(s) if (1..=3600).contains(&s) => s,
                _ => {
                    return invalid_argument(
                        &format!(
                            "The lifetime {v} is invalid: it must be a duration like \"3600s\" of at most 3600 seconds."
                        ),
                        false,
                    );
                }
            },
        };
        let found = world.projects.iter().find_map(|p| {
            p.service_accounts
                .iter()
                .find(|sa| sa.email.eq_ignore_ascii_case(email))
                .map(|sa| (p, sa))
        });
        let Some((home, _)) = found.filter(|(_, sa)| sa.federated_users_allowed) else {
            return sa_permission_denied();
        };
        let project_id = email
            .split_once('@')
            .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"))
            .unwrap_or(&home.project_id)
            .to_string();
        let token = ctx.issue("ya29.satok-");
        self.tokens
            .insert(token.clone(), Holder::ServiceAccount { project_id, scopes });
        let expires = Utc::now() + chrono::Duration::seconds(lifetime);
        Reply::json(
            200,
            json!({
                "accessToken": token,
                "expireTime": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        )
    }

    /// The Compute Engine and Cloud DNS reads, checked in the order Google
    /// does: credentials, scopes, project, API enabled, permission.
    fn read(
        &mut self,
        world: &GoogleWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        project: &str,
        what: Read<'_>,
    ) -> Reply {
        let api = what.api();
        let Some(holder) = call.bearer().and_then(|t| self.tokens.get(t)) else {
            return unauthenticated(true);
        };
        if let Holder::ServiceAccount { scopes, .. } = holder
            && !scopes.iter().any(|s| api.scopes().contains(&s.as_str()))
        {
            return insufficient_scopes(api);
        }
        let Some(p) = world.project(project) else {
            let message = match api {
                Api::Compute => format!("The resource 'projects/{project}' was not found"),
                Api::Dns => {
                    format!("The 'parameters.project' resource named '{project}' does not exist.")
                }
            };
            return not_found(&message);
        };
        let enabled = match api {
            Api::Compute => p.compute_enabled,
            Api::Dns => p.dns_enabled,
        };
        if !enabled {
            return service_disabled(api, &p.project_number);
        }
        let foreign = match holder {
            Holder::ServiceAccount { project_id, .. } => *project_id != p.project_id,
            Holder::Federated => false,
        };
        if !p.can_read || foreign {
            let message = format!(
                "Required '{}' permission for 'projects/{project}'",
                what.permission()
            );
            return rpc_error(
                403,
                "PERMISSION_DENIED",
                &message,
                Some(errors(&message, "global", "forbidden")),
                None,
            );
        }
        let base = ctx.base.to_string();
        let project_link = format!("{base}/compute/v1/projects/{}", p.project_id);
        match what {
            // https://cloud.google.com/compute/docs/reference/rest/v1/projects/get
            Read::Project => Reply::json(
                200,
                json!({
                    "kind": "compute#project",
                    "id": p.project_number,
                    "name": p.project_id,
                    "selfLink": project_link,
                    "defaultServiceAccount": format!("{}-compute@developer.gserviceaccount.com", p.project_number),
                    "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
                }),
            ),
            // https://cloud.google.com/compute/docs/reference/rest/v1/regions/list
            Read::Regions => {
                let list = format!("{}/regions", p.project_id);
                let page = match google_page(ctx, call, &list, p.regions.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = p.regions[page.start..page.end]
                    .iter()
                    .map(|r| {
                        let zones =
                            ["a", "b", "c"].map(|z| format!("{project_link}/zones/{r}-{z}"));
                        json!({
                            "kind": "compute#region",
                            "id": numeric_id(&format!("region/{r}")),
                            "name": r,
                            "description": r,
                            "status": "UP",
                            "zones": zones,
                            "selfLink": format!("{project_link}/regions/{r}"),
                        })
                    })
                    .collect();
                compute_list(
                    "compute#regionList",
                    &list,
                    &project_link,
                    "regions",
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/compute/docs/reference/rest/v1/networks/list
            Read::Networks => {
                let list = format!("{}/global/networks", p.project_id);
                let page = match google_page(ctx, call, &list, p.networks.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = p.networks[page.start..page.end]
                    .iter()
                    .map(|n| {
                        let subnetworks: Vec<String> = p
                            .subnetworks
                            .iter()
                            .filter(|s| s.network == *n)
                            .map(|s| {
                                format!(
                                    "{project_link}/regions/{}/subnetworks/{}",
                                    s.region, s.name
                                )
                            })
                            .collect();
                        let mut network = json!({
                            "kind": "compute#network",
                            "id": numeric_id(&format!("{}/networks/{n}", p.project_id)),
                            "name": n,
                            "selfLink": format!("{project_link}/global/networks/{n}"),
                            "autoCreateSubnetworks": false,
                            "routingConfig": {"routingMode": "REGIONAL"},
                        });
                        if !subnetworks.is_empty() {
                            network["subnetworks"] = json!(subnetworks);
                        }
                        network
                    })
                    .collect();
                compute_list(
                    "compute#networkList",
                    &list,
                    &project_link,
                    "global/networks",
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks/list
            Read::Subnetworks(region) => {
                if !p.regions.iter().any(|r| r == region) {
                    return not_found(&format!(
                        "The resource 'projects/{project}/regions/{region}' was not found"
                    ));
                }
                let subnetworks: Vec<&GcpSubnetwork> = p
                    .subnetworks
                    .iter()
                    .filter(|s| s.region == region)
                    .collect();
                let list = format!("{}/regions/{region}/subnetworks", p.project_id);
                let page = match google_page(ctx, call, &list, subnetworks.len(), true) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let items = subnetworks[page.start..page.end]
                    .iter()
                    .map(|s| {
                        json!({
                            "kind": "compute#subnetwork",
                            "id": numeric_id(&format!("{}/subnetworks/{}/{}", p.project_id, s.region, s.name)),
                            "name": s.name,
                            "network": format!("{project_link}/global/networks/{}", s.network),
                            "ipCidrRange": s.cidr,
                            "region": format!("{project_link}/regions/{}", s.region),
                            "privateIpGoogleAccess": false,
                            "purpose": "PRIVATE",
                            "stackType": "IPV4_ONLY",
                            "selfLink": format!("{project_link}/regions/{}/subnetworks/{}", s.region, s.name),
                        })
                    })
                    .collect();
                compute_list(
                    "compute#subnetworkList",
                    &list,
                    &project_link,
                    &format!("regions/{region}/subnetworks"),
                    items,
                    page.next,
                )
            }
            // https://cloud.google.com/dns/docs/reference/rest/v1/managedZones/list
            Read::ManagedZones => {
                let list = format!("{}/managedZones", p.project_id);
                let page = match google_page(ctx, call, &list, p.managed_zones.len(), false) {
                    Ok(page) => page,
                    Err(reply) => return reply,
                };
                let zones: Vec<Value> = p.managed_zones[page.start..page.end]
                    .iter()
                    .map(|z| {
                        let mut zone = json!({
                            "kind": "dns#managedZone",
                            "name": z.name,
                            "dnsName": z.dns_name,
                            "id": numeric_id(&format!("{}/managedZones/{}", p.project_id, z.name)),
                            "visibility": if z.private { "private" } else { "public" },
                            "description": "",
                            "creationTime": "2024-01-01T00:00:00.000Z",
                        });
                        if z.private {
                            zone["nameServers"] = json!(["ns-gcp-private.googledomains.com."]);
                            zone["privateVisibilityConfig"] = json!({
                                "kind": "dns#managedZonePrivateVisibilityConfig",
                                "networks": [],
                            });
                        } else {
                            zone["nameServers"] = json!([
                                "ns-cloud-a1.googledomains.com.",
                                "ns-cloud-a2.googledomains.com.",
                                "ns-cloud-a3.googledomains.com.",
                                "ns-cloud-a4.googledomains.com.",
                            ]);
                        }
                        zone
                    })
                    .collect();
                let mut body = json!({"kind": "dns#managedZonesListResponse"});
                if !zones.is_empty() {
                    body["managedZones"] = Value::Array(zones);
                }
                if let Some(next) = page.next {
                    body["nextPageToken"] = next.into();
                }
                Reply::json(200, body)
            }
        }
    }
}

/// The STS request's parameters: form-encoded as the client libraries send
/// them, or the JSON body the REST reference shows (camelCase keys, which
/// proto JSON accepts beside snake_case ones).
fn sts_params(call: &Call) -> Vec<(String, String)> {
    let json = call
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return call.form();
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&call.rec.body) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| {
            let snake = k.chars().fold(String::new(), |mut s, c| {
                if c.is_ascii_uppercase() {
                    s.push('_');
                }
                s.push(c.to_ascii_lowercase());
                s
            });
            v.as_str().map(|v| (snake, v.to_string()))
        })
        .collect()
}

/// The enabled AWS provider the audience names, if any.
fn find_provider<'w>(world: &'w GoogleWorld, audience: &str) -> Option<&'w AwsProvider> {
    let rest = audience.strip_prefix("//iam.googleapis.com/projects/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [
        number,
        "locations",
        "global",
        "workloadIdentityPools",
        pool,
        "providers",
        provider,
    ] = parts.as_slice()
    else {
        return None;
    };
    world
        .projects
        .iter()
        .find(|p| p.project_number == *number)?
        .pools
        .iter()
        .find(|p| p.pool_id == *pool && !p.disabled)?
        .providers
        .iter()
        .find(|p| p.provider_id == *provider && !p.disabled)
}

/// Checks the serialized, signed `GetCallerIdentity` request as far as can
/// be without AWS's secret key; the error says what is wrong.
fn check_subject_token(raw: &str, audience: &str) -> Result<(), String> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "The subject token is not URL-encoded UTF-8 text.".to_string())?;
    let token: Value = serde_json::from_str(&decoded).map_err(|e| {
        format!("The subject token is not a URL-encoded JSON GetCallerIdentity request: {e}.")
    })?;
    let field = |name: &str| token.get(name).and_then(Value::as_str);
    let url = field("url").ok_or_else(|| "The subject token has no \"url\".".to_string())?;
    let (host, region) = sts_url(url)?;
    if field("method") != Some("POST") {
        return Err(format!(
            "The subject token's method must be \"POST\", not {:?}.",
            field("method").unwrap_or("")
        ));
    }
    let mut headers: Vec<(String, &str)> = Vec::new();
    for h in token
        .get("headers")
        .and_then(Value::as_array)
        .ok_or_else(|| "The subject token has no \"headers\" list.".to_string())?
    {
        match (
            h.get("key").and_then(Value::as_str),
            h.get("value").and_then(Value::as_str),
        ) {
            (Some(k), Some(v)) => headers.push((k.to_ascii_lowercase(), v)),
            _ => {
                return Err(
                    "Every header of the subject token must be {\"key\": \"...\", \"value\": \"...\"}."
                        .into(),
                );
            }
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let authorization = header("authorization")
        .ok_or_else(|| "The subject token has no Authorization header.".to_string())?;
    let sig = parse_sigv4(authorization)?;
    if sig.region != region {
        return Err(format!(
            "The signature's credential scope names region {} but the url is for {region}.",
            sig.region
        ));
    }
    for required in ["host", "x-amz-date", "x-goog-cloud-target-resource"] {
        if !sig.signed.iter().any(|s| s == required) {
            return Err(format!(
                "The signature does not sign the {required} header (SignedHeaders={}).",
                sig.signed.join(";")
            ));
        }
    }
    if let Some(missing) = sig.signed.iter().find(|s| header(s).is_none()) {
        return Err(format!(
            "The header {missing} is signed but is not among the subject token's headers."
        ));
    }
    if header("host") != Some(host) {
        return Err(format!(
            "The host header {:?} does not match the url's host {host:?}.",
            header("host").unwrap_or("")
        ));
    }
    let amz_date = header("x-amz-date").unwrap_or("");
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .ok()
        .filter(|_| amz_date.len() == 16)
        .ok_or_else(|| format!("The x-amz-date header {amz_date:?} is not YYYYMMDDTHHMMSSZ."))?;
    if !amz_date.starts_with(&sig.date) {
        return Err(format!(
            "The x-amz-date header {amz_date} is not on the credential scope's date {}.",
            sig.date
        ));
    }
    if (Utc::now().naive_utc() - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(format!(
            "Signature expired or not yet valid: x-amz-date {amz_date} is more than 15 minutes from the current time."
        ));
    }
    let target = header("x-goog-cloud-target-resource").unwrap_or("");
    if target != audience {
        return Err(format!(
            "The x-goog-cloud-target-resource header {target:?} does not match the audience {audience:?}."
        ));
    }
    Ok(())
}

/// The host and region of the STS `GetCallerIdentity` url.
fn sts_url(url: &str) -> Result<(&str, String), String> {
    let wrong = || format!("The subject token's url must be {STS_URL_SHAPE}, not {url:?}.");
    let rest = url.strip_prefix("https://").ok_or_else(wrong)?;
    let (authority, query) = rest.split_once('?').ok_or_else(wrong)?;
    let host = authority.strip_suffix('/').unwrap_or(authority);
    let region = if host == "sts.amazonaws.com" {
        "us-east-1"
    } else {
        host.strip_prefix("sts.")
            .and_then(|h| h.strip_suffix(".amazonaws.com"))
            .filter(|r| {
                !r.is_empty()
                    && r.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
            .ok_or_else(wrong)?
    };
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| wrong())?;
    pairs.sort();
    let expected = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let same = pairs.len() == expected.len()
        && pairs
            .iter()
            .zip(expected)
            .all(|((k, v), (ek, ev))| k == ek && v == ev);
    if !same {
        return Err(wrong());
    }
    Ok((host, region.to_string()))
}

struct SigV4 {
    date: String,
    region: String,
    signed: Vec<String>,
}

/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/sts/aws4_request,
/// SignedHeaders=a;b, Signature=HEX`.
fn parse_sigv4(authorization: &str) -> Result<SigV4, String> {
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| {
            "The Authorization header must start with \"AWS4-HMAC-SHA256 Credential=\".".to_string()
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else {
            return Err(format!("Unexpected {part:?} in the Authorization header."));
        }
    }
    let scope: Vec<&str> = credential
        .ok_or_else(|| "The Authorization header has no Credential.".to_string())?
        .split('/')
        .collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(
            "The Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/sts/aws4_request.".into(),
        );
    };
    let date_ok = date.len() == 8 && date.chars().all(|c| c.is_ascii_digit());
    if key_id.is_empty()
        || !key_id.chars().all(|c| c.is_ascii_alphanumeric())
        || !date_ok
        || region.is_empty()
        || *service != "sts"
        || *terminator != "aws4_request"
    {
        return Err(format!(
            "The Credential {} is not ACCESS_KEY_ID/YYYYMMDD/REGION/sts/aws4_request.",
            scope.join("/")
        ));
    }
    let signed: Vec<String> = signed
        .ok_or_else(|| "The Authorization header has no SignedHeaders.".to_string())?
        .split(';')
        .map(String::from)
        .collect();
    let canonical = signed
        .iter()
        .all(|h| !h.is_empty() && *h == h.to_ascii_lowercase())
        && signed.windows(2).all(|w| w[0] < w[1]);
    if !canonical {
        return Err(format!(
            "SignedHeaders {} must be lower-case names, sorted, separated by ';'.",
            signed.join(";")
        ));
    }
    let signature = signature.unwrap_or("");
    if signature.len() != 64
        || !signature
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(format!(
            "The Signature {signature:?} is not 64 lower-case hex digits."
        ));
    }
    Ok(SigV4 {
        date: date.to_string(),
        region: region.to_string(),
        signed,
    })
}

/// One page of a Compute or DNS list, from `maxResults` and `pageToken`.
/// Compute refuses `maxResults` above 500; 0 means the default there.
fn google_page(
    ctx: &mut Ctx<'_>,
    call: &Call,
    list: &str,
    total: usize,
    compute: bool,
) -> Result<Page, Reply> {
    let asked = match call.query("maxResults") {
        None | Some("") => 500,
        Some(v) => match v.parse::<usize>() {
            Ok(0) => 500,
            Ok(n) if compute && n > 500 => {
                return Err(invalid_argument(
                    &format!(
                        "Invalid value for field 'maxResults': '{v}'. Must be less than or equal to 500"
                    ),
                    true,
                ));
            }
            Ok(n) => n,
            Err(_) => {
                return Err(invalid_argument(
                    &format!("Invalid value for field 'maxResults': '{v}'. Must be a number"),
                    true,
                ));
            }
        },
    };
    let token = call.query("pageToken").filter(|t| !t.is_empty());
    ctx.page(list, total, Some(asked), token).ok_or_else(|| {
        invalid_argument(
            &format!(
                "Invalid value for field 'pageToken': '{}'. Invalid page token.",
                token.unwrap_or("")
            ),
            true,
        )
    })
}

/// A Compute list as Compute answers one: `items` omitted when empty,
/// `nextPageToken` only when more remain.
fn compute_list(
    kind: &str,
    list: &str,
    project_link: &str,
    collection: &str,
    items: Vec<Value>,
    next: Option<String>,
) -> Reply {
    let mut body = json!({
        "kind": kind,
        "id": format!("projects/{list}"),
        "selfLink": format!("{project_link}/{collection}"),
    });
    if !items.is_empty() {
        body["items"] = Value::Array(items);
    }
    if let Some(next) = next {
        body["nextPageToken"] = next.into();
    }
    Reply::json(200, body)
}

/// `google.rpc.Status` as JSON, with the `errors` list the older
/// discovery-based APIs (Compute, DNS) still add.
fn rpc_error(
    code: u16,
    status: &str,
    message: &str,
    errors: Option<Value>,
    details: Option<Value>,
) -> Reply {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(errors) = errors {
        error["errors"] = errors;
    }
    if let Some(details) = details {
        error["details"] = details;
    }
    Reply::json(code, json!({ "error": error }))
}

fn errors(message: &str, domain: &str, reason: &str) -> Value {
    json!([{"message": message, "domain": domain, "reason": reason}])
}

/// STS answers as an OAuth 2.0 token endpoint (RFC 6749 §5.2).
fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn unauthenticated(legacy: bool) -> Reply {
    let message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
    rpc_error(
        401,
        "UNAUTHENTICATED",
        message,
        legacy.then(|| {
            json!([{
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }])
        }),
        None,
    )
    .header(
        "www-authenticate",
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
    )
}

fn invalid_argument(message: &str, legacy: bool) -> Reply {
    rpc_error(
        400,
        "INVALID_ARGUMENT",
        message,
        legacy.then(|| errors(message, "global", "invalid")),
        None,
    )
}

fn not_found(message: &str) -> Reply {
    rpc_error(
        404,
        "NOT_FOUND",
        message,
        Some(errors(message, "global", "notFound")),
        None,
    )
}

fn no_such_url(call: &Call) -> Reply {
    rpc_error(
        404,
        "NOT_FOUND",
        &format!(
            "The requested URL {} {} was not found on this server.",
            call.method, call.rec.path
        ),
        None,
        None,
    )
}

fn sa_permission_denied() -> Reply {
    rpc_error(
        403,
        "PERMISSION_DENIED",
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        None,
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
        }])),
    )
}

fn insufficient_scopes(api: Api) -> Reply {
    rpc_error(
        403,
        "PERMISSION_DENIED",
        "Request had insufficient authentication scopes.",
        Some(json!([{
            "message": "Insufficient Permission",
            "domain": "global",
            "reason": "insufficientPermissions",
        }])),
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": api.service()},
        }])),
    )
}

fn service_disabled(api: Api, number: &str) -> Reply {
    let service = api.service();
    let activation = format!(
        "https://console.developers.google.com/apis/api/{service}/overview?project={number}"
    );
    let message = format!(
        "{} has not been used in project {number} before or it is disabled. Enable it by visiting {activation} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
        api.title()
    );
    rpc_error(
        403,
        "PERMISSION_DENIED",
        &message,
        Some(json!([{
            "message": message,
            "domain": "usageLimits",
            "reason": "accessNotConfigured",
            "extendedHelp": "https://console.developers.google.com",
        }])),
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {
                "service": service,
                "consumer": format!("projects/{number}"),
                "serviceTitle": api.title(),
                "activationUrl": activation,
            },
        }])),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    use super::*;
    use crate::cloud_fakes::Knobs;

    const PROJECT: &str = "acme-prod";
    const NUMBER: &str = "555000111222";
    const SA: &str = "discovery@acme-prod.iam.gserviceaccount.com";

    type Form = Vec<(&'static str, String)>;
    /// A request, then the OAuth error and a part of the description expected.
    type Case = (Form, &'static str, &'static str);

    fn audience() -> String {
        format!(
            "//iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/alethia-pool/providers/aws-platform"
        )
    }

    fn authorization(signed: &str, signature: &str) -> String {
        let day = Utc::now().format("%Y%m%d");
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/{day}/us-east-1/sts/aws4_request, SignedHeaders={signed}, Signature={signature}"
        )
    }

    /// A signed GetCallerIdentity as the platform builds it, then `edit`ed.
    fn subject_token(audience: &str, edit: impl FnOnce(&mut Value)) -> String {
        let signed = authorization(
            "host;x-amz-date;x-goog-cloud-target-resource",
            &"0a".repeat(32),
        );
        let mut token = json!({
            "url": "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "method": "POST",
            "headers": [
                {"key": "Authorization", "value": signed},
                {"key": "Host", "value": "sts.us-east-1.amazonaws.com"},
                {"key": "X-Amz-Date", "value": Utc::now().format("%Y%m%dT%H%M%SZ").to_string()},
                {"key": "x-goog-cloud-target-resource", "value": audience},
            ],
        });
        edit(&mut token);
        utf8_percent_encode(&token.to_string(), NON_ALPHANUMERIC).to_string()
    }

    fn exchange_form(audience: &str, subject: String) -> Form {
        vec![
            ("grant_type", TOKEN_EXCHANGE.into()),
            ("requested_token_type", ACCESS_TOKEN.into()),
            ("subject_token_type", AWS4_REQUEST.into()),
            ("scope", CLOUD_PLATFORM.into()),
            ("audience", audience.into()),
            ("subject_token", subject),
        ]
    }

    async fn sts(fake: &GoogleFake, form: &[(&str, String)]) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/token", fake.url()))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn federated(fake: &GoogleFake) -> String {
        let (status, body) = sts(
            fake,
            &exchange_form(&audience(), subject_token(&audience(), |_| {})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn impersonate(
        fake: &GoogleFake,
        bearer: Option<&str>,
        email: &str,
        body: Value,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!(
                "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
                fake.url()
            ))
            .json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn sa_token(fake: &GoogleFake, email: &str, scope: &str) -> String {
        let fed = federated(fake).await;
        let (status, body) = impersonate(fake, Some(&fed), email, json!({"scope": [scope]})).await;
        assert_eq!(status, 200, "{body}");
        body["accessToken"].as_str().unwrap().to_string()
    }

    async fn get(fake: &GoogleFake, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(format!("{}{path}", fake.url()));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Follows `nextPageToken`; the names of every item and the pages seen.
    async fn all_pages(
        fake: &GoogleFake,
        path: &str,
        items: &str,
        token: &str,
    ) -> (Vec<String>, usize) {
        let (mut names, mut pages, mut next) = (Vec::new(), 0, None::<String>);
        loop {
            let url = match &next {
                Some(t) => format!("{path}?pageToken={t}"),
                None => path.to_string(),
            };
            let (status, body) = get(fake, &url, Some(token)).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            let page = body[items].as_array().unwrap();
            assert!(!page.is_empty() && page.len() <= 2, "{body}");
            names.extend(page.iter().map(|i| i["name"].as_str().unwrap().to_string()));
            match body.get("nextPageToken") {
                Some(t) => next = Some(t.as_str().unwrap().to_string()),
                None => return (names, pages),
            }
        }
    }

    #[tokio::test]
    async fn exchanges_a_signed_caller_identity_for_a_federated_token() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let subject = subject_token(&audience(), |_| {});
        let (status, body) = sts(&fake, &exchange_form(&audience(), subject.clone())).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert!(token.starts_with("ya29.fedtok-") && token.len() >= 40);
        assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(fake.issued_tokens(), vec![token.to_string()]);
        assert_eq!(fake.subject_tokens(), vec![subject.clone()]);

        // The REST reference's JSON body works too.
        let r = reqwest::Client::new()
            .post(format!("{}/v1/token", fake.url()))
            .json(&json!({
                "grantType": TOKEN_EXCHANGE, "requestedTokenType": ACCESS_TOKEN,
                "subjectTokenType": AWS4_REQUEST, "scope": CLOUD_PLATFORM,
                "audience": audience(), "subjectToken": subject,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn sts_refuses_what_google_refuses() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let aud = audience();
        let good = || exchange_form(&aud, subject_token(&aud, |_| {}));
        let with = |name: &str, value: &str| {
            let mut form = good();
            for (n, v) in &mut form {
                if *n == name {
                    *v = value.to_string();
                }
            }
            form
        };
        let spoiled = |edit: fn(&mut Value)| exchange_form(&aud, subject_token(&aud, edit));
        let other_pool = aud.replace("alethia-pool", "other-pool");
        let cases: Vec<Case> = vec![
            (
                with("grant_type", "client_credentials"),
                "unsupported_grant_type",
                "grant_type",
            ),
            (
                with("scope", "https://www.googleapis.com/auth/compute"),
                "invalid_scope",
                "scope",
            ),
            (
                with("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                "invalid_request",
                "subject_token_type",
            ),
            (
                exchange_form(&other_pool, subject_token(&other_pool, |_| {})),
                "invalid_target",
                "pool or provider is disabled",
            ),
            (
                with("subject_token", "not-json"),
                "invalid_grant",
                "URL-encoded JSON",
            ),
            (
                spoiled(|t| {
                    t["url"] = json!(
                        "https://sts.us-east-1.amazonaws.com?Action=AssumeRole&Version=2011-06-15"
                    )
                }),
                "invalid_grant",
                "url",
            ),
            (
                spoiled(|t| t["method"] = json!("GET")),
                "invalid_grant",
                "method",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] =
                        json!(authorization("host;x-amz-date", &"0a".repeat(32)))
                }),
                "invalid_grant",
                "x-goog-cloud-target-resource header",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] = json!(authorization(
                        "host;x-amz-date;x-goog-cloud-target-resource",
                        "abc"
                    ))
                }),
                "invalid_grant",
                "Signature",
            ),
            (
                spoiled(|t| {
                    t["headers"][0]["value"] = json!(authorization(
                        "host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource",
                        &"0a".repeat(32)
                    ))
                }),
                "invalid_grant",
                "x-amz-security-token is signed",
            ),
            (
                spoiled(|t| t["headers"][1]["value"] = json!("sts.amazonaws.com")),
                "invalid_grant",
                "host header",
            ),
            (
                spoiled(|t| t["headers"][2]["value"] = json!("2020-01-01T00:00:00Z")),
                "invalid_grant",
                "x-amz-date",
            ),
            (
                spoiled(|t| t["headers"][2]["value"] = json!("20200101T000000Z")),
                "invalid_grant",
                "x-amz-date",
            ),
            (
                spoiled(|t| {
                    t["headers"][3]["value"] = json!(
                        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q"
                    )
                }),
                "invalid_grant",
                "does not match the audience",
            ),
        ];
        for (form, error, says) in cases {
            let (status, body) = sts(&fake, &form).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], error, "{body}");
            assert!(
                body["error_description"].as_str().unwrap().contains(says),
                "{says}: {body}"
            );
        }
        fake.update(|w| w.projects[0].pools[0].providers[0].disabled = true);
        let (_, body) = sts(&fake, &good()).await;
        assert_eq!(body["error"], "invalid_target");
        fake.update(|w| {
            w.projects[0].pools[0].providers[0].disabled = false;
            w.aws_caller_account = "999999999999".into();
        });
        let (status, body) = sts(&fake, &good()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("AWS account")
        );
        assert!(fake.issued_tokens().is_empty());
    }

    #[tokio::test]
    async fn impersonates_service_accounts_open_to_the_pool() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let scope = json!({"scope": [CLOUD_PLATFORM]});
        let (status, body) = impersonate(&fake, None, SA, scope.clone()).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (401, Some("UNAUTHENTICATED"))
        );
        let (status, _) = impersonate(&fake, Some("ya29.made-up"), SA, scope.clone()).await;
        assert_eq!(status, 401);
        let fed = federated(&fake).await;
        let (status, body) = impersonate(&fake, Some(&fed), SA, json!({"lifetime": "600s"})).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
        let (status, body) = impersonate(
            &fake,
            Some(&fed),
            "nobody@acme-prod.iam.gserviceaccount.com",
            scope.clone(),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["reason"],
            "IAM_PERMISSION_DENIED"
        );
        assert_eq!(
            body["error"]["details"][0]["metadata"]["permission"],
            "iam.serviceAccounts.getAccessToken"
        );

        // The email percent-encoded, the colon too, as some clients send it.
        let encoded = SA.replace('@', "%40");
        let r = reqwest::Client::new()
            .post(format!(
                "{}/v1/projects/-/serviceAccounts/{encoded}%3AgenerateAccessToken",
                fake.url()
            ))
            .bearer_auth(&fed)
            .json(&scope)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let token = body["accessToken"].as_str().unwrap();
        assert!(token.starts_with("ya29.satok-") && token.len() >= 40);
        let expires =
            chrono::DateTime::parse_from_rfc3339(body["expireTime"].as_str().unwrap()).unwrap();
        let ahead = expires.with_timezone(&Utc) - Utc::now();
        assert!((3590..=3600).contains(&ahead.num_seconds()), "{ahead}");
        assert_eq!(fake.issued_tokens(), vec![fed.clone(), token.to_string()]);
        // A service account's token does not impersonate further.
        let (status, _) = impersonate(&fake, Some(token), SA, scope.clone()).await;
        assert_eq!(status, 403);

        fake.update(|w| w.projects[0].service_accounts[0].federated_users_allowed = false);
        let (status, body) = impersonate(&fake, Some(&fed), SA, scope).await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (403, Some("PERMISSION_DENIED"))
        );
    }

    #[tokio::test]
    async fn lists_page_through_every_item_once() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 7))
            .await
            .unwrap();
        fake.update(|w| {
            w.projects[0]
                .regions
                .extend(["us-east1", "us-west1", "europe-west4", "asia-south1"].map(String::from));
        });
        fake.set_page_size(2);
        let fed = federated(&fake).await;
        let sa = sa_token(&fake, SA, CLOUD_PLATFORM).await;
        let world = fake.world();
        let project = &world.projects[0];
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let base = format!("/compute/v1/projects/{PROJECT}");
        let expect_subnets: Vec<String> = project
            .subnetworks
            .iter()
            .filter(|s| s.region == "us-central1")
            .map(|s| s.name.clone())
            .collect();
        let zones: Vec<String> = project
            .managed_zones
            .iter()
            .map(|z| z.name.clone())
            .collect();
        for (path, items, token, expected) in [
            (
                format!("{base}/regions"),
                "items",
                &fed,
                project.regions.clone(),
            ),
            (
                format!("{base}/global/networks"),
                "items",
                &sa,
                project.networks.clone(),
            ),
            (
                format!("{base}/regions/us-central1/subnetworks"),
                "items",
                &fed,
                expect_subnets,
            ),
            (
                format!("/dns/v1/projects/{PROJECT}/managedZones"),
                "managedZones",
                &sa,
                zones,
            ),
        ] {
            let (names, pages) = all_pages(&fake, &path, items, token).await;
            assert_eq!(pages, 4, "{path}");
            assert_eq!(names.len(), 7, "{path}: {names:?}");
            assert_eq!(sorted(names), sorted(expected), "{path}");
        }

        // maxResults asks for less; the page size caps more.
        let (_, body) = get(
            &fake,
            &format!("{base}/global/networks?maxResults=1"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["items"].as_array().unwrap().len(), 1);
        let (_, body) = get(
            &fake,
            &format!("{base}/global/networks?maxResults=500"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["items"].as_array().unwrap().len(), 2);
        let network = &body["items"][0];
        assert_eq!(network["kind"], "compute#network");
        assert_eq!(
            network["selfLink"],
            format!("{}{base}/global/networks/net-0", fake.url())
        );
        assert_eq!(network["subnetworks"].as_array().unwrap().len(), 3);
        assert!(
            network["id"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );

        let (_, body) = get(
            &fake,
            &format!("{base}/regions/europe-west1/subnetworks"),
            Some(&fed),
        )
        .await;
        let subnet = &body["items"][0];
        assert_eq!(subnet["kind"], "compute#subnetwork");
        assert_eq!(
            subnet["network"],
            format!("{}{base}/global/networks/net-0", fake.url())
        );
        assert_eq!(
            subnet["region"],
            format!("{}{base}/regions/europe-west1", fake.url())
        );
        assert_eq!(subnet["ipCidrRange"], "10.0.7.0/24");

        let (status, body) = get(&fake, &base, Some(&fed)).await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["kind"].as_str(),
                body["id"].as_str(),
                body["name"].as_str()
            ),
            (Some("compute#project"), Some(NUMBER), Some(PROJECT))
        );

        let (_, body) = get(
            &fake,
            &format!("/dns/v1/projects/{NUMBER}/managedZones?maxResults=5"),
            Some(&fed),
        )
        .await;
        assert_eq!(body["kind"], "dns#managedZonesListResponse");
        assert_eq!(body["managedZones"][0]["visibility"], "public");
        assert_eq!(body["managedZones"][1]["visibility"], "private");
        assert_eq!(body["managedZones"][0]["dnsName"], "zone-0.example.com.");

        // Empty lists have no items and no next page.
        fake.update(|w| {
            w.projects[0].managed_zones.clear();
            w.projects[0].networks.clear();
        });
        let (_, body) = get(&fake, &format!("{base}/global/networks"), Some(&fed)).await;
        assert!(
            body.get("items").is_none() && body.get("nextPageToken").is_none(),
            "{body}"
        );
        let (_, body) = get(
            &fake,
            &format!("/dns/v1/projects/{PROJECT}/managedZones"),
            Some(&fed),
        )
        .await;
        assert!(
            body.get("managedZones").is_none() && body.get("nextPageToken").is_none(),
            "{body}"
        );
    }

    #[tokio::test]
    async fn reads_fail_as_google_fails() {
        let mut world = GoogleWorld::demo(PROJECT, NUMBER, 3);
        let other = GoogleWorld::demo("other-proj", "777", 0).projects.remove(0);
        world.projects.push(other);
        let fake = GoogleFake::start(world).await.unwrap();
        fake.set_page_size(2);
        let fed = federated(&fake).await;
        let networks = format!("/compute/v1/projects/{PROJECT}/global/networks");
        let regions = format!("/compute/v1/projects/{PROJECT}/regions");
        let zones = format!("/dns/v1/projects/{PROJECT}/managedZones");

        let (status, body) = get(&fake, &networks, None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(body["error"]["errors"][0]["reason"], "authError");
        let (status, _) = get(&fake, &networks, Some("ya29.made-up")).await;
        assert_eq!(status, 401);

        let (status, body) = get(
            &fake,
            "/compute/v1/projects/nope/global/networks",
            Some(&fed),
        )
        .await;
        assert_eq!(
            (status, body["error"]["status"].as_str()),
            (404, Some("NOT_FOUND"))
        );
        let (status, body) = get(
            &fake,
            &format!("{regions}/mars-north1/subnetworks"),
            Some(&fed),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            body["error"]["message"],
            format!("The resource 'projects/{PROJECT}/regions/mars-north1' was not found")
        );
        assert_eq!(body["error"]["errors"][0]["reason"], "notFound");

        let (_, first) = get(&fake, &networks, Some(&fed)).await;
        let token = first["nextPageToken"].as_str().unwrap();
        for path in [
            format!("{networks}?pageToken=forged"),
            format!("{regions}?pageToken={token}"),
            format!("{networks}?maxResults=501"),
        ] {
            let (status, body) = get(&fake, &path, Some(&fed)).await;
            assert_eq!(
                (status, body["error"]["status"].as_str()),
                (400, Some("INVALID_ARGUMENT")),
                "{path}"
            );
        }

        fake.update(|w| w.projects[0].compute_enabled = false);
        let (status, body) = get(&fake, &networks, Some(&fed)).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(body["error"]["details"][0]["reason"], "SERVICE_DISABLED");
        assert_eq!(
            body["error"]["details"][0]["metadata"]["service"],
            "compute.googleapis.com"
        );
        assert_eq!(body["error"]["errors"][0]["reason"], "accessNotConfigured");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!(
                    "Compute Engine API has not been used in project {NUMBER}"
                ))
        );
        let (status, _) = get(&fake, &zones, Some(&fed)).await;
        assert_eq!(status, 200);
        fake.update(|w| {
            w.projects[0].compute_enabled = true;
            w.projects[0].dns_enabled = false;
        });
        let (status, body) = get(&fake, &zones, Some(&fed)).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["metadata"]["service"],
            "dns.googleapis.com"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Cloud DNS API has not been used")
        );

        fake.update(|w| {
            w.projects[0].dns_enabled = true;
            w.projects[0].can_read = false;
        });
        for (path, permission) in [
            (networks.clone(), "compute.networks.list"),
            (regions.clone(), "compute.regions.list"),
            (
                format!("{regions}/us-central1/subnetworks"),
                "compute.subnetworks.list",
            ),
            (
                format!("/compute/v1/projects/{PROJECT}"),
                "compute.projects.get",
            ),
            (zones.clone(), "dns.managedZones.list"),
        ] {
            let (status, body) = get(&fake, &path, Some(&fed)).await;
            assert_eq!(status, 403, "{path}");
            assert_eq!(body["error"]["errors"][0]["reason"], "forbidden");
            assert!(body.pointer("/error/details").is_none());
            assert_eq!(
                body["error"]["message"],
                format!("Required '{permission}' permission for 'projects/{PROJECT}'")
            );
        }
        fake.update(|w| w.projects[0].can_read = true);

        // A service account's token reads its own project only, within its scopes.
        let other_sa = sa_token(
            &fake,
            "discovery@other-proj.iam.gserviceaccount.com",
            CLOUD_PLATFORM,
        )
        .await;
        let (status, body) = get(&fake, &networks, Some(&other_sa)).await;
        assert_eq!(
            (status, body["error"]["errors"][0]["reason"].as_str()),
            (403, Some("forbidden"))
        );
        let (status, _) = get(
            &fake,
            "/compute/v1/projects/other-proj/global/networks",
            Some(&other_sa),
        )
        .await;
        assert_eq!(status, 200);
        let narrow = sa_token(
            &fake,
            SA,
            "https://www.googleapis.com/auth/ndev.clouddns.readonly",
        )
        .await;
        let (status, body) = get(&fake, &networks, Some(&narrow)).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["error"]["details"][0]["reason"],
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
        );
        let (status, _) = get(&fake, &zones, Some(&narrow)).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn throttles_every_nth_request_records_and_stops() {
        let fake = GoogleFake::start(GoogleWorld::demo(PROJECT, NUMBER, 1))
            .await
            .unwrap();
        let fed = federated(&fake).await;
        fake.set_knobs(Knobs {
            throttle_every: Some(3),
            ..Knobs::default()
        });
        let networks = format!(
            "{}/compute/v1/projects/{PROJECT}/global/networks",
            fake.url()
        );
        let client = reqwest::Client::new();
        assert_eq!(
            client
                .get(&networks)
                .bearer_auth(&fed)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let r = client
            .get(&networks)
            .bearer_auth(&fed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(body["error"]["code"], 429);
        federated(&fake).await;
        federated(&fake).await;
        let (status, body) = sts(
            &fake,
            &exchange_form(&audience(), subject_token(&audience(), |_| {})),
        )
        .await;
        assert_eq!(status, 429, "{body}");
        assert!(body["error"].is_string());
        // Throttled requests are not acted on.
        assert_eq!(fake.issued_tokens().len(), 3);
        assert_eq!(fake.request_count(), 6);

        let recorded = fake.requests();
        assert_eq!(recorded.len(), 6);
        assert_eq!(recorded[1].method, "GET");
        assert_eq!(
            recorded[1].path,
            format!("/compute/v1/projects/{PROJECT}/global/networks")
        );
        assert_eq!(
            recorded[1].header("Authorization"),
            Some(format!("Bearer {fed}").as_str())
        );
        assert!(
            recorded
                .iter()
                .all(|r| r.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()))
        );
        assert!(recorded[0].body.contains("subject_token="));
        fake.clear_requests();
        assert!(fake.requests().is_empty());

        fake.set_knobs(Knobs {
            latency: Duration::from_millis(150),
            ..Knobs::default()
        });
        let started = Instant::now();
        assert_eq!(
            client
                .get(&networks)
                .bearer_auth(&fed)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert!(started.elapsed() >= Duration::from_millis(150));

        fake.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(reqwest::Client::new().get(&networks).send().await.is_err());
    }
}
