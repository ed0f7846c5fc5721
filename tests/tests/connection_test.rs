//! CONNECTION_TEST and FETCH_RESOURCES end to end: success, a denied
//! AssumeRole, a step failing after its retries, FETCH_RESOURCES skipping
//! the verification, a planted secret access key that must appear in no
//! log line and no history event, and an inventory larger than one item.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::sync::Arc;

use e2e::proxy::{FaultProxy, Rule, ec2_error, sts_error};
use e2e::{api, finish, history_text, stack, stack_with};
use local_stack::moto::MotoServer;
use local_stack::seed::{SeedSpec, seed};
use local_stack::stack::{LocalStack, StackOptions};
use reqwest::Method;
use serde_json::{Value, json};

/// Registers an identity and seeds its account; answers the identity id.
async fn customer(
    s: &LocalStack,
    id: &str,
    spec: impl FnOnce(&str) -> SeedSpec,
) -> (String, SeedSpec) {
    let a = api(s);
    let role = SeedSpec::demo("").role_arn();
    let created = a
        .expect(
            201,
            Method::PUT,
            &format!("/api/cloud-identities/{id}"),
            Some(json!({"role_arn": role, "regions": ["us-east-1", "eu-west-1"]})),
            None,
        )
        .await
        .unwrap();
    let spec = spec(created["external_id"].as_str().unwrap());
    seed(&s.sdk, &spec).await.unwrap();
    (id.to_string(), spec)
}

async fn run(s: &LocalStack, job_type: &str, identity: &str) -> Value {
    let job = api(s)
        .submit(job_type, json!({"cloud_identity_id": identity}))
        .await
        .unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

fn step_names(job: &Value) -> Vec<String> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// A stack whose AWS traffic goes through a fault-injecting proxy.
async fn proxied() -> (MotoServer, FaultProxy, LocalStack) {
    e2e::proxied(StackOptions {
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_test_verifies_discovers_and_caches() {
    let s = stack().await;
    let (id, spec) = customer(&s, "acme", SeedSpec::demo).await;
    let job = run(&s, "CONNECTION_TEST", &id).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(
        step_names(&job),
        [
            "MarkRunning",
            "VerifyIdentity",
            "DiscoverResources",
            "ReportSuccess"
        ]
    );
    assert_eq!(job["result"]["identity"]["account"], "111111111111");
    assert!(
        job["result"]["identity"]["arn"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "assumed-role/{}/alethia-{}",
                spec.role_name,
                job["id"].as_str().unwrap()
            ))
    );
    let cached = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    // Seeded: 2 VPCs x 3 subnets and 4 groups per region, plus the
    // emulator's default VPC, subnets and group in every region.
    let us = cached["resources"]["subnets"]["us-east-1"]
        .as_array()
        .unwrap();
    assert!(us.len() >= 6, "{}", us.len());
    assert!(us.iter().any(|s| s["cidr_block"] == "10.1.2.0/24"));
    assert_eq!(
        cached["resources"]["hosted_zones"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        cached["resources"]["iam_users"].as_array().unwrap().len(),
        5
    );
    assert_eq!(cached["summary"]["problems"].as_array().unwrap().len(), 0);
    for o in cached["outcomes"].as_array().unwrap() {
        assert_eq!(o["status"], "ok", "{o}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_assume_role_fails_the_job_with_what_to_fix() {
    let (_moto, proxy, s) = proxied().await;
    let (id, _) = customer(&s, "acme", SeedSpec::demo).await;
    let assumed_while_seeding = proxy.count("sts", "AssumeRole");
    // moto does not check trust policies: the proxy answers as STS does
    // when the trust policy or the ExternalId is wrong.
    proxy.add(Rule::Fail {
        service: "sts",
        action: "AssumeRole",
        status: 403,
        body: sts_error("AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/worker-jobs/verify is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/AlethiaDiscovery"),
    });
    let job = run(&s, "CONNECTION_TEST", &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "ACCESS_DENIED");
    let message = job["error"]["message"].as_str().unwrap();
    let identity = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    assert!(message.contains("trust policy"), "{message}");
    assert!(
        message.contains(identity["external_id"].as_str().unwrap()),
        "the message names the ExternalId to require: {message}"
    );
    let failed: Vec<&Value> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "FAILED")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "VerifyIdentity");
    assert_eq!(
        proxy.count("sts", "AssumeRole") - assumed_while_seeding,
        1,
        "access denied is fatal: not retried"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_keeps_failing_ends_the_job_failed_after_its_retries() {
    let (_moto, proxy, s) = proxied().await;
    let (id, _) = customer(&s, "acme", SeedSpec::demo).await;
    proxy.add(Rule::Fail {
        service: "ec2",
        action: "DescribeRegions",
        status: 503,
        body: ec2_error("Unavailable", "The service is unavailable"),
    });
    let job = run(&s, "FETCH_RESOURCES", &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "UNAVAILABLE");
    let discover = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "DiscoverResources")
        .unwrap();
    assert_eq!(discover["status"], "FAILED");
    assert_eq!(
        discover["attempts"], 5,
        "one attempt and the four retries of the Retryable.* retrier"
    );
    assert!(proxy.count("ec2", "DescribeRegions") >= 5);
    let execution = e2e::executions(&s).await;
    assert_eq!(execution.len(), 1);
    assert_eq!(
        execution[0].1, "FAILED",
        "the execution fails after reporting"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_resources_skips_the_verification() {
    let (_moto, proxy, s) = proxied().await;
    let (id, _) = customer(&s, "acme", SeedSpec::demo).await;
    let job = run(&s, "FETCH_RESOURCES", &id).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(
        step_names(&job),
        ["MarkRunning", "DiscoverResources", "ReportSuccess"]
    );
    assert_eq!(
        proxy.count("sts", "GetCallerIdentity"),
        0,
        "no verification call"
    );
    assert!(
        proxy.count("sts", "AssumeRole") >= 2,
        "seeding and discovery assume the role"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assumed_roles_secret_key_appears_in_no_log_line_and_no_history_event() {
    let logs = e2e::logs::capture();
    let (_moto, proxy, s) = proxied().await;
    let (id, _) = customer(&s, "acme", SeedSpec::demo).await;
    const PLANTED: &str = "PLANTEDsecretKEYdoNOTleak0123456789abcdef";
    proxy.add(Rule::Rewrite {
        service: "sts",
        action: "AssumeRole",
        f: Arc::new(|body: String| {
            let (Some(start), Some(end)) = (
                body.find("<SecretAccessKey>"),
                body.find("</SecretAccessKey>"),
            ) else {
                return body;
            };
            format!(
                "{}<SecretAccessKey>{PLANTED}{}",
                &body[..start],
                &body[end..]
            )
        }),
    });
    let job = run(&s, "CONNECTION_TEST", &id).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let history = history_text(&s, job["id"].as_str().unwrap(), "connection_test");
    assert!(
        history.contains("DiscoverResources"),
        "the history is there"
    );
    assert!(
        !history.contains(PLANTED),
        "the secret is in the execution history"
    );
    let captured = logs.text();
    assert!(
        captured.contains("resources discovered"),
        "the logs were captured"
    );
    assert!(!captured.contains(PLANTED), "the secret is in the logs");
    let stored = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    assert!(!stored.to_string().contains(PLANTED));
    assert!(!job.to_string().contains(PLANTED));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_of_more_than_5000_subnets_is_stored_and_read_back_whole() {
    let s = stack().await;
    let (id, _) = customer(&s, "big", |external_id| SeedSpec {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        vpcs_per_region: 10,
        subnets_per_vpc: 256,
        security_groups_per_region: 20,
        hosted_zones: 5,
        iam_users: 5,
        concurrency: 16,
        ..SeedSpec::demo(external_id)
    })
    .await;
    let job = run(&s, "CONNECTION_TEST", &id).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    let subnets = job["result"]["discovery"]["counts"]["subnets"]
        .as_u64()
        .unwrap();
    assert!(subnets > 5120, "{subnets}");
    let cached = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/big", None, None)
        .await
        .unwrap();
    let read_back: usize = cached["resources"]["subnets"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(read_back as u64, subnets, "every subnet read back");
    assert!(
        cached["resources"].to_string().len() > 400 * 1024,
        "larger than one DynamoDB item"
    );
    // Stored in chunks under a generation the identity's record points at.
    assert!(e2e::item_count(&s, "cloud_identity_inventory").await >= 1);
    // A second fetch replaces the generation and removes the old chunks.
    let chunks_before = e2e::item_count(&s, "cloud_identity_inventory").await;
    let again = run(&s, "FETCH_RESOURCES", &id).await;
    assert_eq!(again["status"], "SUCCESS");
    assert_eq!(
        e2e::item_count(&s, "cloud_identity_inventory").await,
        chunks_before,
        "old chunks removed"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_start_was_lost_is_started_by_the_sweeper() {
    let s = stack_with(StackOptions {
        clock_speedup: 200.0,
        start_grace_seconds: 1,
        sweep_every: std::time::Duration::from_millis(500),
        ..StackOptions::default()
    })
    .await;
    let (id, _) = customer(&s, "acme", SeedSpec::demo).await;
    // The job API wrote the job, then died before StartExecution.
    let params = jobs_domain::params::JobParams::FetchResources {
        cloud_identity_id: id,
    };
    let job = jobs_domain::job::Job::new(
        local_stack::api_client::DEMO_OWNER,
        jobs_domain::job::JobType::FetchResources,
        params.to_value(),
        chrono::Utc::now(),
    );
    s.job_deps.jobs.store().create(&job, None).await.unwrap();
    assert!(
        e2e::executions(&s)
            .await
            .iter()
            .all(|(name, _)| name != &job.id),
        "not started yet"
    );
    let done = finish(&s, &job.id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    let runs: Vec<_> = e2e::executions(&s)
        .await
        .into_iter()
        .filter(|(name, _)| name == &job.id)
        .collect();
    assert_eq!(runs.len(), 1, "started once: {runs:?}");
    s.stop().await;
}
