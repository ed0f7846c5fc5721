//! A fake of the Azure APIs the platform calls, for tests and the local
//! demo only (never shipped): the Microsoft identity platform's token
//! endpoint (client credentials with a client secret) and the Azure
//! Resource Manager reads of discovery. One server serves both, so that
//! `AZURE_AUTHORITY_URL` and `AZURE_RESOURCE_MANAGER_URL` may both be its
//! [`AzureFake::url`]; the token scope is therefore `<url()>/.default`
//! where real Azure has `https://management.azure.com/.default`.
//!
//! `world` holds what the fake knows, `token` the identity platform's
//! token endpoint and `arm` the Resource Manager reads; this file the
//! fake, its routing and the errors both answer with.

mod arm;
mod token;
mod world;

use std::collections::HashMap;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::{Call, Core, Ctx, Provider, Reply};

pub use world::{
    AppSecret, AzureApp, AzureSubscription, AzureTenant, AzureVnet, AzureWorld, AzureZone,
};

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

    /// Resource Manager, not the identity platform.
    fn metered(&self, call: &Call) -> bool {
        call.segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
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
    use serde_json::Value;

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

    #[tokio::test]
    async fn a_quota_meters_resource_manager_not_the_token_endpoint() {
        let fake = demo(1).await;
        fake.set_quota(Some(crate::cloud_fakes::Quota::TokenBucket {
            burst: 1,
            per_second: 1,
        }));
        let token = token(&fake).await;
        let (status, _) = token_call(&fake, TENANT, &form(&fake)).await;
        assert_eq!(status, 200, "sign-ins are not Resource Manager reads");
        let get = || {
            reqwest::Client::new()
                .get(format!(
                    "{}/subscriptions/{SUB}?api-version=2022-12-01",
                    fake.url()
                ))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(get().await.unwrap().status(), 200);
        let r = get().await.unwrap();
        assert_eq!(r.status(), 429, "the bucket's one token is spent");
        assert_eq!(r.headers()["retry-after"], "1");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(fake.throttled_count(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(get().await.unwrap().status(), 200, "refilled");
    }
}
