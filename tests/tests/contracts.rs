//! Contracts between the pieces: the state machines load in the engine,
//! and the OpenAPI document describes what the API does (every documented
//! operation is called against the local stack and answers a documented
//! status with the documented required fields). The contract between the
//! state machines and the step types is checked without a stack, in
//! `shared/handlers/tests/state_machine_contract.rs`.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::BTreeSet;
use std::path::PathBuf;

use e2e::{api, stack};
use reqwest::Method;
use serde_json::{Value, json};

fn root() -> PathBuf {
    local_stack::paths::root()
}

#[test]
fn every_state_machine_loads_in_the_engine() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(root().join("statemachines")).unwrap() {
        sfn_definition_loads(&entry.unwrap().path());
        loaded += 1;
    }
    assert_eq!(loaded, 5);
}

fn sfn_definition_loads(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    if let Err(e) = local_stack::stack::validate_definition(&text) {
        panic!("{} does not load: {e}", path.display());
    }
}

/// Checks `value` against the document's schema for the required fields
/// (following `$ref` and `allOf`).
fn check_required(doc: &serde_yaml::Value, schema: &serde_yaml::Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(all) = schema.get("allOf").and_then(|a| a.as_sequence()) {
        for s in all {
            check_required(doc, s, value, at);
        }
    }
    if let Some(req) = schema.get("required").and_then(|r| r.as_sequence()) {
        for f in req {
            let f = f.as_str().unwrap();
            assert!(
                value.get(f).is_some(),
                "{at}: the answer lacks the required field {f}: {value}"
            );
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(|p| p.as_mapping()),
        value.as_object(),
    ) {
        for (k, s) in props {
            if let Some(v) = obj.get(k.as_str().unwrap())
                && !v.is_null()
            {
                check_required(doc, s, v, &format!("{at}.{}", k.as_str().unwrap()));
            }
        }
    }
}

fn resolve<'a>(doc: &'a serde_yaml::Value, schema: &'a serde_yaml::Value) -> &'a serde_yaml::Value {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => {
            let mut node = doc;
            for part in r.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            resolve(doc, node)
        }
        None => schema,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_true() {
    let doc: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("shared/handlers/openapi.yaml")).unwrap(),
    )
    .unwrap();
    let s = stack().await;
    let a = api(&s);
    let admin = s.admin_token.expose().to_string();

    // State for the calls below.
    a.expect(201, Method::PUT, "/api/cloud-identities/acme", Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Discovery", "regions": ["us-east-1"]})), None).await.unwrap();
    let job = a
        .submit("RUNNER_JOB", json!({"payload": {"x": 1}}))
        .await
        .unwrap();
    let job_id = job["id"].as_str().unwrap().to_string();
    let reg = a
        .expect(
            201,
            Method::POST,
            "/api/runners/register",
            Some(json!({"name": "runner-doc", "owner": local_stack::api_client::DEMO_OWNER})),
            Some(&admin),
        )
        .await
        .unwrap();
    let (rid, rtoken) = (
        reg["id"].as_str().unwrap().to_string(),
        reg["token"].as_str().unwrap().to_string(),
    );

    // (path, method, concrete path, body, bearer, expected status)
    type Call<'a> = (&'a str, &'a str, String, Option<Value>, Option<String>, u16);
    let calls: Vec<Call> = vec![
        (
            "/api/jobs",
            "post",
            "/api/jobs".into(),
            Some(json!({"type": "RUNNER_JOB", "params": {"payload": {}}})),
            None,
            202,
        ),
        (
            "/api/jobs",
            "get",
            "/api/jobs?limit=5".into(),
            None,
            None,
            200,
        ),
        (
            "/api/jobs/{id}",
            "get",
            format!("/api/jobs/{job_id}"),
            None,
            None,
            200,
        ),
        (
            "/api/jobs/{id}/logs",
            "get",
            format!("/api/jobs/{job_id}/logs"),
            None,
            None,
            404,
        ),
        (
            "/api/cloud-identities/{id}",
            "put",
            "/api/cloud-identities/acme".into(),
            Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Discovery", "regions": "all"})),
            None,
            200,
        ),
        (
            "/api/cloud-identities/{id}",
            "get",
            "/api/cloud-identities/acme".into(),
            None,
            None,
            200,
        ),
        (
            "/api/cloud-identities/{id}",
            "put",
            "/api/cloud-identities/acme-gcp".into(),
            Some(local_stack::cloud_fakes::demo::gcp_identity()),
            None,
            201,
        ),
        (
            "/api/cloud-identities/{id}",
            "put",
            "/api/cloud-identities/acme-azure".into(),
            Some(local_stack::cloud_fakes::demo::azure_identity()),
            None,
            201,
        ),
        (
            "/api/cloud-identities/{id}",
            "put",
            "/api/cloud-identities/acme-azure".into(),
            Some(local_stack::cloud_fakes::demo::gcp_identity()),
            None,
            409,
        ),
        (
            "/api/cloud-identities/{id}",
            "get",
            "/api/cloud-identities/acme-azure".into(),
            None,
            None,
            200,
        ),
        (
            "/api/cloud-identities/{id}/resources",
            "get",
            "/api/cloud-identities/acme/resources?type=vpcs&limit=10".into(),
            None,
            None,
            200,
        ),
        (
            "/api/cloud-identities/{id}/refresh",
            "post",
            "/api/cloud-identities/acme/refresh".into(),
            None,
            None,
            202,
        ),
        (
            "/api/runners/register",
            "post",
            "/api/runners/register".into(),
            Some(json!({"name": "runner-doc", "owner": local_stack::api_client::DEMO_OWNER})),
            Some(admin.clone()),
            200,
        ),
        (
            "/api/runners",
            "get",
            "/api/runners".into(),
            None,
            Some(admin.clone()),
            200,
        ),
        (
            "/api/runners/{id}",
            "get",
            format!("/api/runners/{rid}"),
            None,
            Some(admin.clone()),
            200,
        ),
        (
            "/api/runners/{id}/heartbeat",
            "post",
            format!("/api/runners/{rid}/heartbeat"),
            None,
            None,
            401,
        ),
        (
            "/api/runners/{id}/claim",
            "post",
            format!("/api/runners/{rid}/claim"),
            None,
            Some("stale-token".into()),
            403,
        ),
        (
            "/api/runners/{id}/jobs/{job_id}/complete",
            "post",
            format!("/api/runners/{rid}/jobs/{job_id}/complete"),
            Some(json!({"status": "SUCCESS"})),
            Some("x".into()),
            403,
        ),
        (
            "/api/runners/{id}",
            "delete",
            format!("/api/runners/{rid}"),
            None,
            Some(admin.clone()),
            204,
        ),
    ];
    let mut covered = BTreeSet::new();
    for (path, method, concrete, body, bearer, expected) in calls {
        let op = &doc["paths"][path][method];
        assert!(!op.is_null(), "{method} {path} is not documented");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, value) = a.call(m, &concrete, body, bearer.as_deref()).await.unwrap();
        assert_eq!(status, expected, "{method} {concrete}: {value}");
        let response = &op["responses"][status.to_string().as_str()];
        assert!(
            !response.is_null(),
            "{method} {path} answered {status}, which is not documented"
        );
        let response = resolve(&doc, response);
        if let Some(schema) = response
            .get("content")
            .and_then(|c| c.get("application/json"))
            .and_then(|j| j.get("schema"))
        {
            check_required(&doc, schema, &value, &format!("{method} {path} {status}"));
        }
        covered.insert(format!("{method} {path}"));
    }
    // Every documented operation was exercised.
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in ops.as_mapping().unwrap() {
            let m = method.as_str().unwrap();
            if m != "parameters" {
                documented.insert(format!("{m} {}", path.as_str().unwrap()));
            }
        }
    }
    assert_eq!(
        covered, documented,
        "operations documented but not exercised (or the reverse)"
    );
    drop(rtoken);
    s.stop().await;
}
