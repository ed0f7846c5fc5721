//! Owners on the local stack (DynamoDB in the emulator): two organizations
//! cannot read, re-point, test, refresh or list each other's cloud
//! identities and jobs; their idempotency keys and listing cursors are
//! their own; a request that names no organization is refused.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use e2e::{executions, stack};
use local_stack::api_client::{Api, owner_client};
use reqwest::Method;
use serde_json::{Value, json};

fn role(account: &str) -> Value {
    json!({"role_arn": format!("arn:aws:iam::{account}:role/Discovery"), "regions": ["us-east-1"]})
}

fn ids(listing: &Value) -> Vec<String> {
    listing["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_cannot_see_or_touch_each_others_identities_and_jobs() {
    let s = stack().await;
    let a = Api::for_owner(&s.api_url, "org-a");
    let b = Api::for_owner(&s.api_url, "org-b");

    // Identity ids are per owner: B's "prod" is another identity, and
    // registering it leaves A's where it points.
    let a_prod = a
        .expect(
            201,
            Method::PUT,
            "/api/cloud-identities/prod",
            Some(role("111111111111")),
            None,
        )
        .await
        .unwrap();
    a.expect(
        201,
        Method::PUT,
        "/api/cloud-identities/only-a",
        Some(role("111111111111")),
        None,
    )
    .await
    .unwrap();
    let b_prod = b
        .expect(
            201,
            Method::PUT,
            "/api/cloud-identities/prod",
            Some(role("222222222222")),
            None,
        )
        .await
        .unwrap();
    assert_ne!(a_prod["external_id"], b_prod["external_id"]);
    let seen = a
        .expect(200, Method::GET, "/api/cloud-identities/prod", None, None)
        .await
        .unwrap();
    assert_eq!(seen["role_arn"], "arn:aws:iam::111111111111:role/Discovery");

    // B cannot read, re-point (a PUT makes B's own), test, refresh or page
    // A's identity: to B it does not exist.
    for (method, path) in [
        (Method::GET, "/api/cloud-identities/only-a"),
        (Method::POST, "/api/cloud-identities/only-a/refresh"),
        (
            Method::GET,
            "/api/cloud-identities/only-a/resources?type=vpcs",
        ),
    ] {
        let (status, body) = b.call(method.clone(), path, None, None).await.unwrap();
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    let (status, body) = b
        .call(
            Method::POST,
            "/api/jobs",
            Some(json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "only-a"}})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (404, json!("params.cloud_identity_id")),
        "{body}"
    );

    // A's jobs: B gets 404 for each and never lists them.
    let a_test = a
        .submit("CONNECTION_TEST", json!({"cloud_identity_id": "only-a"}))
        .await
        .unwrap();
    let a_job = a
        .submit("RUNNER_JOB", json!({"payload": {"secret-ish": "a's"}}))
        .await
        .unwrap();
    let b_job = b
        .submit("RUNNER_JOB", json!({"payload": {}}))
        .await
        .unwrap();
    for id in [&a_test["id"], &a_job["id"]] {
        let id = id.as_str().unwrap();
        for path in [format!("/api/jobs/{id}"), format!("/api/jobs/{id}/logs")] {
            let (status, body) = b.call(Method::GET, &path, None, None).await.unwrap();
            assert_eq!(status, 404, "{path}: {body}");
            assert!(!body.to_string().contains("a's"), "{body}");
        }
    }
    for query in [
        "",
        "?type=RUNNER_JOB",
        "?status=QUEUED",
        "?type=RUNNER_JOB&status=QUEUED",
    ] {
        let theirs = b
            .expect(200, Method::GET, &format!("/api/jobs{query}"), None, None)
            .await
            .unwrap();
        assert_eq!(ids(&theirs), [b_job["id"].as_str().unwrap()], "{query}");
        let mine = a
            .expect(200, Method::GET, &format!("/api/jobs{query}"), None, None)
            .await
            .unwrap();
        assert!(
            ids(&mine).contains(&a_job["id"].as_str().unwrap().to_string())
                && !ids(&mine).contains(&b_job["id"].as_str().unwrap().to_string()),
            "{query}: {mine}"
        );
    }

    // A's cursor does not page B's listing.
    let page = a
        .expect(200, Method::GET, "/api/jobs?limit=1", None, None)
        .await
        .unwrap();
    let token = page["next_token"].as_str().unwrap();
    let (status, body) = b
        .call(
            Method::GET,
            &format!("/api/jobs?limit=1&next_token={token}"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("next_token"))
    );

    // The same Idempotency-Key and body from two owners: two jobs.
    let body = json!({"type": "RUNNER_JOB", "params": {"payload": {"k": 1}}});
    let mut created = Vec::new();
    for owner in ["org-a", "org-b"] {
        let resp = owner_client(owner)
            .post(format!("{}/api/jobs", s.api_url))
            .header("Idempotency-Key", "nightly-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        assert!(
            resp.headers().get("idempotent-replayed").is_none(),
            "{owner}"
        );
        created.push(resp.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_ne!(created[0], created[1]);

    // A request that names no organization, or a malformed one, is refused.
    for header in [None, Some("org/a"), Some("")] {
        let mut req = reqwest::Client::new().get(format!("{}/api/jobs", s.api_url));
        if let Some(h) = header {
            req = req.header("X-Organization-Id", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 400, "{header:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "X-Organization-Id", "{header:?}");
    }
    let started = executions(&s).await;
    assert_eq!(
        started.len(),
        1,
        "only A's connection test ran: {started:?}"
    );
}
