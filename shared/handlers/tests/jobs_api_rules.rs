//! The job API's rules alone: bad input is refused naming the field before
//! anything is written or started; idempotency keys answer the same job;
//! a job whose execution cannot start ends FAILED and frees its key; what a
//! job refers to must exist.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::StepError;
use jobs_domain::job::JobStatus;
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Clock, IdentityStore};
use serde_json::{Value, json};

fn post_job(
    body: &Value,
    key: Option<&str>,
) -> aws_lambda_events::event::apigw::ApiGatewayV2httpRequest {
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    event("POST", "/api/jobs", &headers, Some(&body.to_string()))
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let w = World::new();
    let cases = [
        (json!({"type": "DEPLOY_WORKR", "params": {}}), "type"),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "eu-west-9"}}),
            "params.region",
        ),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "eu-west-1", "cpu": 256, "memory": 4096}}),
            "params.memory",
        ),
        (
            json!({"type": "CONNECTION_TEST", "params": {}}),
            "params.cloud_identity_id",
        ),
        (
            json!({"type": "RUNNER_JOB", "params": {"payload": {}}, "priority": 1}),
            "priority",
        ),
    ];
    for (body, field) in cases {
        let (status, answer, _) = w.call_jobs(post_job(&body, Some("k1"))).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    assert!(w.jobs.all().is_empty());
    assert!(w.starter.started().is_empty());
    assert!(!w.jobs.key_bound(OWNER, "k1"));
}

#[tokio::test]
async fn an_idempotency_key_answers_the_same_job_and_starts_nothing_new() {
    let w = World::new();
    w.identity("acme").await;
    let body = json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}});
    let (status, first, _) = w.call_jobs(post_job(&body, Some("key-1"))).await;
    assert_eq!(status, 202);
    assert_eq!(first["status"], "QUEUED");
    let (status, again, response) = w.call_jobs(post_job(&body, Some("key-1"))).await;
    assert_eq!((status, again["id"].clone()), (202, first["id"].clone()));
    assert_eq!(response.headers.get("idempotent-replayed").unwrap(), "true");
    let started = w.starter.started();
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0].name,
        first["id"].as_str().unwrap(),
        "the execution is named by the job id"
    );
    assert_eq!(
        started[0].input,
        json!({"job_id": first["id"]}),
        "only the job id travels"
    );

    let other = json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}, "x": 1});
    let (status, _, _) = w.call_jobs(post_job(&other, Some("key-1"))).await;
    assert_eq!(status, 400, "unknown field first");
    let other = json!({"type": "FETCH_RESOURCES", "params": {"cloud_identity_id": "acme"}});
    let (status, answer, _) = w.call_jobs(post_job(&other, Some("key-1"))).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
    assert_eq!(w.jobs.all().len(), 1);
}

#[tokio::test]
async fn a_job_that_cannot_start_ends_failed_and_its_key_can_be_retried() {
    let w = World::new();
    let body =
        json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "eu-west-1"}});
    w.starter.faults.fail_next(
        "start",
        StepError::unavailable("Step Functions answered 503"),
    );
    let (status, answer, _) = w.call_jobs(post_job(&body, Some("deploy-1"))).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("START_FAILED"))
    );
    let failed = w.jobs.all();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, JobStatus::Failed);
    assert_eq!(failed[0].error.as_ref().unwrap().code, "START_FAILED");
    assert!(
        !w.jobs.key_bound(OWNER, "deploy-1"),
        "the key is free again"
    );

    let (status, retried, _) = w.call_jobs(post_job(&body, Some("deploy-1"))).await;
    assert_eq!(status, 202);
    assert_ne!(retried["id"], json!(failed[0].id));
    assert_eq!(w.starter.started().len(), 1);
}

#[tokio::test]
async fn what_a_job_refers_to_must_exist() {
    let w = World::new();
    let (status, answer, _) = w
        .call_jobs(post_job(
            &json!({"type": "FETCH_RESOURCES", "params": {"cloud_identity_id": "nobody"}}),
            None,
        ))
        .await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (404, json!("params.cloud_identity_id"))
    );
    for t in ["UPDATE_WORKER", "DESTROY_WORKER"] {
        let mut params = json!({"name": "runner-9"});
        if t == "UPDATE_WORKER" {
            params["image"] = json!("repo/runner:2");
        }
        let (status, answer, _) = w
            .call_jobs(post_job(&json!({"type": t, "params": params}), None))
            .await;
        assert_eq!(
            (status, answer["error"]["field"].clone()),
            (404, json!("params.name")),
            "{t}"
        );
    }
    // A live worker of that name: DEPLOY is a conflict.
    let deploy = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.run::<jobs_handlers::steps::GenerateConfig>(json!({"job_id": deploy.id}))
        .await
        .unwrap();
    let (status, _, _) = w
        .call_jobs(post_job(&json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "eu-west-1"}}), None))
        .await;
    assert_eq!(status, 409);
    assert!(w.starter.started().is_empty());
}

#[tokio::test]
async fn another_owners_worker_is_a_taken_name_and_nothing_to_update_or_destroy() {
    let w = World::new();
    let as_other = |body: Value| {
        event(
            "POST",
            "/api/jobs",
            &[("X-Organization-Id", "org-2")],
            Some(&body.to_string()),
        )
    };
    // org-1's DEPLOY is accepted and waits in the worker's run queue: its
    // name is taken before any deployment record exists.
    let deploy =
        json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "eu-west-1"}});
    let (status, job, _) = w.call_jobs(post_job(&deploy, None)).await;
    assert_eq!(status, 202, "{job}");
    let (status, answer, _) = w.call_jobs(as_other(deploy.clone())).await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (409, json!("params.name"))
    );
    assert!(
        !answer.to_string().contains(job["id"].as_str().unwrap()),
        "{answer}"
    );
    // Once deployed, org-2 can neither update nor destroy it.
    let arn = format!(
        "arn:aws:states:us-east-1:123456789012:execution:deploy_worker:{}",
        job["id"].as_str().unwrap()
    );
    w.run::<jobs_handlers::steps::MarkRunning>(json!({"job_id": job["id"], "execution_arn": arn}))
        .await
        .unwrap();
    w.run::<jobs_handlers::steps::GenerateConfig>(json!({"job_id": job["id"]}))
        .await
        .unwrap();
    for t in ["UPDATE_WORKER", "DESTROY_WORKER"] {
        let (status, answer, _) = w
            .call_jobs(as_other(json!({"type": t, "params": {"name": "runner-1"}})))
            .await;
        assert_eq!(
            (status, answer["error"]["field"].clone()),
            (404, json!("params.name")),
            "{t}: {answer}"
        );
    }
    assert_eq!(w.starter.started().len(), 1, "only org-1's DEPLOY started");
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_a_forged_cursor_names_next_token() {
    let w = World::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"type": "RUNNER_JOB", "params": {"payload": {"n": i}}});
        let (status, job, _) = w.call_jobs(post_job(&body, None)).await;
        assert_eq!(status, 202);
        ids.push(job["id"].clone());
        w.clock.advance(chrono::Duration::seconds(1));
    }
    let (status, page, _) = w
        .call_jobs(event("GET", "/api/jobs?type=RUNNER_JOB&limit=2", &[], None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["jobs"][0]["id"], ids[2]);
    // A listing shows each job's summary; the job itself has the rest.
    let summary = page["jobs"][0].as_object().unwrap();
    let mut keys: Vec<&str> = summary.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "status", "type", "updated_at"]);
    let token = page["next_token"].as_str().unwrap();
    let (_, rest, _) = w
        .call_jobs(event(
            "GET",
            &format!("/api/jobs?type=RUNNER_JOB&limit=2&next_token={token}"),
            &[],
            None,
        ))
        .await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 1);
    let (status, bad, _) = w
        .call_jobs(event("GET", "/api/jobs?next_token=Zm9yZ2Vk", &[], None))
        .await;
    assert_eq!(
        (status, bad["error"]["field"].clone()),
        (400, json!("next_token"))
    );
    let (status, _, _) = w
        .call_jobs(event("GET", "/api/jobs/job-../../etc", &[], None))
        .await;
    assert_eq!(status, 404);
    // A cursor of one listing is refused by another.
    let (status, other, _) = w
        .call_jobs(event(
            "GET",
            &format!("/api/jobs?status=QUEUED&next_token={token}"),
            &[],
            None,
        ))
        .await;
    assert_eq!(
        (status, other["error"]["field"].clone()),
        (400, json!("next_token"))
    );
}

#[tokio::test]
async fn a_wrong_method_is_answered_405_with_the_allowed_ones() {
    let w = World::new();
    for (method, path, allow) in [
        ("DELETE", "/api/jobs", "GET, POST"),
        (
            "POST",
            "/api/jobs/job-0123456789abcdef0123456789abcdef",
            "GET",
        ),
        ("DELETE", "/api/cloud-identities/acme", "GET, PUT"),
        ("GET", "/api/cloud-identities/acme/refresh", "POST"),
    ] {
        let (status, _, raw) = w.call_jobs(event(method, path, &[], None)).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(
            raw.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    let (status, _) = w
        .call_runners(event("PUT", "/api/runners/r-1/heartbeat", &[], None))
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn identities_get_a_platform_issued_external_id_that_a_new_role_keeps() {
    let w = World::new();
    let put = |arn: &str| {
        event(
            "PUT",
            "/api/cloud-identities/acme",
            &[],
            Some(&json!({"role_arn": arn, "regions": ["eu-west-1"]}).to_string()),
        )
    };
    let (status, created, _) = w.call_jobs(put("arn:aws:iam::111122223333:role/A")).await;
    assert_eq!(status, 201);
    let external_id = created["external_id"].as_str().unwrap().to_string();
    assert_eq!(external_id.len(), 32);
    let (status, updated, _) = w.call_jobs(put("arn:aws:iam::111122223333:role/B")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            updated["external_id"].as_str().unwrap(),
            updated["role_arn"].as_str().unwrap()
        ),
        (external_id.as_str(), "arn:aws:iam::111122223333:role/B")
    );
    let (status, answer, _) = w.call_jobs(put("arn:aws:iam::1111:role/B")).await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (400, json!("role_arn"))
    );

    let (status, job, _) = w
        .call_jobs(event(
            "POST",
            "/api/cloud-identities/acme/refresh",
            &[],
            None,
        ))
        .await;
    assert_eq!(
        (status, job["type"].clone()),
        (202, json!("FETCH_RESOURCES"))
    );
    assert_eq!(w.starter.started()[0].state_machine, "fetch_resources");
}

#[tokio::test]
async fn replaying_the_key_of_a_job_whose_start_was_lost_starts_it() {
    let w = World::new();
    w.identity("acme").await;
    let body = json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}});
    // The first request stored the job and bound the key, then its
    // StartExecution was lost (simulated: the starter failed and the key was
    // rebound by hand, as a crash between the two would leave it).
    w.starter
        .faults
        .fail_next("start", StepError::unavailable("connection reset"));
    let (status, _, _) = w.call_jobs(post_job(&body, Some("k"))).await;
    assert_eq!(status, 503);
    let job = jobs_domain::job::Job::new(
        OWNER,
        jobs_domain::job::JobType::ConnectionTest,
        json!({"cloud_identity_id": "acme"}),
        w.clock.now(),
    );
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body.to_string().as_bytes()))
    };
    use jobs_domain::ports::JobStore;
    w.jobs
        .create(
            &job,
            Some(&jobs_domain::ports::IdempotencyKey {
                owner: OWNER.into(),
                key: "k2".into(),
                request_hash: hash,
            }),
        )
        .await
        .unwrap();
    assert!(w.starter.started().is_empty());

    let (status, replayed, _) = w.call_jobs(post_job(&body, Some("k2"))).await;
    assert_eq!(
        (status, replayed["id"].as_str().unwrap()),
        (202, job.id.as_str())
    );
    let started = w.starter.started();
    assert_eq!(started.len(), 1, "the replay started it");
    assert_eq!(started[0].name, job.id);
    let (_, _, _) = w.call_jobs(post_job(&body, Some("k2"))).await;
    assert_eq!(w.starter.started().len(), 1, "starting is idempotent");
}

fn put_identity(
    id: &str,
    body: &Value,
) -> aws_lambda_events::event::apigw::ApiGatewayV2httpRequest {
    event(
        "PUT",
        &format!("/api/cloud-identities/{id}"),
        &[],
        Some(&body.to_string()),
    )
}

fn gcp_identity() -> Value {
    json!({
        "provider": "gcp",
        "project_id": "acme-prod-1",
        "project_number": "123456789012",
        "workload_identity_pool_id": "alethia-pool",
        "workload_identity_provider_id": "aws-platform",
        "service_account": "discovery@acme-prod-1.iam.gserviceaccount.com",
        "regions": ["us-central1"]
    })
}

const AZURE_SECRET: &str = "Xy8Q~planted.azure-secret-value_0123456789ab";

fn azure_identity() -> Value {
    json!({
        "provider": "azure",
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "00000000-1111-2222-3333-444444444444",
        "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "client_secret": AZURE_SECRET
    })
}

#[tokio::test]
async fn gcp_and_azure_identities_are_validated_before_anything_is_written() {
    let w = World::new();
    let mut cases = Vec::new();
    for (field, value) in [
        ("project_number", json!("12-34")),
        ("workload_identity_pool_id", json!("gcp-reserved")),
        ("service_account", json!("me@example.com")),
        ("regions", json!("everywhere")),
    ] {
        let mut body = gcp_identity();
        body[field] = value;
        cases.push((body, field));
    }
    for (field, value) in [
        ("tenant_id", json!("contoso.onmicrosoft.com")),
        ("subscription_id", json!("not-a-guid")),
        // The secret's ID, which the portal shows beside its value.
        (
            "client_secret",
            json!("0a1b2c3d-1111-2222-3333-444444444444"),
        ),
    ] {
        let mut body = azure_identity();
        body[field] = value;
        cases.push((body, field));
    }
    for (body, field) in cases {
        let (status, answer, _) = w.call_jobs(put_identity("acme", &body)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    // Well-formed but new, so there is no stored secret to keep: 409.
    let mut no_secret = azure_identity();
    no_secret.as_object_mut().unwrap().remove("client_secret");
    let (status, answer, _) = w.call_jobs(put_identity("acme", &no_secret)).await;
    assert_eq!(
        (status, answer["error"]["field"].clone()),
        (409, json!("client_secret")),
        "{answer}"
    );
    assert!(w.identities.get(OWNER, "acme").await.unwrap().is_none());
    assert!(w.identity_secrets.values().is_empty());
}

#[tokio::test]
async fn an_azure_client_secret_is_write_only_and_kept_across_updates() {
    let w = World::new();
    let (status, created, raw) = w
        .call_jobs(put_identity("contoso", &azure_identity()))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["client_secret_set"], true);
    let text = format!("{raw:?}");
    assert!(!text.contains(AZURE_SECRET), "the answer shows the secret");
    let stored = w.identities.get(OWNER, "contoso").await.unwrap().unwrap();
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains(AZURE_SECRET)
    );
    let values = w.identity_secrets.values();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].expose(), AZURE_SECRET);

    // A later PUT without the secret keeps it; with one, replaces it.
    let mut update = azure_identity();
    update.as_object_mut().unwrap().remove("client_secret");
    update["subscription_id"] = json!("bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee");
    let (status, updated, _) = w.call_jobs(put_identity("contoso", &update)).await;
    assert_eq!(
        (status, updated["subscription_id"].as_str()),
        (200, Some("bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"))
    );
    let (_, read, raw) = w
        .call_jobs(event("GET", "/api/cloud-identities/contoso", &[], None))
        .await;
    assert_eq!(read["provider"], "azure");
    assert!(!format!("{raw:?}").contains(AZURE_SECRET));
    update["client_secret"] = json!("New8Q~second.secret-value_0123456789abcdef");
    w.call_jobs(put_identity("contoso", &update)).await;
    assert_eq!(
        w.identity_secrets.values()[0].expose(),
        "New8Q~second.secret-value_0123456789abcdef"
    );

    // The provider of an identity does not change under it.
    let (status, answer, _) = w.call_jobs(put_identity("contoso", &gcp_identity())).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (409, Some("provider"))
    );
}

#[tokio::test]
async fn a_gcp_identity_shows_its_audience_and_tests_like_any_other() {
    let w = World::new();
    let (status, created, _) = w.call_jobs(put_identity("acme-gcp", &gcp_identity())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["audience"],
        "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/alethia-pool/providers/aws-platform"
    );
    assert_eq!(created["regions"], json!(["us-central1"]));
    assert!(created.get("external_id").is_none());
    let (status, job, _) = w
        .call_jobs(post_job(
            &json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme-gcp"}}),
            None,
        ))
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(w.starter.started()[0].state_machine, "connection_test");
}

/// An event as API Gateway passes it after its JWT authorizer verified a
/// token with these claims (and a header naming another organization).
fn with_claims(
    mut event: aws_lambda_events::event::apigw::ApiGatewayV2httpRequest,
    claims: Value,
) -> aws_lambda_events::event::apigw::ApiGatewayV2httpRequest {
    event.request_context.authorizer =
        Some(serde_json::from_value(json!({"jwt": {"claims": claims}})).unwrap());
    event
}

#[tokio::test]
async fn under_jwt_authorization_the_token_s_claim_names_the_owner_not_the_header() {
    let w = World::new();
    let mut deps = w.job_api();
    deps.owner_source = "jwt:org_id".parse().unwrap();
    let call = |event| {
        let deps = deps.clone();
        async move {
            let r = jobs_handlers::jobs_api::handle(&deps, event).await;
            (r.status_code as u16, body_of(&r))
        }
    };
    let body =
        json!({"role_arn": "arn:aws:iam::111122223333:role/Discovery", "regions": ["eu-west-1"]});
    // The header says org-1 (OWNER); the verified token says org-2.
    let (status, _) = call(with_claims(
        put_identity("acme", &body),
        json!({"org_id": "org-2"}),
    ))
    .await;
    assert_eq!(status, 201);
    assert!(w.identities.get("org-2", "acme").await.unwrap().is_some());
    assert!(w.identities.get(OWNER, "acme").await.unwrap().is_none());
    let get = || event("GET", "/api/cloud-identities/acme", &[], None);
    let (status, _) = call(with_claims(get(), json!({"org_id": "org-2"}))).await;
    assert_eq!(status, 200);
    let (status, _) = call(with_claims(get(), json!({"org_id": OWNER}))).await;
    assert_eq!(status, 404, "another organization's token");
    // A token that names no organization (or a malformed one): 403.
    for claims in [json!({"sub": "someone"}), json!({"org_id": "a/b"})] {
        let (status, answer) = call(with_claims(get(), claims)).await;
        assert_eq!(status, 403, "{answer}");
    }
    let (status, _) = call(get()).await;
    assert_eq!(status, 403, "no authorizer context at all");
}
