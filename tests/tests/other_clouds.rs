//! CONNECTION_TEST and FETCH_RESOURCES for Google Cloud and Azure identities
//! through the local stack, against the fakes of `local_stack::cloud_fakes`
//! (which answer with the providers' documented shapes and check what we
//! send): every page of every resource type read back whole, each
//! classified customer error ending FAILED with its code and hint, 429s
//! honoured, what goes over the wire, and no token or secret in a log
//! line, an execution history, a job, an identity or a table.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::BTreeSet;

use e2e::{api, finish, history_text, tables_text, with_other_clouds};
use local_stack::cloud_fakes::demo::{self, *};
use local_stack::cloud_fakes::{
    AppSecret, AwsProvider, AzureApp, AzureFake, AzureSubscription, AzureTenant, GcpProject,
    GoogleFake, ServiceAccount, WorkloadPool,
};
use local_stack::stack::LocalStack;
use reqwest::Method;
use serde_json::{Value, json};

/// Resources of each type in the fakes, served two per page: four pages.
const N: usize = 7;
const PAGE: usize = 2;

async fn put(s: &LocalStack, id: &str, body: &Value) -> Value {
    api(s)
        .expect(
            201,
            Method::PUT,
            &format!("/api/cloud-identities/{id}"),
            Some(body.clone()),
            None,
        )
        .await
        .unwrap()
}

async fn run(s: &LocalStack, job_type: &str, identity: &str) -> Value {
    let job = api(s)
        .submit(job_type, json!({"cloud_identity_id": identity}))
        .await
        .unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

async fn identity(s: &LocalStack, id: &str) -> Value {
    api(s)
        .expect(
            200,
            Method::GET,
            &format!("/api/cloud-identities/{id}"),
            None,
            None,
        )
        .await
        .unwrap()
}

/// The `name`s of the resources of `kind` in an identity's view, over all
/// its regions.
fn names(view: &Value, kind: &str) -> BTreeSet<String> {
    let all: Vec<Value> = match &view["resources"][kind] {
        Value::Object(by_region) => by_region
            .values()
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .collect(),
        Value::Array(items) => items.clone(),
        _ => vec![],
    };
    all.iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn requests_to(fake_requests: &[local_stack::cloud_fakes::Recorded], path_part: &str) -> usize {
    fake_requests
        .iter()
        .filter(|r| r.path.contains(path_part))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gcp_project_is_verified_through_federation_and_discovered_page_by_page() {
    let (google, _azure, s) = with_other_clouds(N, PAGE).await;
    put(&s, "acme-gcp", &demo::gcp_identity()).await;
    let job = run(&s, "CONNECTION_TEST", "acme-gcp").await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(job["result"]["identity"]["account"], GCP_PROJECT, "{job}");

    // Read back whole: every network, subnetwork (3 regions) and zone.
    let view = identity(&s, "acme-gcp").await;
    let world = google.world();
    let project = &world.projects[0];
    let expected = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(names(&view, "vpcs"), expected(project.networks.clone()));
    assert_eq!(
        names(&view, "subnets"),
        expected(project.subnetworks.iter().map(|s| s.name.clone()).collect())
    );
    assert_eq!(
        names(&view, "hosted_zones").len(),
        N,
        "zones are keyed by their dnsName: {view}"
    );
    assert_eq!(view["summary"]["subnets"], 3 * N);
    assert_eq!(
        view["resources"]["subnets"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["asia-east1", "europe-west1", "us-central1"]
    );
    assert!(
        view["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "ok"),
        "{view}"
    );

    // More than three pages of every list, each page token followed.
    let reqs = google.requests();
    for list in [
        "/global/networks",
        "/regions/us-central1/subnetworks",
        "/managedZones",
    ] {
        assert!(
            requests_to(&reqs, list) >= 4,
            "{list}: {} requests",
            requests_to(&reqs, list)
        );
    }

    // What went to Google STS: a token exchange of an AWS-signed request.
    let exchange = reqs.iter().find(|r| r.path == "/v1/token").unwrap();
    let form: Vec<(String, String)> = serde_urlencoded_pairs(&exchange.body);
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let audience = format!(
        "//iam.googleapis.com/projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/alethia-pool/providers/aws-platform"
    );
    assert_eq!(
        field("grant_type"),
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(
        field("subject_token_type"),
        "urn:ietf:params:aws:token-type:aws4_request"
    );
    assert_eq!(
        field("scope"),
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(field("audience"), audience);
    let subject: Value = serde_json::from_str(&percent_decode(&field("subject_token"))).unwrap();
    assert_eq!(
        subject["url"],
        "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    assert_eq!(subject["method"], "POST");
    let header = |name: &str| {
        subject["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["key"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h["value"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let authorization = header("Authorization");
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
            && authorization.contains("/us-east-1/sts/aws4_request"),
        "{authorization}"
    );
    let signed = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(
        signed
            .split(';')
            .any(|h| h == "x-goog-cloud-target-resource"),
        "{signed}"
    );
    assert_eq!(header("x-goog-cloud-target-resource"), audience);
    // Then the service account's token, which reads the project.
    let impersonation = reqs
        .iter()
        .find(|r| r.path.ends_with(":generateAccessToken"))
        .unwrap();
    assert!(
        impersonation
            .path
            .contains(&format!("discovery@{GCP_PROJECT}.iam.gserviceaccount.com"))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_subscription_is_verified_and_discovered_page_by_page() {
    let (_google, azure, s) = with_other_clouds(N, PAGE).await;
    put(&s, "contoso", &demo::azure_identity()).await;
    let job = run(&s, "CONNECTION_TEST", "contoso").await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(
        job["result"]["identity"]["account"], AZURE_SUBSCRIPTION,
        "{job}"
    );
    let view = identity(&s, "contoso").await;
    let world = azure.world();
    let sub = &world.subscriptions[0];
    assert_eq!(
        names(&view, "vpcs"),
        sub.vnets.iter().map(|v| v.name.clone()).collect()
    );
    assert_eq!(view["summary"]["subnets"], 2 * N);
    let zones = names(&view, "hosted_zones");
    assert_eq!(zones.len(), 2 * N, "public and private: {zones:?}");
    assert!(zones.contains("zone3.internal.example") && zones.contains("zone3.example.com"));
    let private = view["resources"]["hosted_zones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["private"] == true)
        .count();
    assert_eq!(private, N);
    assert_eq!(
        view["resources"]["vpcs"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["eastus", "westeurope"],
        "keyed by location"
    );
    let reqs = azure.requests();
    for list in ["/virtualNetworks", "/dnszones", "/privateDnsZones"] {
        assert!(requests_to(&reqs, list) >= 4, "{list}");
    }
    let token = reqs
        .iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .unwrap();
    assert!(token.path.starts_with(&format!("/{AZURE_TENANT}/")));
    let form = serde_urlencoded_pairs(&token.body);
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(form.contains(&("scope".into(), format!("{}/.default", azure.url()))));
    s.stop().await;
}

/// Registers `body` as `id`, runs a CONNECTION_TEST and checks that it
/// FAILED with `code` and a hint mentioning `hint_says`.
async fn fails_with(s: &LocalStack, id: &str, body: Value, code: &str, hint_says: &str) {
    put(s, id, &body).await;
    let job = run(s, "CONNECTION_TEST", id).await;
    assert_eq!(job["status"], "FAILED", "{id}: {job}");
    assert_eq!(job["error"]["code"], code, "{id}: {job}");
    let hint = job["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains(hint_says), "{id}: hint {hint:?}");
    let attempts: u64 = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["name"] == "VerifyIdentity")
        .map(|st| st["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 1, "{id}: a customer error is not retried");
}

fn gcp_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut body = demo::gcp_identity();
    f(&mut body);
    body
}

fn azure_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut body = demo::azure_identity();
    f(&mut body);
    body
}

fn add_google_failures(google: &GoogleFake) {
    google.update(|w| {
        let p = &mut w.projects[0];
        p.pools[0].providers.push(AwsProvider {
            provider_id: "other-account".into(),
            aws_account_id: "999999999999".into(),
            disabled: false,
        });
        p.service_accounts.push(ServiceAccount {
            email: format!("nobody@{GCP_PROJECT}.iam.gserviceaccount.com"),
            federated_users_allowed: false,
        });
        w.projects.push(GcpProject {
            project_id: "acme-gcp-off".into(),
            project_number: "434343434343".into(),
            pools: vec![WorkloadPool {
                pool_id: "alethia-pool".into(),
                disabled: false,
                providers: vec![AwsProvider {
                    provider_id: "aws-platform".into(),
                    aws_account_id: "123456789012".into(),
                    disabled: false,
                }],
            }],
            compute_enabled: false,
            ..GcpProject::default()
        });
    });
}

const OTHER_TENANT: &str = "11111111-2222-4333-8444-555555555555";
const EXPIRED_CLIENT: &str = "22222222-3333-4444-8555-666666666666";
const NOT_READER_SUB: &str = "33333333-4444-4555-8666-777777777777";
const DISABLED_SUB: &str = "44444444-5555-4666-8777-888888888888";
const EXPIRED_SECRET: &str = "Old8Q~expired.client-secret_value012345678";

fn add_azure_failures(azure: &AzureFake) {
    azure.update(|w| {
        w.tenants[0].apps.push(AzureApp {
            client_id: EXPIRED_CLIENT.into(),
            secrets: vec![AppSecret {
                id: "9d9d9d9d-0000-4000-8000-000000000000".into(),
                value: EXPIRED_SECRET.into(),
                expired: true,
            }],
        });
        w.subscriptions.push(AzureSubscription {
            subscription_id: NOT_READER_SUB.into(),
            tenant_id: AZURE_TENANT.into(),
            readers: vec![],
            ..AzureSubscription::default()
        });
        w.subscriptions.push(AzureSubscription {
            subscription_id: DISABLED_SUB.into(),
            tenant_id: AZURE_TENANT.into(),
            state: "Disabled".into(),
            readers: vec![AZURE_CLIENT.into()],
            ..AzureSubscription::default()
        });
        w.tenants.push(AzureTenant {
            tenant_id: "55555555-6666-4777-8888-999999999999".into(),
            apps: vec![],
        });
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_classified_customer_error_ends_failed_with_its_code_and_hint() {
    let (google, azure, s) = with_other_clouds(3, 100).await;
    add_google_failures(&google);
    add_azure_failures(&azure);

    // Google Cloud.
    fails_with(
        &s,
        "g-target",
        gcp_with(|b| b["workload_identity_pool_id"] = json!("missing-pool")),
        "invalid_target",
        "missing-pool",
    )
    .await;
    fails_with(
        &s,
        "g-grant",
        gcp_with(|b| b["workload_identity_provider_id"] = json!("other-account")),
        "invalid_grant",
        "attribute condition",
    )
    .await;
    fails_with(
        &s,
        "g-impersonate",
        gcp_with(|b| {
            b["service_account"] = json!(format!("nobody@{GCP_PROJECT}.iam.gserviceaccount.com"))
        }),
        "PERMISSION_DENIED",
        "roles/iam.workloadIdentityUser",
    )
    .await;
    fails_with(
        &s,
        "g-disabled",
        gcp_with(|b| {
            b["project_id"] = json!("acme-gcp-off");
            b["project_number"] = json!("434343434343");
            b.as_object_mut().unwrap().remove("service_account");
        }),
        "SERVICE_DISABLED",
        "gcloud services enable compute.googleapis.com --project acme-gcp-off",
    )
    .await;

    // Azure.
    fails_with(
        &s,
        "a-secret",
        azure_with(|b| b["client_secret"] = json!("Bad8Q~not.the-right-secret_value0123456789")),
        "AADSTS7000215",
        "not its Secret ID",
    )
    .await;
    fails_with(
        &s,
        "a-expired",
        azure_with(|b| {
            b["client_id"] = json!(EXPIRED_CLIENT);
            b["client_secret"] = json!(EXPIRED_SECRET);
        }),
        "AADSTS7000222",
        "has expired",
    )
    .await;
    fails_with(
        &s,
        "a-app",
        azure_with(|b| b["client_id"] = json!("66666666-7777-4888-8999-aaaaaaaaaaaa")),
        "AADSTS700016",
        "client_id",
    )
    .await;
    fails_with(
        &s,
        "a-tenant",
        azure_with(|b| b["tenant_id"] = json!(OTHER_TENANT)),
        "AADSTS90002",
        "Directory (tenant) ID",
    )
    .await;
    fails_with(
        &s,
        "a-reader",
        azure_with(|b| b["subscription_id"] = json!(NOT_READER_SUB)),
        "AuthorizationFailed",
        "--role Reader",
    )
    .await;
    fails_with(
        &s,
        "a-sub",
        azure_with(|b| b["subscription_id"] = json!("77777777-8888-4999-8aaa-bbbbbbbbbbbb")),
        "SubscriptionNotFound",
        "subscription_id",
    )
    .await;
    fails_with(
        &s,
        "a-disabled",
        azure_with(|b| b["subscription_id"] = json!(DISABLED_SUB)),
        "SubscriptionDisabled",
        "Re-enable",
    )
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_and_a_disabled_api_is_an_outcome_not_a_failure() {
    let (google, azure, s) = with_other_clouds(N, PAGE).await;
    put(&s, "acme-gcp", &demo::gcp_identity()).await;
    put(&s, "contoso", &demo::azure_identity()).await;
    // Every fourth request answers 429 with Retry-After: 1.
    google.set_throttle_every(Some(4));
    azure.set_throttle_every(Some(4));
    for id in ["acme-gcp", "contoso"] {
        let job = run(&s, "FETCH_RESOURCES", id).await;
        assert_eq!(job["status"], "SUCCESS", "{id}: {job}");
    }
    let (g, a) = (
        identity(&s, "acme-gcp").await,
        identity(&s, "contoso").await,
    );
    assert_eq!(g["summary"]["vpcs"], N);
    assert_eq!(g["summary"]["subnets"], 3 * N);
    assert_eq!(a["summary"]["hosted_zones"], 2 * N);
    assert!(google.request_count() >= 16 && azure.request_count() >= 12);

    google.set_throttle_every(None);
    google.update(|w| w.projects[0].dns_enabled = false);
    let job = run(&s, "FETCH_RESOURCES", "acme-gcp").await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let view = identity(&s, "acme-gcp").await;
    let zones = view["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["resource_type"] == "hosted_zones")
        .unwrap()
        .clone();
    assert_eq!(zones["status"], "api_disabled", "{zones}");
    assert!(
        zones["message"]
            .as_str()
            .unwrap()
            .contains("gcloud services enable dns.googleapis.com")
    );
    assert_eq!(view["summary"]["vpcs"], N, "the rest is still there");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_subject_token_or_client_secret_is_logged_kept_or_recorded() {
    let logs = e2e::logs::capture();
    let (google, azure, s) = with_other_clouds(3, 100).await;
    put(&s, "acme-gcp", &demo::gcp_identity()).await;
    put(&s, "contoso", &demo::azure_identity()).await;
    let mut jobs = Vec::new();
    for id in ["acme-gcp", "contoso"] {
        let job = run(&s, "CONNECTION_TEST", id).await;
        assert_eq!(job["status"], "SUCCESS", "{id}: {job}");
        jobs.push(job);
    }
    // A failed sign-in too: its error text must not echo what was sent.
    put(
        &s,
        "bad",
        &azure_with(|b| b["client_secret"] = json!("Planted8Q~wrong.secret_value0123456789abc")),
    )
    .await;
    let failed = run(&s, "CONNECTION_TEST", "bad").await;
    assert_eq!(failed["status"], "FAILED");
    jobs.push(failed);

    let mut planted: Vec<(String, String)> = Vec::new();
    for t in google.issued_tokens() {
        planted.push(("a Google access token".into(), t));
    }
    for t in azure.issued_tokens() {
        planted.push(("an Azure access token".into(), t));
    }
    for t in google.subject_tokens() {
        let decoded: Value = serde_json::from_str(&percent_decode(&t)).unwrap();
        let auth = decoded["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["key"] == "Authorization")
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string();
        let signature = auth.rsplit("Signature=").next().unwrap().to_string();
        planted.push(("the subject token".into(), t));
        planted.push(("the subject token's signature".into(), signature));
    }
    planted.push(("the Azure client secret".into(), AZURE_SECRET.into()));
    planted.push((
        "a wrong Azure client secret".into(),
        "Planted8Q~wrong.secret_value0123456789abc".into(),
    ));
    assert!(planted.len() >= 6, "tokens were issued: {planted:?}");

    let mut places: Vec<(String, String)> = vec![
        ("the logs".into(), logs.text()),
        ("the tables".into(), tables_text(&s).await),
        (
            "the identities".into(),
            format!(
                "{} {} {}",
                identity(&s, "acme-gcp").await,
                identity(&s, "contoso").await,
                identity(&s, "bad").await
            ),
        ),
    ];
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        places.push((format!("job {id}"), job.to_string()));
        places.push((
            format!("the history of {id}"),
            history_text(&s, id, "connection_test"),
        ));
    }
    assert!(
        places[0].1.contains("identity verified"),
        "the logs were captured"
    );
    for (what, value) in &planted {
        for (place, text) in &places {
            assert!(!text.contains(value.as_str()), "{what} is in {place}");
        }
    }
    s.stop().await;
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn serde_urlencoded_pairs(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gcp_identity_naming_regions_reads_those_only_and_reports_an_unknown_one() {
    let (google, _azure, s) = with_other_clouds(3, 100).await;
    put(
        &s,
        "acme-eu",
        &gcp_with(|b| b["regions"] = json!(["europe-west1", "mars-north1"])),
    )
    .await;
    let job = run(&s, "FETCH_RESOURCES", "acme-eu").await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let view = identity(&s, "acme-eu").await;
    assert_eq!(
        view["resources"]["subnets"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["europe-west1"]
    );
    assert_eq!(view["summary"]["subnets"], 3);
    let unknown = view["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["region"] == "mars-north1")
        .unwrap()
        .clone();
    assert_eq!(unknown["status"], "region_disabled", "{unknown}");
    let reqs = google.requests();
    assert_eq!(requests_to(&reqs, "/regions/us-central1/"), 0);
    assert_eq!(requests_to(&reqs, "/regions/mars-north1/"), 0);
    s.stop().await;
}
