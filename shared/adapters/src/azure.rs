//! Access to a customer's Azure subscription as an app registration:
//!
//! 1. the client secret is read from the platform's secret that holds it;
//! 2. the OAuth 2.0 client credentials grant at
//!    `{authority}/{tenant}/oauth2/v2.0/token` with scope
//!    `{resource manager}/.default` gives an access token
//!    (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>);
//! 3. Resource Manager is read with it: the subscription, then virtual
//!    networks (with their subnets), public and private DNS zones, every
//!    page (`nextLink`).
//!
//! Resource Manager lists are subscription-wide, so each type has one
//! outcome (region `global`) and its resources are keyed by their
//! `location`. A `nextLink` is followed only when it points at the
//! configured Resource Manager: the bearer token goes nowhere else.

use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use jobs_domain::identity::{AzureAccount, CloudAccount, CloudIdentity};
use jobs_domain::inventory::{
    FetchOutcome, FetchStatus, GLOBAL, HostedZone, Inventory, ResourceType, Resources, Subnet, Vpc,
};
use jobs_domain::ports::{CallerIdentity, IdentitySecrets, PortResult};
use jobs_domain::provider_errors::{self, failed_outcome};
use jobs_domain::{SecretString, StepError};
use serde_json::Value;

use crate::rest::Rest;

const SUBSCRIPTIONS_API: &str = "2022-12-01";
const NETWORK_API: &str = "2024-05-01";
const DNS_API: &str = "2018-05-01";
const PRIVATE_DNS_API: &str = "2020-06-01";

/// Where Microsoft Entra ID and Resource Manager are (operator
/// configuration, never user input; sovereign clouds differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureEndpoints {
    pub authority: String,
    pub resource_manager: String,
}

impl Default for AzureEndpoints {
    fn default() -> Self {
        AzureEndpoints {
            authority: "https://login.microsoftonline.com".into(),
            resource_manager: "https://management.azure.com".into(),
        }
    }
}

pub struct AzureCloud {
    rest: Rest,
    endpoints: AzureEndpoints,
    secrets: Arc<dyn IdentitySecrets>,
}

/// The three Resource Manager lists discovery reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum List {
    VirtualNetworks,
    DnsZones,
    PrivateDnsZones,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::VirtualNetworks => "virtualNetworks",
            List::DnsZones => "dnszones",
            List::PrivateDnsZones => "privateDnsZones",
        }
    }
}

enum Found {
    Networks(Vec<(String, Vpc, Vec<Subnet>)>),
    Zones(Vec<HostedZone>),
}

impl AzureCloud {
    pub fn new(rest: Rest, endpoints: AzureEndpoints, secrets: Arc<dyn IdentitySecrets>) -> Self {
        AzureCloud {
            rest,
            endpoints,
            secrets,
        }
    }

    async fn token(&self, account: &AzureAccount) -> PortResult<SecretString> {
        let secret = self.secrets.get(&account.client_secret_ref).await?;
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.endpoints.authority, account.tenant_id
        );
        let scope = format!("{}/.default", self.endpoints.resource_manager);
        let answer = self
            .rest
            .send("Microsoft Entra ID token request", |c| {
                c.post(&url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", account.client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", scope.as_str()),
                ])
            })
            .await?;
        if !answer.ok() {
            return Err(provider_errors::azure_token(
                answer.status,
                &answer.body,
                account,
            ));
        }
        let v: Value = serde_json::from_str(&answer.body).map_err(|_| {
            StepError::internal("Microsoft Entra ID answered a token response that is not JSON")
        })?;
        v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(SecretString::new)
            .ok_or_else(|| StepError::internal("Microsoft Entra ID answered without access_token"))
    }

    async fn get(
        &self,
        token: &SecretString,
        url: &str,
        what: &str,
        account: &AzureAccount,
    ) -> PortResult<Value> {
        self.rest
            .get_json(
                what,
                |c| c.get(url).bearer_auth(token.expose()),
                |a| provider_errors::azure_arm(a.status, &a.body, what, account),
            )
            .await
    }

    /// Every `value` item of a Resource Manager list, following `nextLink`.
    async fn all_pages(
        &self,
        token: &SecretString,
        first: String,
        what: &str,
        account: &AzureAccount,
    ) -> PortResult<Vec<Value>> {
        let base = format!("{}/", self.endpoints.resource_manager);
        let mut items = Vec::new();
        let mut url = first;
        loop {
            let page = self.get(token, &url, what, account).await?;
            if let Some(list) = page["value"].as_array() {
                items.extend(list.iter().cloned());
            }
            match page["nextLink"].as_str() {
                Some(next) if !next.is_empty() => {
                    if !next.starts_with(&base) {
                        return Err(StepError::internal(format!(
                            "{what}: nextLink points outside Resource Manager ({}); not followed",
                            next.split('?').next().unwrap_or_default()
                        )));
                    }
                    url = next.to_string();
                }
                _ => return Ok(items),
            }
        }
    }

    fn subscription_url(&self, account: &AzureAccount) -> String {
        format!(
            "{}/subscriptions/{}",
            self.endpoints.resource_manager, account.subscription_id
        )
    }

    /// Reads the subscription; one that is not Enabled (or Warned /
    /// PastDue, which still read) fails with its state.
    async fn subscription(
        &self,
        token: &SecretString,
        account: &AzureAccount,
    ) -> PortResult<Value> {
        let url = format!(
            "{}?api-version={SUBSCRIPTIONS_API}",
            self.subscription_url(account)
        );
        let sub = self
            .get(token, &url, "reading the subscription", account)
            .await?;
        let state = sub["state"].as_str().unwrap_or("Enabled");
        if !matches!(state, "Enabled" | "Warned" | "PastDue") {
            return Err(provider_errors::subscription_disabled(account, state));
        }
        Ok(sub)
    }

    async fn fetch(
        &self,
        token: &SecretString,
        account: &AzureAccount,
        what: List,
    ) -> PortResult<Found> {
        let list = |provider: &str, api: &str| {
            format!(
                "{}/providers/Microsoft.Network/{provider}?api-version={api}",
                self.subscription_url(account)
            )
        };
        Ok(match what {
            List::VirtualNetworks => {
                let items = self
                    .all_pages(
                        token,
                        list("virtualNetworks", NETWORK_API),
                        "listing virtual networks",
                        account,
                    )
                    .await?;
                Found::Networks(items.iter().map(network).collect())
            }
            List::DnsZones => {
                let items = self
                    .all_pages(
                        token,
                        list("dnszones", DNS_API),
                        "listing DNS zones",
                        account,
                    )
                    .await?;
                Found::Zones(items.iter().map(|z| zone(z, false)).collect())
            }
            List::PrivateDnsZones => {
                let items = self
                    .all_pages(
                        token,
                        list("privateDnsZones", PRIVATE_DNS_API),
                        "listing private DNS zones",
                        account,
                    )
                    .await?;
                Found::Zones(items.iter().map(|z| zone(z, true)).collect())
            }
        })
    }

    pub async fn verify(&self, identity: &CloudIdentity) -> PortResult<CallerIdentity> {
        let account = azure_account(identity)?;
        let token = self.token(account).await?;
        let sub = self.subscription(&token, account).await?;
        Ok(CallerIdentity {
            account: account.subscription_id.clone(),
            arn: format!(
                "app {} in tenant {} ({})",
                account.client_id,
                account.tenant_id,
                sub["displayName"].as_str().unwrap_or("subscription")
            ),
            user_id: account.client_id.clone(),
        })
    }

    pub async fn discover(&self, identity: &CloudIdentity) -> PortResult<Inventory> {
        let account = azure_account(identity)?;
        let token = self.token(account).await?;
        self.subscription(&token, account).await?;
        let token = &token;
        let results: Vec<(List, PortResult<Found>)> =
            futures::stream::iter([List::VirtualNetworks, List::DnsZones, List::PrivateDnsZones])
                .map(|what| async move { (what, self.fetch(token, account, what).await) })
                .buffer_unordered(3)
                .collect()
                .await;
        let mut resources = Resources::default();
        let mut outcomes = Vec::new();
        let mut zones: Vec<(List, PortResult<Vec<HostedZone>>)> = Vec::new();
        for (what, found) in results {
            match found {
                Ok(Found::Networks(networks)) => {
                    let (mut vpcs, mut subnets) = (0, 0);
                    for (location, vpc, subs) in networks {
                        vpcs += 1;
                        subnets += subs.len();
                        resources
                            .vpcs
                            .entry(location.clone())
                            .or_default()
                            .push(vpc);
                        resources.subnets.entry(location).or_default().extend(subs);
                    }
                    outcomes.push(ok(ResourceType::Vpcs, vpcs));
                    outcomes.push(ok(ResourceType::Subnets, subnets));
                }
                Ok(Found::Zones(z)) => zones.push((what, Ok(z))),
                Err(e) if what == List::VirtualNetworks => {
                    tracing::warn!(error = %e, "listing virtual networks failed");
                    outcomes.push(failed(ResourceType::Vpcs, &e));
                    outcomes.push(failed(ResourceType::Subnets, &e));
                }
                Err(e) => zones.push((what, Err(e))),
            }
        }
        // Public and private zones are one type (as in Route 53): the
        // outcome is the worse of the two lists, naming the failed one.
        zones.sort_by_key(|(what, _)| *what);
        let mut problem: Option<FetchOutcome> = None;
        for (what, result) in zones {
            match result {
                Ok(z) => resources.hosted_zones.extend(z),
                Err(e) => {
                    tracing::warn!(list = what.name(), error = %e, "listing DNS zones failed");
                    let mut o = failed(ResourceType::HostedZones, &e);
                    o.message = o.message.map(|m| format!("{}: {m}", what.name()));
                    problem.get_or_insert(o);
                }
            }
        }
        let zone_count = resources.hosted_zones.len();
        outcomes.push(match problem {
            Some(mut o) => {
                o.count = zone_count;
                o
            }
            None => ok(ResourceType::HostedZones, zone_count),
        });
        outcomes.sort_by(|a, b| (a.resource_type, &a.region).cmp(&(b.resource_type, &b.region)));
        let regions: Vec<String> = resources.vpcs.keys().cloned().collect();
        Ok(Inventory {
            fetched_at: Utc::now(),
            account_id: account.subscription_id.clone(),
            regions,
            resources,
            outcomes,
        })
    }
}

fn ok(kind: ResourceType, count: usize) -> FetchOutcome {
    FetchOutcome {
        resource_type: kind,
        region: GLOBAL.into(),
        status: FetchStatus::Ok,
        count,
        message: None,
    }
}

fn failed(kind: ResourceType, e: &StepError) -> FetchOutcome {
    failed_outcome(kind, GLOBAL, e)
}

/// A virtual network and its subnets, with its location.
fn network(v: &Value) -> (String, Vpc, Vec<Subnet>) {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let props = &v["properties"];
    let prefixes: Vec<&str> = props["addressSpace"]["addressPrefixes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let subnets = props["subnets"]
        .as_array()
        .map(|subs| {
            subs.iter()
                .map(|s| Subnet {
                    id: s["id"].as_str().unwrap_or_default().into(),
                    vpc_id: id.clone(),
                    cidr_block: s["properties"]["addressPrefix"]
                        .as_str()
                        .or_else(|| s["properties"]["addressPrefixes"][0].as_str())
                        .unwrap_or_default()
                        .into(),
                    availability_zone: String::new(),
                    name: s["name"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    let vpc = Vpc {
        id: id.clone(),
        cidr_block: prefixes.join(","),
        is_default: false,
        name: v["name"].as_str().map(str::to_string),
        state: props["provisioningState"].as_str().map(str::to_string),
    };
    (
        v["location"].as_str().unwrap_or(GLOBAL).to_string(),
        vpc,
        subnets,
    )
}

fn zone(z: &Value, private: bool) -> HostedZone {
    HostedZone {
        id: z["id"].as_str().unwrap_or_default().into(),
        name: z["name"].as_str().unwrap_or_default().into(),
        private,
        record_count: z["properties"]["numberOfRecordSets"].as_i64(),
    }
}

fn azure_account(identity: &CloudIdentity) -> PortResult<&AzureAccount> {
    match &identity.account {
        CloudAccount::Azure(a) => Ok(a),
        other => Err(StepError::internal(format!(
            "identity {} is a {} identity, not azure",
            identity.id,
            other.provider().as_str()
        ))),
    }
}
