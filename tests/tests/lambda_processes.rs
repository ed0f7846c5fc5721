//! The step functions as what ships to AWS: each `functions/<name>` binary
//! is its own process polling a Lambda runtime API (`cargo lambda watch
//! --only-lambda-apis`), and the engine calls it through that tool's Invoke
//! endpoint. CONNECTION_TEST and DEPLOY_WORKER run end to end that way, and
//! a step failing with a classified error is retried, then caught, by its
//! `errorType` as the runtime reported it.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use e2e::proxy::{Rule, ec2_error};
use e2e::{api, finish, history_text};
use local_stack::functions::FunctionMode;
use local_stack::seed::{SeedSpec, seed};
use local_stack::stack::{LocalStack, StackOptions};
use reqwest::Method;
use serde_json::{Value, json};

fn step_names(job: &Value) -> Vec<String> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

async fn run(s: &LocalStack, job_type: &str, params: Value) -> Value {
    let job = api(s).submit(job_type, params).await.unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_as_function_processes_behind_a_lambda_runtime_api() {
    let (_moto, proxy, s) = e2e::proxied(StackOptions {
        clock_speedup: 200.0,
        functions: FunctionMode::Processes,
        ..StackOptions::default()
    })
    .await;
    let processes = s.lambda_processes.as_ref().unwrap();
    assert_eq!(processes.pids().len(), 13, "one process per step function");

    // CONNECTION_TEST: every step answered by its binary.
    let created = api(&s)
        .expect(
            201,
            Method::PUT,
            "/api/cloud-identities/acme",
            Some(json!({"role_arn": SeedSpec::demo("").role_arn(), "regions": ["us-east-1", "eu-west-1"]})),
            None,
        )
        .await
        .unwrap();
    let spec = SeedSpec::demo(created["external_id"].as_str().unwrap());
    seed(&s.sdk, &spec).await.unwrap();
    let job = run(&s, "CONNECTION_TEST", json!({"cloud_identity_id": "acme"})).await;
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
    let cached = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    assert_eq!(
        cached["resources"]["iam_users"].as_array().unwrap().len(),
        5
    );

    // DEPLOY_WORKER: the steps' processes around a real Terraform apply.
    let job = run(
        &s,
        "DEPLOY_WORKER",
        json!({"name": "runner-processes", "region": "eu-west-1"}),
    )
    .await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert_eq!(
        step_names(&job),
        [
            "MarkRunning",
            "AwaitTurn",
            "GenerateConfig",
            "TerraformApply",
            "RegisterWorker",
            "ReportSuccess"
        ]
    );
    let worker = &job["result"]["worker"];
    assert_eq!(worker["service_name"], "alethia-worker-runner-processes");
    assert!(worker["runner_id"].as_str().is_some(), "{job}");

    // A classified error from a function process: DescribeRegions answers
    // 503, DiscoverResources fails with `Retryable.Unavailable` (the
    // runtime's errorType), the Retry on that errorType runs it four more
    // times, then the Catch hands the job to ReportFailure.
    proxy.add(Rule::Fail {
        service: "ec2",
        action: "DescribeRegions",
        status: 503,
        body: ec2_error("Unavailable", "The service is unavailable"),
    });
    let job = run(&s, "FETCH_RESOURCES", json!({"cloud_identity_id": "acme"})).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "UNAVAILABLE");
    let discover = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "DiscoverResources")
        .unwrap();
    assert_eq!(discover["status"], "FAILED");
    assert_eq!(discover["attempts"], 5, "{discover}");
    let history = history_text(&s, job["id"].as_str().unwrap(), "fetch_resources");
    assert!(
        history.contains("\"name\":\"ReportFailure\""),
        "the Catch hands the job to ReportFailure: {history}"
    );
    let events: Vec<Value> = serde_json::from_str(&history).unwrap();
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "TaskFailed")
        .map(|e| &e["taskFailedEventDetails"]["error"])
        .collect();
    assert_eq!(
        failed,
        vec![&json!("Retryable.Unavailable"); 5],
        "five TaskFailed events carrying the runtime's errorType"
    );
    s.stop().await;
}
