//! A fake of the Azure APIs the platform calls, for tests and the local
//! demo only (never shipped): the Microsoft identity platform's token
//! endpoint (client credentials with a client secret) and the Azure
//! Resource Manager reads of discovery. One server serves both, so that
//! `AZURE_AUTHORITY_URL` and `AZURE_RESOURCE_MANAGER_URL` may both be its
//! [`AzureFake::url`]; the token scope is therefore `<url()>/.default`
//! where real Azure has `https://management.azure.com/.default`.

use std::collections::HashMap;

use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Call, Core, Ctx, Provider, Reply};

/// What stays literal in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the fake knows: directories with their apps, and subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureWorld {
    pub tenants: Vec<AzureTenant>,
    pub subscriptions: Vec<AzureSubscription>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureTenant {
    pub tenant_id: String,
    pub apps: Vec<AzureApp>,
}

/// An app registration (its service principal signs in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureApp {
    pub client_id: String,
    pub secrets: Vec<AppSecret>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSecret {
    /// A GUID: the secret's id, which the portal shows beside the value and
    /// which users paste by mistake.
    pub id: String,
    pub value: String,
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSubscription {
    pub subscription_id: String,
    pub tenant_id: String,
    /// `Enabled`, `Disabled`, `Warned`, `PastDue` or `Deleted`.
    pub state: String,
    /// Client ids holding Reader on the subscription.
    pub readers: Vec<String>,
    pub vnets: Vec<AzureVnet>,
    pub dns_zones: Vec<AzureZone>,
    pub private_dns_zones: Vec<AzureZone>,
}

impl Default for AzureSubscription {
    fn default() -> Self {
        AzureSubscription {
            subscription_id: String::new(),
            tenant_id: String::new(),
            state: "Enabled".into(),
            readers: Vec::new(),
            vnets: Vec::new(),
            dns_zones: Vec::new(),
            private_dns_zones: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureVnet {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub address_prefixes: Vec<String>,
    /// (name, address prefix).
    pub subnets: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureZone {
    pub resource_group: String,
    pub name: String,
    pub record_sets: i64,
}

impl AzureWorld {
    /// One tenant with one app (one valid secret, `secret_value`, with a
    /// random id) holding Reader on one enabled subscription with `n`
    /// virtual networks of two subnets each, alternately in westeurope and
    /// eastus, `n` public and `n` private DNS zones.
    pub fn demo(
        tenant_id: &str,
        client_id: &str,
        secret_value: &str,
        subscription_id: &str,
        n: usize,
    ) -> AzureWorld {
        let zone = |i: usize, suffix: &str| AzureZone {
            resource_group: format!("rg-dns-{}", i % 2),
            name: format!("zone{i}.{suffix}"),
            record_sets: 2 + i as i64,
        };
        AzureWorld {
            tenants: vec![AzureTenant {
                tenant_id: tenant_id.into(),
                apps: vec![AzureApp {
                    client_id: client_id.into(),
                    secrets: vec![AppSecret {
                        id: Uuid::new_v4().to_string(),
                        value: secret_value.into(),
                        expired: false,
                    }],
                }],
            }],
            subscriptions: vec![AzureSubscription {
                subscription_id: subscription_id.into(),
                tenant_id: tenant_id.into(),
                state: "Enabled".into(),
                readers: vec![client_id.into()],
                vnets: (0..n)
                    .map(|i| {
                        let net = format!("10.{}.{}", i / 256, i % 256);
                        AzureVnet {
                            resource_group: format!("rg-net-{}", i % 3),
                            name: format!("vnet-{i}"),
                            location: if i % 2 == 0 { "westeurope" } else { "eastus" }.into(),
                            address_prefixes: vec![format!("{net}.0/24")],
                            subnets: vec![
                                ("default".into(), format!("{net}.0/25")),
                                ("apps".into(), format!("{net}.128/25")),
                            ],
                        }
                    })
                    .collect(),
                dns_zones: (0..n).map(|i| zone(i, "example.com")).collect(),
                private_dns_zones: (0..n).map(|i| zone(i, "internal.example")).collect(),
            }],
        }
    }
}

/// The running fake; see the module documentation.
pub struct AzureFake {
    core: Core<Azure>,
}

common_api!(AzureFake, AzureWorld);

#[derive(Default)]
struct Azure {
    /// Access token → (tenant id, client id).
    tokens: HashMap<String, (String, String)>,
}

/// The Resource Manager reads served.
#[derive(Clone, Copy)]
enum Arm {
    Subscription,
    VirtualNetworks,
    DnsZones,
    PrivateDnsZones,
}

impl Arm {
    fn action(self) -> &'static str {
        match self {
            Arm::Subscription => "Microsoft.Resources/subscriptions/read",
            Arm::VirtualNetworks => "Microsoft.Network/virtualNetworks/read",
            Arm::DnsZones => "Microsoft.Network/dnszones/read",
            Arm::PrivateDnsZones => "Microsoft.Network/privateDnsZones/read",
        }
    }

    /// The resource type's name after `Microsoft.Network/`.
    fn kind(self) -> &'static str {
        match self {
            Arm::Subscription => "",
            Arm::VirtualNetworks => "virtualNetworks",
            Arm::DnsZones => "dnszones",
            Arm::PrivateDnsZones => "privateDnsZones",
        }
    }
}

impl Provider for Azure {
    type World = AzureWorld;

    fn handle(&mut self, world: &AzureWorld, ctx: &mut Ctx<'_>, call: &Call) -> Reply {
        let segments: Vec<&str> = call.segments.iter().map(String::as_str).collect();
        // Resource Manager paths are case-insensitive; the identity
        // platform's are not.
        let is = |s: &str, want: &str| s.eq_ignore_ascii_case(want);
        match (call.method.as_str(), segments.as_slice()) {
            ("POST", [tenant, "oauth2", "v2.0", "token"]) => self.token(world, ctx, call, tenant),
            ("GET", [subs, sub]) if is(subs, "subscriptions") => {
                self.arm(world, ctx, call, sub, Arm::Subscription)
            }
            ("GET", [subs, sub, providers, namespace, kind])
                if is(subs, "subscriptions")
                    && is(providers, "providers")
                    && is(namespace, "Microsoft.Network") =>
            {
                let what = [Arm::VirtualNetworks, Arm::DnsZones, Arm::PrivateDnsZones]
                    .into_iter()
                    .find(|a| is(kind, a.kind()));
                match what {
                    Some(what) => self.arm(world, ctx, call, sub, what),
                    None => arm_error(
                        400,
                        "InvalidResourceType",
                        &format!(
                            "The resource type '{kind}' could not be found in the namespace 'Microsoft.Network' for api version '{}'.",
                            call.query("api-version").unwrap_or("")
                        ),
                    ),
                }
            }
            _ => arm_error(
                404,
                "NotFound",
                &format!(
                    "No route for {} {}: this fake serves the token endpoint and subscription reads only.",
                    call.method, call.rec.path
                ),
            ),
        }
    }

    fn throttled(&self, _world: &AzureWorld, ctx: &Ctx<'_>, call: &Call) -> Reply {
        if call.segments.get(1).is_some_and(|s| s == "oauth2") {
            return aad_error(
                ctx,
                call,
                429,
                "temporarily_unavailable",
                90055,
                "Too many requests. Retry after the interval in the Retry-After header.",
            );
        }
        arm_error(
            429,
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, refer to - https://aka.ms/srpthrottlinglimits",
        )
    }
}

impl Azure {
    /// Client credentials with a shared secret,
    /// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    /// (errors as in the "Error response" section there and the AADSTS
    /// codes of https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
    fn token(&mut self, world: &AzureWorld, ctx: &mut Ctx<'_>, call: &Call, tenant: &str) -> Reply {
        let form = call.form();
        let get = |name: &str| super::param(&form, name).filter(|v| !v.is_empty());
        let missing = |name: &str| {
            aad_error(
                ctx,
                call,
                400,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{name}'."),
            )
        };
        let Some(directory) = world
            .tenants
            .iter()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(tenant))
        else {
            return aad_error(
                ctx,
                call,
                400,
                "invalid_request",
                90002,
                &format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            );
        };
        let Some(grant) = get("grant_type") else {
            return missing("grant_type");
        };
        if grant != "client_credentials" {
            return aad_error(
                ctx,
                call,
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{grant}'."),
            );
        }
        let Some(client) = get("client_id") else {
            return missing("client_id");
        };
        let Some(scope) = get("scope") else {
            return missing("scope");
        };
        let resource = format!("{}/.default", ctx.base);
        if scope != resource {
            return aad_error(
                ctx,
                call,
                400,
                "invalid_scope",
                70011,
                &format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid (expected {resource})."
                ),
            );
        }
        let Some(app) = directory
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client))
        else {
            return aad_error(
                ctx,
                call,
                400,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            );
        };
        let Some(secret) = get("client_secret") else {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        let matching: Vec<&AppSecret> = app.secrets.iter().filter(|s| s.value == secret).collect();
        if matching.is_empty() {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."
                ),
            );
        }
        if matching.iter().all(|s| s.expired) {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
                ),
            );
        }
        let token = ctx.issue("eyJ0eXAiOiJKV1Qi.fake-");
        self.tokens.insert(
            token.clone(),
            (directory.tenant_id.clone(), app.client_id.clone()),
        );
        Reply::json(
            200,
            json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }),
        )
    }

    /// The Resource Manager reads, checked in the order ARM does:
    /// token, api-version, subscription, role, subscription state.
    fn arm(
        &mut self,
        world: &AzureWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        sub: &str,
        what: Arm,
    ) -> Reply {
        let Some((tenant, client)) = call.bearer().and_then(|t| self.tokens.get(t)) else {
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
                .header(
                    "www-authenticate",
                    format!(
                        "Bearer authorization_uri=\"{}/common\", error=\"invalid_token\", error_description=\"The access token is invalid.\"",
                        ctx.base
                    ),
                );
        };
        let Some(version) = call.query("api-version").filter(|v| !v.is_empty()) else {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        };
        if !is_api_version(version) {
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{version}' is invalid. The supported versions are dates like '2024-05-01' or '2024-05-01-preview'."
                ),
            );
        }
        let Some(s) = world.subscriptions.iter().find(|s| {
            s.subscription_id.eq_ignore_ascii_case(sub) && s.tenant_id.eq_ignore_ascii_case(tenant)
        }) else {
            return arm_error(
                404,
                "SubscriptionNotFound",
                &format!("The subscription '{sub}' could not be found."),
            );
        };
        let id = &s.subscription_id;
        if !s.readers.iter().any(|r| r.eq_ignore_ascii_case(client)) {
            return arm_error(
                403,
                "AuthorizationFailed",
                &format!(
                    "The client '{client}' with object id '{client}' does not have authorization to perform action '{}' over scope '/subscriptions/{id}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                    what.action()
                ),
            );
        }
        if let Arm::Subscription = what {
            // https://learn.microsoft.com/en-us/rest/api/resources/subscriptions/get
            return Reply::json(
                200,
                json!({
                    "id": format!("/subscriptions/{id}"),
                    "subscriptionId": id,
                    "tenantId": s.tenant_id,
                    "displayName": "Azure subscription 1",
                    "state": s.state,
                    "subscriptionPolicies": {
                        "locationPlacementId": "Public_2014-09-01",
                        "quotaId": "PayAsYouGo_2014-09-01",
                        "spendingLimit": "Off",
                    },
                    "authorizationSource": "RoleBased",
                    "managedByTenants": [],
                }),
            );
        }
        if s.state == "Disabled" || s.state == "Deleted" {
            return arm_error(
                409,
                "DisabledSubscription",
                &format!(
                    "The subscription '{id}' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled."
                ),
            );
        }
        // Only the DNS lists document `$top`.
        let top = match (what, call.query("$top")) {
            (Arm::DnsZones | Arm::PrivateDnsZones, Some(v)) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return arm_error(
                        400,
                        "InvalidQueryParameterValue",
                        &format!(
                            "The value '{v}' of the query parameter '$top' is not a positive integer."
                        ),
                    );
                }
            },
            _ => None,
        };
        let total = match what {
            Arm::VirtualNetworks => s.vnets.len(),
            Arm::DnsZones => s.dns_zones.len(),
            _ => s.private_dns_zones.len(),
        };
        let list = format!("{id}/{}", what.kind());
        let skiptoken = call.query("$skiptoken");
        let Some(page) = ctx.page(&list, total, top, skiptoken) else {
            return arm_error(
                400,
                "InvalidSkipToken",
                &format!(
                    "The $skiptoken '{}' is invalid: use the nextLink of the previous page as it is.",
                    skiptoken.unwrap_or("")
                ),
            );
        };
        let prefix = format!("/subscriptions/{id}/resourceGroups");
        let value: Vec<Value> = match what {
            // https://learn.microsoft.com/en-us/rest/api/virtualnetwork/virtual-networks/list-all
            Arm::VirtualNetworks => s.vnets[page.start..page.end]
                .iter()
                .map(|v| {
                    let vnet_id = format!(
                        "{prefix}/{}/providers/Microsoft.Network/virtualNetworks/{}",
                        v.resource_group, v.name
                    );
                    let subnets: Vec<Value> = v
                        .subnets
                        .iter()
                        .map(|(name, prefix)| {
                            json!({
                                "id": format!("{vnet_id}/subnets/{name}"),
                                "name": name,
                                "type": "Microsoft.Network/virtualNetworks/subnets",
                                "properties": {
                                    "addressPrefix": prefix,
                                    "provisioningState": "Succeeded",
                                },
                            })
                        })
                        .collect();
                    json!({
                        "id": vnet_id,
                        "name": v.name,
                        "type": "Microsoft.Network/virtualNetworks",
                        "location": v.location,
                        "properties": {
                            "provisioningState": "Succeeded",
                            "addressSpace": {"addressPrefixes": v.address_prefixes},
                            "subnets": subnets,
                            "virtualNetworkPeerings": [],
                            "enableDdosProtection": false,
                        },
                    })
                })
                .collect(),
            // https://learn.microsoft.com/en-us/rest/api/dns/zones/list
            Arm::DnsZones => s.dns_zones[page.start..page.end]
                .iter()
                .map(|z| {
                    json!({
                        "id": format!("{prefix}/{}/providers/Microsoft.Network/dnszones/{}", z.resource_group, z.name),
                        "name": z.name,
                        "type": "Microsoft.Network/dnszones",
                        "location": "global",
                        "properties": {
                            "numberOfRecordSets": z.record_sets,
                            "maxNumberOfRecordSets": 10000,
                            "zoneType": "Public",
                            "nameServers": [
                                "ns1-01.azure-dns.com.",
                                "ns2-01.azure-dns.net.",
                                "ns3-01.azure-dns.org.",
                                "ns4-01.azure-dns.info.",
                            ],
                        },
                    })
                })
                .collect(),
            // https://learn.microsoft.com/en-us/rest/api/dns/privatednszones/private-zones/list
            _ => s.private_dns_zones[page.start..page.end]
                .iter()
                .map(|z| {
                    json!({
                        "id": format!("{prefix}/{}/providers/Microsoft.Network/privateDnsZones/{}", z.resource_group, z.name),
                        "name": z.name,
                        "type": "Microsoft.Network/privateDnsZones",
                        "location": "global",
                        "properties": {
                            "numberOfRecordSets": z.record_sets,
                            "maxNumberOfRecordSets": 25000,
                            "numberOfVirtualNetworkLinks": 0,
                            "provisioningState": "Succeeded",
                        },
                    })
                })
                .collect(),
        };
        let mut body = json!({ "value": value });
        if let Some(next) = page.next {
            let mut link = format!(
                "{}/subscriptions/{id}/providers/Microsoft.Network/{}?api-version={}",
                ctx.base,
                what.kind(),
                utf8_percent_encode(version, QUERY_VALUE)
            );
            if let Some(top) = top {
                link.push_str(&format!("&$top={top}"));
            }
            link.push_str(&format!("&$skiptoken={next}"));
            body["nextLink"] = link.into();
        }
        Reply::json(200, body)
    }
}

/// `YYYY-MM-DD`, optionally `-preview`: the form of every ARM api-version.
fn is_api_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}

/// Resource Manager's error body.
fn arm_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
}

/// The identity platform's error body; the correlation id is the
/// caller's `client-request-id` when it sends one, as Entra ID does.
fn aad_error(ctx: &Ctx<'_>, call: &Call, status: u16, error: &str, code: u32, text: &str) -> Reply {
    let trace = Uuid::new_v4().to_string();
    let correlation = call
        .header("client-request-id")
        .map_or_else(|| Uuid::new_v4().to_string(), String::from);
    let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("{}/error?code={code}", ctx.base),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud_fakes::Knobs;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "00000000-1111-2222-3333-444444444444";
    const SECRET: &str = "Abc8Q~xyz.secret-value_0123456789abcdefghij";
    const SUB: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    type Form = Vec<(&'static str, String)>;
    /// Tenant, form, then the status, error, AADSTS code and text expected.
    type Case = (&'static str, Form, u16, &'static str, u32, String);

    async fn demo(n: usize) -> AzureFake {
        AzureFake::start(AzureWorld::demo(TENANT, CLIENT, SECRET, SUB, n))
            .await
            .unwrap()
    }

    fn form(fake: &AzureFake) -> Form {
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", CLIENT.into()),
            ("client_secret", SECRET.into()),
            ("scope", format!("{}/.default", fake.url())),
        ]
    }

    fn network(kind: &str, query: &str) -> String {
        format!("/subscriptions/{SUB}/providers/Microsoft.Network/{kind}?{query}")
    }

    async fn token_call(fake: &AzureFake, tenant: &str, form: &[(&str, String)]) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/{tenant}/oauth2/v2.0/token", fake.url()))
            .header("client-request-id", "11111111-2222-3333-4444-555555555555")
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn token(fake: &AzureFake) -> String {
        let (status, body) = token_call(fake, TENANT, &form(fake)).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn get(fake: &AzureFake, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", fake.url())
        };
        let mut req = reqwest::Client::new().get(url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Follows `nextLink`; the names of every item and the pages seen.
    async fn all_pages(fake: &AzureFake, path: &str, token: &str) -> (Vec<String>, usize) {
        let (mut names, mut pages, mut url) = (Vec::new(), 0, path.to_string());
        loop {
            let (status, body) = get(fake, &url, Some(token)).await;
            assert_eq!(status, 200, "{body}");
            pages += 1;
            let value = body["value"].as_array().unwrap();
            assert!(!value.is_empty() && value.len() <= 2, "{body}");
            names.extend(
                value
                    .iter()
                    .map(|i| i["name"].as_str().unwrap().to_string()),
            );
            match body.get("nextLink") {
                Some(link) => url = link.as_str().unwrap().to_string(),
                None => return (names, pages),
            }
        }
    }

    #[tokio::test]
    async fn issues_tokens_for_client_credentials() {
        let fake = demo(0).await;
        let (status, body) = token_call(&fake, TENANT, &form(&fake)).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert!(token.starts_with("eyJ0eXAiOiJKV1Qi.fake-") && token.len() >= 40);
        assert_eq!(
            (
                body["token_type"].as_str(),
                body["expires_in"].as_i64(),
                body["ext_expires_in"].as_i64()
            ),
            (Some("Bearer"), Some(3599), Some(3599))
        );
        assert_eq!(fake.issued_tokens(), vec![token.to_string()]);
        // Tenant and client ids are GUIDs, compared in any case.
        let mut upper = form(&fake);
        upper[1].1 = CLIENT.to_uppercase();
        let (status, _) = token_call(&fake, &TENANT.to_uppercase(), &upper).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn token_errors_match_entra_id() {
        let fake = demo(0).await;
        let secret_id = fake.world().tenants[0].apps[0].secrets[0].id.clone();
        let with = |i: usize, value: &str| {
            let mut f = form(&fake);
            f[i].1 = value.to_string();
            f
        };
        let cases: Vec<Case> = vec![
            (
                "00000000-0000-0000-0000-000000000000",
                form(&fake),
                400,
                "invalid_request",
                90002,
                "Tenant '00000000-0000-0000-0000-000000000000' not found".into(),
            ),
            (
                TENANT,
                with(0, "password"),
                400,
                "unsupported_grant_type",
                70003,
                "unsupported grant type 'password'".into(),
            ),
            (
                TENANT,
                with(3, "https://management.azure.com/.default"),
                400,
                "invalid_scope",
                70011,
                "'scope' is not valid".into(),
            ),
            (
                TENANT,
                with(1, "99999999-1111-2222-3333-444444444444"),
                400,
                "unauthorized_client",
                700016,
                format!("was not found in the directory '{TENANT}'"),
            ),
            (
                TENANT,
                with(2, "wrong"),
                401,
                "invalid_client",
                7000215,
                format!("not the client secret ID, for a secret added to app '{CLIENT}'"),
            ),
            (
                TENANT,
                with(2, &secret_id),
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided".into(),
            ),
            (
                TENANT,
                form(&fake)[..3]
                    .iter()
                    .filter(|(n, _)| *n != "client_secret")
                    .cloned()
                    .chain([("scope", format!("{}/.default", fake.url()))])
                    .collect(),
                401,
                "invalid_client",
                7000218,
                "'client_secret'".into(),
            ),
            (
                TENANT,
                form(&fake)[..3].to_vec(),
                400,
                "invalid_request",
                900144,
                "parameter: 'scope'".into(),
            ),
        ];
        for (tenant, f, status, error, code, says) in cases {
            let (got, body) = token_call(&fake, tenant, &f).await;
            assert_eq!(
                (got, body["error"].as_str()),
                (status, Some(error)),
                "{body}"
            );
            assert_eq!(body["error_codes"], json!([code]));
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.starts_with(&format!("AADSTS{code}: ")),
                "{description}"
            );
            assert!(description.contains(&says), "{says}: {description}");
            assert!(
                description.contains("\r\nTrace ID: ") && description.contains("\r\nTimestamp: ")
            );
            assert_eq!(
                body["correlation_id"],
                "11111111-2222-3333-4444-555555555555"
            );
            assert!(body["trace_id"].is_string() && body["timestamp"].is_string());
            assert_eq!(
                body["error_uri"],
                format!("{}/error?code={code}", fake.url())
            );
        }
        fake.update(|w| w.tenants[0].apps[0].secrets[0].expired = true);
        let (status, body) = token_call(&fake, TENANT, &form(&fake)).await;
        assert_eq!(
            (status, body["error_codes"][0].as_u64()),
            (401, Some(7000222))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("are expired")
        );
        assert!(fake.issued_tokens().is_empty());
    }

    #[tokio::test]
    async fn resource_manager_pages_every_list() {
        let fake = demo(7).await;
        fake.set_page_size(2);
        let token = token(&fake).await;
        let world = fake.world();
        let s = &world.subscriptions[0];
        for (kind, expected) in [
            (
                "virtualNetworks",
                s.vnets.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            ),
            (
                "dnszones",
                s.dns_zones.iter().map(|z| z.name.clone()).collect(),
            ),
            (
                "privateDnsZones",
                s.private_dns_zones.iter().map(|z| z.name.clone()).collect(),
            ),
        ] {
            let path = network(kind, "api-version=2024-05-01");
            let (mut names, pages) = all_pages(&fake, &path, &token).await;
            assert_eq!(pages, 4, "{kind}");
            names.sort();
            let mut expected = expected;
            expected.sort();
            assert_eq!(names, expected, "{kind}");
        }

        let (_, body) = get(
            &fake,
            &network("dnszones", "api-version=2018-05-01&$top=1"),
            Some(&token),
        )
        .await;
        assert_eq!(body["value"].as_array().unwrap().len(), 1);
        let next = body["nextLink"].as_str().unwrap();
        let first = network("dnszones", "api-version=2018-05-01&$top=1&$skiptoken=");
        assert!(
            next.starts_with(&format!("{}{first}", fake.url())),
            "{next}"
        );
        let zone = &body["value"][0];
        assert_eq!(zone["type"], "Microsoft.Network/dnszones");
        assert_eq!(
            zone["id"],
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg-dns-0/providers/Microsoft.Network/dnszones/zone0.example.com"
            )
        );
        assert_eq!(zone["properties"]["zoneType"], "Public");
        assert_eq!(zone["properties"]["numberOfRecordSets"], 2);

        let (_, body) = get(
            &fake,
            &network("virtualNetworks", "api-version=2024-05-01"),
            Some(&token),
        )
        .await;
        let vnet = &body["value"][1];
        let id = format!(
            "/subscriptions/{SUB}/resourceGroups/rg-net-1/providers/Microsoft.Network/virtualNetworks/vnet-1"
        );
        assert_eq!(vnet["id"], id);
        assert_eq!(vnet["location"], "eastus");
        assert_eq!(
            vnet["properties"]["addressSpace"]["addressPrefixes"],
            json!(["10.0.1.0/24"])
        );
        assert_eq!(
            vnet["properties"]["subnets"][1]["id"],
            format!("{id}/subnets/apps")
        );
        assert_eq!(
            vnet["properties"]["subnets"][1]["properties"]["addressPrefix"],
            "10.0.1.128/25"
        );

        let (_, body) = get(
            &fake,
            &network("privateDnsZones", "api-version=2024-06-01"),
            Some(&token),
        )
        .await;
        assert_eq!(
            body["value"][0]["type"],
            "Microsoft.Network/privateDnsZones"
        );
        assert_eq!(
            body["value"][0]["properties"]["provisioningState"],
            "Succeeded"
        );

        let (status, body) = get(
            &fake,
            &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
            Some(&token),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["id"].as_str(),
                body["tenantId"].as_str(),
                body["state"].as_str()
            ),
            (
                Some(format!("/subscriptions/{SUB}").as_str()),
                Some(TENANT),
                Some("Enabled")
            )
        );
        assert_eq!(body["authorizationSource"], "RoleBased");

        // Empty lists: an empty value, no nextLink.
        fake.update(|w| w.subscriptions[0].vnets.clear());
        let (_, body) = get(
            &fake,
            &network("virtualNetworks", "api-version=2024-05-01"),
            Some(&token),
        )
        .await;
        assert_eq!(body, json!({"value": []}));
    }

    #[tokio::test]
    async fn resource_manager_errors() {
        let mut world = AzureWorld::demo(TENANT, CLIENT, SECRET, SUB, 3);
        let other = AzureWorld::demo(
            "bbbbbbbb-0000-0000-0000-000000000000",
            CLIENT,
            SECRET,
            "cccccccc-0000-0000-0000-000000000000",
            0,
        );
        world.tenants.extend(other.tenants);
        world.subscriptions.extend(other.subscriptions);
        let fake = AzureFake::start(world).await.unwrap();
        fake.set_page_size(2);
        let token = token(&fake).await;
        let list = |kind: &str| network(kind, "api-version=2024-05-01");
        let code = |body: &Value| body["error"]["code"].as_str().map(String::from);

        let (status, body) = get(&fake, &list("virtualNetworks"), None).await;
        assert_eq!(
            (status, code(&body).as_deref()),
            (401, Some("InvalidAuthenticationToken"))
        );
        assert_eq!(body["error"]["message"], "The access token is invalid.");
        let (status, _) = get(
            &fake,
            &list("virtualNetworks"),
            Some("eyJ0eXAiOiJKV1Qi.forged"),
        )
        .await;
        assert_eq!(status, 401);
        let (status, body) = get(
            &fake,
            &format!("/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks"),
            Some(&token),
        )
        .await;
        assert_eq!(
            (status, code(&body).as_deref()),
            (400, Some("MissingApiVersionParameter"))
        );
        let (status, body) = get(
            &fake,
            &format!("/subscriptions/{SUB}?api-version=latest"),
            Some(&token),
        )
        .await;
        assert_eq!(
            (status, code(&body).as_deref()),
            (400, Some("InvalidApiVersionParameter"))
        );

        for sub in [
            "dddddddd-0000-0000-0000-000000000000",
            "cccccccc-0000-0000-0000-000000000000",
        ] {
            let (status, body) = get(
                &fake,
                &format!("/subscriptions/{sub}?api-version=2022-12-01"),
                Some(&token),
            )
            .await;
            assert_eq!(
                (status, code(&body).as_deref()),
                (404, Some("SubscriptionNotFound"))
            );
            assert_eq!(
                body["error"]["message"],
                format!("The subscription '{sub}' could not be found.")
            );
        }

        // Paths are case-insensitive in Resource Manager.
        let (status, _) = get(
            &fake,
            &network("VIRTUALNETWORKS", "api-version=2024-05-01")
                .replace("/subscriptions/", "/SUBSCRIPTIONS/")
                .replace("Microsoft.Network", "microsoft.network"),
            Some(&token),
        )
        .await;
        assert_eq!(status, 200);

        let (_, first) = get(&fake, &list("dnszones"), Some(&token)).await;
        let skiptoken = first["nextLink"]
            .as_str()
            .unwrap()
            .rsplit_once("$skiptoken=")
            .unwrap()
            .1
            .to_string();
        for path in [
            format!("{}&$skiptoken=forged", list("dnszones")),
            format!("{}&$skiptoken={skiptoken}", list("virtualNetworks")),
            format!("{}&$top=zero", list("dnszones")),
        ] {
            let (status, body) = get(&fake, &path, Some(&token)).await;
            assert_eq!(status, 400, "{path}: {body}");
        }

        fake.update(|w| w.subscriptions[0].readers.clear());
        for (path, action) in [
            (
                format!("/subscriptions/{SUB}?api-version=2022-12-01"),
                "Microsoft.Resources/subscriptions/read",
            ),
            (
                list("virtualNetworks"),
                "Microsoft.Network/virtualNetworks/read",
            ),
            (list("dnszones"), "Microsoft.Network/dnszones/read"),
            (
                list("privateDnsZones"),
                "Microsoft.Network/privateDnsZones/read",
            ),
        ] {
            let (status, body) = get(&fake, &path, Some(&token)).await;
            assert_eq!(
                (status, code(&body).as_deref()),
                (403, Some("AuthorizationFailed"))
            );
            assert_eq!(
                body["error"]["message"],
                format!(
                    "The client '{CLIENT}' with object id '{CLIENT}' does not have authorization to perform action '{action}' over scope '/subscriptions/{SUB}' or the scope is invalid. If access was recently granted, please refresh your credentials."
                )
            );
        }

        fake.update(|w| {
            w.subscriptions[0].readers.push(CLIENT.into());
            w.subscriptions[0].state = "Disabled".into();
        });
        let (status, body) = get(
            &fake,
            &format!("/subscriptions/{SUB}?api-version=2022-12-01"),
            Some(&token),
        )
        .await;
        assert_eq!((status, body["state"].as_str()), (200, Some("Disabled")));
        for kind in ["virtualNetworks", "dnszones", "privateDnsZones"] {
            let (status, body) = get(&fake, &list(kind), Some(&token)).await;
            assert_eq!(
                (status, code(&body).as_deref()),
                (409, Some("DisabledSubscription"))
            );
        }
    }

    #[tokio::test]
    async fn throttles_every_nth_request() {
        let fake = demo(1).await;
        let token = token(&fake).await;
        fake.set_knobs(Knobs {
            throttle_every: Some(2),
            ..Knobs::default()
        });
        let r = reqwest::Client::new()
            .get(format!(
                "{}/subscriptions/{SUB}?api-version=2022-12-01",
                fake.url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        let (status, _) = token_call(&fake, TENANT, &form(&fake)).await;
        assert_eq!(status, 200);
        let (status, body) = token_call(&fake, TENANT, &form(&fake)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("temporarily_unavailable"))
        );
        assert_eq!(fake.issued_tokens().len(), 2);
        assert_eq!(fake.request_count(), 4);
    }
}
