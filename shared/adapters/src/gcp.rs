//! Access to a customer's Google Cloud project through workload identity
//! federation, with the platform's own AWS identity as the external
//! credential (<https://google.aip.dev/auth/4117>):
//!
//! 1. the platform's AWS credentials sign an STS `GetCallerIdentity`
//!    request (SigV4, with `x-goog-cloud-target-resource` = the provider's
//!    audience among the signed headers); the request, not sent, is the
//!    subject token;
//! 2. Google STS exchanges it for a federated access token
//!    (<https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token>);
//! 3. when the identity names a service account, IAM Credentials'
//!    `generateAccessToken` trades that for the account's token;
//! 4. Compute Engine and Cloud DNS are read with it, every page, all at
//!    once (networks and zones beside the region list), each API paced by
//!    an adaptive window (its rate quota is per project and API).
//!
//! Google's `google-cloud-auth` crate implements steps 1–3, but reads the
//! AWS credentials only from environment variables or the instance
//! metadata service (not the SDK's credential chain that the platform's
//! functions and tests configure), reports failures as opaque strings where
//! we need the provider's error codes for the customer, and would add a
//! second HTTP and TLS stack; so the flow is written here, with AWS's own
//! `aws-sigv4` doing the signing. Tokens live in [`SecretString`]s and never
//! leave this module.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use chrono::Utc;
use jobs_domain::identity::{CloudAccount, CloudIdentity, GcpAccount, RegionSelection};
use jobs_domain::inventory::{
    FetchOutcome, FetchStatus, GLOBAL, HostedZone, Inventory, ResourceType, Resources, Subnet, Vpc,
};
use jobs_domain::ports::{CallerIdentity, PortResult};
use jobs_domain::provider_errors::{self, failed_outcome};
use jobs_domain::{SecretString, StepError};
use serde_json::{Value, json};

use crate::cloud::adaptive::{Window, Windows};
use crate::rest::{Answer, Rest};

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AWS4_REQUEST: &str = "urn:ietf:params:aws:token-type:aws4_request";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Compute Engine and Cloud DNS list at most 500 items per page.
const PAGE: &str = "500";

/// Where the Google APIs are (operator configuration, never user input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpEndpoints {
    pub sts: String,
    pub iam_credentials: String,
    pub compute: String,
    pub dns: String,
}

impl Default for GcpEndpoints {
    fn default() -> Self {
        GcpEndpoints {
            sts: "https://sts.googleapis.com".into(),
            iam_credentials: "https://iamcredentials.googleapis.com".into(),
            compute: "https://compute.googleapis.com".into(),
            dns: "https://dns.googleapis.com".into(),
        }
    }
}

pub struct GcpCloud {
    rest: Rest,
    endpoints: GcpEndpoints,
    /// The platform's own AWS configuration: its credentials sign the
    /// subject token, its region names the STS endpoint Google verifies with.
    platform: SdkConfig,
    concurrency: usize,
}

/// What one discovery task found.
enum Found {
    Networks(Vec<Vpc>),
    Subnetworks(Vec<Subnet>),
    Zones(Vec<HostedZone>),
}

impl GcpCloud {
    pub fn new(rest: Rest, endpoints: GcpEndpoints, platform: SdkConfig) -> Self {
        GcpCloud {
            rest,
            endpoints,
            platform,
            concurrency: 8,
        }
    }

    /// Each API (Compute Engine, Cloud DNS) starts with `n` requests in
    /// flight; its window then adapts (`crate::cloud::adaptive`).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The signed, unsent `GetCallerIdentity` request, serialised and
    /// URL-encoded as Google STS expects it.
    async fn subject_token(&self, audience: &str) -> PortResult<SecretString> {
        let provider = self.platform.credentials_provider().ok_or_else(|| {
            StepError::internal(
                "the platform has no AWS credentials to sign the subject token with",
            )
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            StepError::unavailable(format!("reading the platform's AWS credentials: {e}"))
        })?;
        let region = self
            .platform
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let host = format!("sts.{region}.amazonaws.com");
        let url = format!("https://{host}?Action=GetCallerIdentity&Version=2011-06-15");
        let identity: Identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("sts")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| StepError::internal(format!("signing the subject token: {e}")))?
            .into();
        let unsigned = [
            ("host", host.as_str()),
            ("x-goog-cloud-target-resource", audience),
        ];
        let request = SignableRequest::new(
            "POST",
            url.as_str(),
            unsigned.iter().copied(),
            SignableBody::Bytes(b""),
        )
        .map_err(|e| StepError::internal(format!("signing the subject token: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| StepError::internal(format!("signing the subject token: {e}")))?
            .into_parts();
        let mut headers: BTreeMap<String, String> = unsigned
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in instructions.headers() {
            let key = if k.eq_ignore_ascii_case("authorization") {
                "Authorization".to_string()
            } else {
                k.to_string()
            };
            headers.insert(key, v.to_string());
        }
        let token = json!({
            "url": url,
            "method": "POST",
            "headers": headers
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect::<Vec<_>>(),
        });
        Ok(SecretString::new(
            percent_encoding::utf8_percent_encode(
                &token.to_string(),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string(),
        ))
    }

    /// An access token for the project: the federated token, or the
    /// service account's when the identity names one.
    async fn token(&self, account: &GcpAccount) -> PortResult<SecretString> {
        let audience = account.audience();
        let subject = self.subject_token(&audience).await?;
        let url = format!("{}/v1/token", self.endpoints.sts);
        let answer = self
            .rest
            .send("Google STS token exchange", |c| {
                c.post(&url).form(&[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("audience", audience.as_str()),
                    ("scope", CLOUD_PLATFORM),
                    ("requested_token_type", ACCESS_TOKEN),
                    ("subject_token_type", AWS4_REQUEST),
                    ("subject_token", subject.expose()),
                ])
            })
            .await?;
        if !answer.ok() {
            return Err(provider_errors::gcp_sts(
                answer.status,
                &answer.body,
                account,
            ));
        }
        let federated = token_field(&answer, "access_token", "Google STS")?;
        let Some(sa) = &account.service_account else {
            return Ok(federated);
        };
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken",
            self.endpoints.iam_credentials
        );
        let answer = self
            .rest
            .send("IAM Credentials generateAccessToken", |c| {
                c.post(&url)
                    .bearer_auth(federated.expose())
                    .json(&json!({"scope": [CLOUD_PLATFORM], "lifetime": "900s"}))
            })
            .await?;
        if !answer.ok() {
            return Err(provider_errors::gcp_impersonation(
                answer.status,
                &answer.body,
                account,
            ));
        }
        token_field(&answer, "accessToken", "IAM Credentials")
    }

    async fn get(
        &self,
        token: &SecretString,
        url: &str,
        query: &[(&str, &str)],
        what: &str,
        account: &GcpAccount,
        window: Option<&Arc<Window>>,
    ) -> PortResult<Value> {
        self.rest
            .get_json_paced(
                what,
                window,
                |c| c.get(url).query(query).bearer_auth(token.expose()),
                |a| provider_errors::gcp_api(a.status, &a.body, what, account),
            )
            .await
    }

    /// Every item of a paged Google list (`items_key`), following
    /// `nextPageToken` until there is none.
    async fn all_pages(
        &self,
        token: &SecretString,
        url: &str,
        items_key: &str,
        what: &str,
        account: &GcpAccount,
        window: &Arc<Window>,
    ) -> PortResult<Vec<Value>> {
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", PAGE)];
            if let Some(t) = &page_token {
                query.push(("pageToken", t.as_str()));
            }
            let page = self
                .get(token, url, &query, what, account, Some(window))
                .await?;
            if let Some(list) = page[items_key].as_array() {
                items.extend(list.iter().cloned());
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page_token = Some(t.to_string()),
                _ => return Ok(items),
            }
        }
    }

    fn project_url(&self, account: &GcpAccount) -> String {
        format!(
            "{}/compute/v1/projects/{}",
            self.endpoints.compute, account.project_id
        )
    }

    /// The regions to read subnetworks in, and those named but unknown to
    /// the project.
    async fn regions(
        &self,
        token: &SecretString,
        account: &GcpAccount,
        windows: &Windows,
    ) -> PortResult<(Vec<String>, Vec<String>)> {
        let url = format!("{}/regions", self.project_url(account));
        let compute = windows.get("compute");
        let listed = self
            .all_pages(
                token,
                &url,
                "items",
                "compute.regions.list",
                account,
                &compute,
            )
            .await?;
        let mut known: Vec<String> = listed
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        known.sort();
        Ok(match &account.regions {
            RegionSelection::AllEnabled => (known, Vec::new()),
            RegionSelection::Listed { regions } => regions
                .iter()
                .map(|r| r.as_str().to_string())
                .partition(|r| known.contains(r)),
        })
    }

    async fn fetch(
        &self,
        token: &SecretString,
        account: &GcpAccount,
        kind: ResourceType,
        region: &str,
        windows: &Windows,
    ) -> PortResult<Found> {
        let project = &account.project_id;
        let compute = &windows.get("compute");
        Ok(match kind {
            ResourceType::Vpcs => {
                let url = format!("{}/global/networks", self.project_url(account));
                let items = self
                    .all_pages(
                        token,
                        &url,
                        "items",
                        "compute.networks.list",
                        account,
                        compute,
                    )
                    .await?;
                Found::Networks(
                    items
                        .iter()
                        .map(|n| {
                            let name = n["name"].as_str().unwrap_or_default();
                            Vpc {
                                id: format!("projects/{project}/global/networks/{name}"),
                                cidr_block: n["IPv4Range"].as_str().unwrap_or_default().into(),
                                is_default: name == "default",
                                name: Some(name.to_string()),
                                state: None,
                            }
                        })
                        .collect(),
                )
            }
            ResourceType::Subnets => {
                let url = format!("{}/regions/{region}/subnetworks", self.project_url(account));
                let items = self
                    .all_pages(
                        token,
                        &url,
                        "items",
                        &format!("compute.subnetworks.list in {region}"),
                        account,
                        compute,
                    )
                    .await?;
                Found::Subnetworks(
                    items
                        .iter()
                        .map(|s| {
                            let name = s["name"].as_str().unwrap_or_default();
                            Subnet {
                                id: format!(
                                    "projects/{project}/regions/{region}/subnetworks/{name}"
                                ),
                                vpc_id: resource_path(s["network"].as_str().unwrap_or_default()),
                                cidr_block: s["ipCidrRange"].as_str().unwrap_or_default().into(),
                                availability_zone: String::new(),
                                name: Some(name.to_string()),
                            }
                        })
                        .collect(),
                )
            }
            ResourceType::HostedZones => {
                let url = format!(
                    "{}/dns/v1/projects/{project}/managedZones",
                    self.endpoints.dns
                );
                let items = self
                    .all_pages(
                        token,
                        &url,
                        "managedZones",
                        "dns.managedZones.list",
                        account,
                        &windows.get("dns"),
                    )
                    .await?;
                Found::Zones(
                    items
                        .iter()
                        .map(|z| HostedZone {
                            id: z["name"].as_str().unwrap_or_default().into(),
                            name: z["dnsName"].as_str().unwrap_or_default().into(),
                            private: z["visibility"] == "private",
                            record_count: None,
                        })
                        .collect(),
                )
            }
            ResourceType::SecurityGroups | ResourceType::IamUsers => {
                return Err(StepError::internal(format!(
                    "{} are not discovered in Google Cloud",
                    kind.as_str()
                )));
            }
        })
    }

    pub async fn verify(&self, identity: &CloudIdentity) -> PortResult<CallerIdentity> {
        let account = gcp_account(identity)?;
        let token = self.token(account).await?;
        let project = self
            .get(
                &token,
                &self.project_url(account),
                &[],
                "compute.projects.get",
                account,
                None,
            )
            .await?;
        let name = project["name"].as_str().unwrap_or_default();
        if name != account.project_id {
            return Err(StepError::internal(format!(
                "compute.projects.get answered for project {name:?}, not {}",
                account.project_id
            )));
        }
        Ok(CallerIdentity {
            account: account.project_id.clone(),
            arn: match &account.service_account {
                Some(sa) => format!("serviceAccount:{sa}"),
                None => format!("principalSet:{}", account.audience()),
            },
            user_id: account.project_number.clone(),
        })
    }

    pub async fn discover(&self, identity: &CloudIdentity) -> PortResult<Inventory> {
        let account = gcp_account(identity)?;
        let token = self.token(account).await?;
        let windows = Windows::new(self.concurrency);
        let (token, windows) = (&token, &windows);
        let run = move |kind: ResourceType, region: String| async move {
            let found = self.fetch(token, account, kind, &region, windows).await;
            (kind, region, found)
        };
        // Networks and zones need no region list: they run beside it.
        let global = futures::future::join_all(
            [ResourceType::Vpcs, ResourceType::HostedZones].map(|k| run(k, GLOBAL.into())),
        );
        let regional = async {
            let (regions, unknown) = self.regions(token, account, windows).await?;
            let subnets = regions
                .iter()
                .map(|r| run(ResourceType::Subnets, r.clone()));
            let found = futures::future::join_all(subnets).await;
            Ok::<_, StepError>((regions, unknown, found))
        };
        let (global, regional) = futures::future::join(global, regional).await;
        let (regions, unknown, mut results) = regional?;
        results.extend(global);
        let mut resources = Resources::default();
        let mut outcomes: Vec<FetchOutcome> = unknown
            .iter()
            .map(|r| FetchOutcome {
                resource_type: ResourceType::Subnets,
                region: r.clone(),
                status: FetchStatus::RegionDisabled,
                count: 0,
                message: Some(format!(
                    "{r} is not a region of project {}",
                    account.project_id
                )),
            })
            .collect();
        for (kind, region, found) in results {
            match found {
                Ok(found) => {
                    let count = match found {
                        Found::Networks(v) => {
                            let n = v.len();
                            resources.vpcs.insert(GLOBAL.into(), v);
                            n
                        }
                        Found::Subnetworks(v) => {
                            let n = v.len();
                            resources.subnets.insert(region.clone(), v);
                            n
                        }
                        Found::Zones(v) => {
                            let n = v.len();
                            resources.hosted_zones = v;
                            n
                        }
                    };
                    outcomes.push(FetchOutcome {
                        resource_type: kind,
                        region,
                        status: FetchStatus::Ok,
                        count,
                        message: None,
                    });
                }
                Err(e) => {
                    tracing::warn!(resource_type = kind.as_str(), region = %region, error = %e, "discovery call failed");
                    outcomes.push(failed_outcome(kind, &region, &e));
                }
            }
        }
        outcomes.sort_by(|a, b| (a.resource_type, &a.region).cmp(&(b.resource_type, &b.region)));
        Ok(Inventory {
            fetched_at: Utc::now(),
            account_id: account.project_id.clone(),
            regions,
            resources,
            outcomes,
        })
    }
}

fn gcp_account(identity: &CloudIdentity) -> PortResult<&GcpAccount> {
    match &identity.account {
        CloudAccount::Gcp(g) => Ok(g),
        other => Err(StepError::internal(format!(
            "identity {} is a {} identity, not gcp",
            identity.id,
            other.provider().as_str()
        ))),
    }
}

/// `projects/P/global/networks/N` out of a self link
/// (`https://…/compute/v1/projects/P/global/networks/N`).
fn resource_path(link: &str) -> String {
    match link.find("/projects/") {
        Some(i) => link[i + 1..].to_string(),
        None => link.to_string(),
    }
}

fn token_field(answer: &Answer, field: &str, service: &str) -> PortResult<SecretString> {
    let v: Value = serde_json::from_str(&answer.body).map_err(|_| {
        StepError::internal(format!(
            "{service} answered a token response that is not JSON"
        ))
    })?;
    v[field]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(SecretString::new)
        .ok_or_else(|| StepError::internal(format!("{service} answered without {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_links_become_resource_paths() {
        assert_eq!(
            resource_path("https://compute.googleapis.com/compute/v1/projects/p/global/networks/n"),
            "projects/p/global/networks/n"
        );
        assert_eq!(resource_path("n"), "n");
    }
}
