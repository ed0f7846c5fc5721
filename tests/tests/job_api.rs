//! The job API on the local stack: idempotency keys, every kind of bad
//! input (4xx naming the field, nothing written, no execution started),
//! listing with pagination, cloud identities.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use e2e::{api, executions, item_count, stack};
use reqwest::Method;
use serde_json::{Value, json};

/// Nothing was written and nothing started.
async fn assert_untouched(s: &local_stack::stack::LocalStack) {
    assert_eq!(item_count(s, "jobs").await, 0, "a job was written");
    assert_eq!(
        item_count(s, "job_idempotency").await,
        0,
        "an idempotency key was written"
    );
    assert!(executions(s).await.is_empty(), "an execution was started");
}

async fn identity(s: &local_stack::stack::LocalStack, id: &str) -> Value {
    api(s)
        .expect(201, Method::PUT, &format!("/api/cloud-identities/{id}"), Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Discovery", "regions": ["us-east-1"]})), None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_answers_the_same_job_and_starts_nothing_new() {
    let s = stack().await;
    identity(&s, "acme").await;
    let client = local_stack::api_client::owner_client(local_stack::api_client::DEMO_OWNER);
    let body = json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}});
    let post = |key: &'static str, body: Value| {
        let client = client.clone();
        let url = format!("{}/api/jobs", s.api_url);
        async move {
            client
                .post(url)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = post("key-1", body.clone()).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post("key-1", body.clone()).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again
            .headers()
            .get("Idempotent-Replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other_body = post(
        "key-1",
        json!({"type": "FETCH_RESOURCES", "params": {"cloud_identity_id": "acme"}}),
    )
    .await;
    assert_eq!(other_body.status(), 422, "same key, different body");
    let other_key: Value = post("key-2", body).await.json().await.unwrap();
    assert_ne!(other_key["id"], first["id"]);

    e2e::finish(&s, first["id"].as_str().unwrap()).await;
    e2e::finish(&s, other_key["id"].as_str().unwrap()).await;
    let mut names: Vec<String> = executions(&s).await.into_iter().map(|(n, _)| n).collect();
    names.sort();
    let mut expected = vec![
        first["id"].as_str().unwrap().to_string(),
        other_key["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(
        names, expected,
        "one execution per job, named by the job id"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let s = stack().await;
    let client = local_stack::api_client::owner_client(local_stack::api_client::DEMO_OWNER);
    let url = format!("{}/api/jobs", s.api_url);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"type": "MAKE_COFFEE", "params": {}}), 400, "type"),
        (json!({"params": {}}), 400, "type"),
        (json!({"type": 7}), 400, "type"),
        (
            json!({"type": "CONNECTION_TEST", "params": {}}),
            400,
            "params.cloud_identity_id",
        ),
        (
            json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": 12}}),
            400,
            "params.cloud_identity_id",
        ),
        (
            json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme", "extra": 1}}),
            400,
            "params.extra",
        ),
        (
            json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}, "priority": 1}),
            400,
            "priority",
        ),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "us-east-1\n"}}),
            400,
            "params.region",
        ),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "x@evil.com:443"}}),
            400,
            "params.region",
        ),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "runner-1", "region": "us-east-1", "cpu": 256, "memory": 8192}}),
            400,
            "params.memory",
        ),
        (
            json!({"type": "DEPLOY_WORKER", "params": {"name": "Runner One", "region": "us-east-1"}}),
            400,
            "params.name",
        ),
        (
            json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "nobody"}}),
            404,
            "params.cloud_identity_id",
        ),
        (
            json!({"type": "DESTROY_WORKER", "params": {"name": "never-deployed"}}),
            404,
            "params.name",
        ),
    ];
    for (body, status, field) in cases {
        let resp = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(!err["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let raw = [
        ("{not json", 400, "MALFORMED_JSON"),
        ("[1,2]", 400, "BAD_REQUEST"),
        ("", 400, "BAD_REQUEST"),
    ];
    for (text, status, code) in raw {
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .body(text)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{text:?}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], code);
    }
    let huge =
        json!({"type": "RUNNER_JOB", "params": {"payload": {"blob": "x".repeat(70 * 1024)}}});
    assert_eq!(
        client.post(&url).json(&huge).send().await.unwrap().status(),
        413
    );
    let bad_key = client
        .post(&url)
        .header("Idempotency-Key", "ünïcode key")
        .json(&json!({"type": "RUNNER_JOB", "params": {"payload": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), 400);
    // A new request under a key is checked like any other.
    let keyed = client
        .post(&url)
        .header("Idempotency-Key", "fresh-key")
        .json(&json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "nobody"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 404);

    // Cloud identities: malformed role ARNs and regions, unknown fields,
    // an ExternalId offered by the caller.
    let put = |id: &str, body: Value| {
        client
            .put(format!("{}/api/cloud-identities/{id}", s.api_url))
            .json(&body)
            .send()
    };
    for (body, field) in [
        (
            json!({"role_arn": "arn:aws:iam::123:role/x", "regions": ["us-east-1"]}),
            "role_arn",
        ),
        (
            json!({"role_arn": "not-an-arn", "regions": ["us-east-1"]}),
            "role_arn",
        ),
        (
            json!({"role_arn": "arn:aws:iam::111111111111:role/x", "regions": ["us-east-1\n"]}),
            "regions[0]",
        ),
        (
            json!({"role_arn": "arn:aws:iam::111111111111:role/x", "regions": []}),
            "regions",
        ),
        (
            json!({"role_arn": "arn:aws:iam::111111111111:role/x", "regions": "all", "external_id": "mine"}),
            "external_id",
        ),
    ] {
        let resp = put("acme", body.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let resp = put(
        "bad%2Fid",
        json!({"role_arn": "arn:aws:iam::111111111111:role/x", "regions": "all"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(item_count(&s, "cloud_identities").await, 0);

    for path in [
        "/api/jobs/job-00000000000000000000000000000000",
        "/api/jobs/../../etc/passwd",
        "/api/cloud-identities/nobody",
    ] {
        let resp = client
            .get(format!("{}{path}", s.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = client
        .get(format!("{}/api/jobs?status=DONE", s.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client
        .get(format!("{}/api/jobs?next_token=forged", s.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["field"], "next_token");

    assert_untouched(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_newest_first_by_type_and_status_with_pagination() {
    let s = stack().await;
    let a = api(&s);
    let mut ids = Vec::new();
    for i in 0..7 {
        let job = a
            .submit("RUNNER_JOB", json!({"payload": {"n": i}}))
            .await
            .unwrap();
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/api/jobs?type=RUNNER_JOB&status=QUEUED&limit=3&next_token={t}"),
            None => "/api/jobs?type=RUNNER_JOB&status=QUEUED&limit=3".to_string(),
        };
        let page = a.expect(200, Method::GET, &path, None, None).await.unwrap();
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 3);
        seen.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_string()));
        match page["next_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "all seven, newest first, across pages");

    // A cursor is bound to its listing: sent with other filters (or none),
    // it is refused naming next_token, never a 5xx.
    let first = a
        .expect(
            200,
            Method::GET,
            "/api/jobs?type=RUNNER_JOB&limit=2",
            None,
            None,
        )
        .await
        .unwrap();
    let token = first["next_token"].as_str().unwrap().to_string();
    for other in [
        format!("/api/jobs?limit=2&next_token={token}"),
        format!("/api/jobs?status=QUEUED&limit=2&next_token={token}"),
        format!("/api/jobs?type=DEPLOY_WORKER&limit=2&next_token={token}"),
    ] {
        let (status, body) = a.call(Method::GET, &other, None, None).await.unwrap();
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some("next_token")),
            "{other}: {body}"
        );
    }
    // A wrong method names the allowed ones.
    let resp = local_stack::api_client::owner_client(local_stack::api_client::DEMO_OWNER)
        .delete(format!("{}/api/jobs", s.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
    let none = a
        .expect(200, Method::GET, "/api/jobs?status=SUCCESS", None, None)
        .await
        .unwrap();
    assert_eq!(none["jobs"].as_array().unwrap().len(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_identities_get_a_platform_issued_external_id_kept_across_updates() {
    let s = stack().await;
    let a = api(&s);
    let created = identity(&s, "acme").await;
    let external_id = created["external_id"].as_str().unwrap().to_string();
    assert_eq!(external_id.len(), 32);
    let updated = a
        .expect(
            200,
            Method::PUT,
            "/api/cloud-identities/acme",
            Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Other", "regions": "all"})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated["external_id"], external_id);
    assert_eq!(updated["regions"], "all");
    let read = a
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    assert_eq!(read["role_arn"], "arn:aws:iam::111111111111:role/Other");
    assert_eq!(read["fetched_at"], Value::Null, "nothing fetched yet");
    // Refresh creates a FETCH_RESOURCES job for the identity.
    let job = a
        .expect(
            202,
            Method::POST,
            "/api/cloud-identities/acme/refresh",
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(job["type"], "FETCH_RESOURCES");
    assert_eq!(job["params"]["cloud_identity_id"], "acme");
    let (status, _) = a
        .call(
            Method::POST,
            "/api/cloud-identities/nobody/refresh",
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    e2e::finish(&s, job["id"].as_str().unwrap()).await;
    s.stop().await;
}

/// The raw item of `key` in a logical table.
async fn raw_item(
    s: &local_stack::stack::LocalStack,
    table: &str,
    key: (&str, &str),
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    aws_sdk_dynamodb::Client::new(&s.sdk)
        .get_item()
        .table_name(s.names.name(table))
        .key(
            key.0,
            aws_sdk_dynamodb::types::AttributeValue::S(key.1.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no {table} item {}", key.1))
}

fn epoch(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Option<i64> {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .map(|n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_and_idempotency_keys_carry_their_expiry_for_dynamodb_ttl() {
    let s = stack().await;
    let client = aws_sdk_dynamodb::Client::new(&s.sdk);
    for table in ["jobs", "job_idempotency"] {
        let ttl = client
            .describe_time_to_live()
            .table_name(s.names.name(table))
            .send()
            .await
            .unwrap();
        let d = ttl.time_to_live_description.unwrap();
        assert_eq!(d.attribute_name(), Some("expires_at"), "{table}");
        assert_eq!(
            d.time_to_live_status().map(|s| s.as_str()),
            Some("ENABLED"),
            "{table}"
        );
    }
    identity(&s, "acme").await;
    let (status, job) = api(&s)
        .call(
            Method::POST,
            "/api/jobs",
            Some(json!({"type": "CONNECTION_TEST", "params": {"cloud_identity_id": "acme"}})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    // A queued (or running) job does not expire.
    let queued = raw_item(&s, "jobs", ("id", &id)).await;
    if queued
        .get("status")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        != Some("SUCCESS")
        && queued
            .get("status")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            != Some("FAILED")
    {
        assert_eq!(epoch(&queued), None, "an unfinished job expires");
    }
    let done = e2e::finish(&s, &id).await;
    let finished = raw_item(&s, "jobs", ("id", &id)).await;
    let updated =
        chrono::DateTime::parse_from_rfc3339(done["updated_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        epoch(&finished),
        Some((updated + chrono::Duration::days(90)).timestamp()),
        "a finished job expires 90 days after it ended"
    );
    // An idempotency key expires a week after its first use.
    let client_http = local_stack::api_client::owner_client(local_stack::api_client::DEMO_OWNER);
    let resp = client_http
        .post(format!("{}/api/jobs", s.api_url))
        .header("Idempotency-Key", "ttl-key-1")
        .json(&json!({"type": "RUNNER_JOB", "params": {"payload": {"k": 1}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let created =
        chrono::DateTime::parse_from_rfc3339(job["created_at"].as_str().unwrap()).unwrap();
    // Keys are scoped to their caller: stored as owner/key.
    let key = raw_item(&s, "job_idempotency", ("key", "org-demo/ttl-key-1")).await;
    assert_eq!(
        epoch(&key),
        Some((created + chrono::Duration::hours(168)).timestamp())
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_json_payload_is_kept_as_sent_and_listings_still_read() {
    let s = stack().await;
    let a = api(&s);
    // Keys DynamoDB refuses as attribute names, or that look like its own
    // type tags, deep nesting: a payload is the caller's JSON, kept as text.
    let mut deep = json!({"leaf": true});
    for _ in 0..40 {
        deep = json!({"d": deep});
    }
    let payload = json!({"": 1, "BOOL": {"S": false}, "M": [null, {"N": "x"}], "deep": deep});
    let job = a
        .submit("RUNNER_JOB", json!({"payload": payload}))
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap();
    let read = a
        .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
        .await
        .unwrap();
    assert_eq!(read["params"]["payload"], payload);
    for path in [
        "/api/jobs",
        "/api/jobs?type=RUNNER_JOB",
        "/api/jobs?status=QUEUED",
    ] {
        let page = a.expect(200, Method::GET, path, None, None).await.unwrap();
        assert_eq!(page["jobs"][0]["id"], id, "{path}");
        assert_eq!(page["jobs"][0]["status"], "QUEUED", "{path}");
    }
    s.stop().await;
}
