//! What operators and the platform rely on beyond the happy path: per-type
//! discovery outcomes instead of all-or-nothing, the scheduled refresh, an
//! execution stopped from the console, and the rendered Terraform
//! configuration passing `terraform validate` offline.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use e2e::proxy::{FaultProxy, Rule, sts_error};
use e2e::{api, finish, stack, stack_with};
use jobs_domain::region::Region;
use jobs_domain::terraform::{PlatformSettings, render_root};
use jobs_domain::worker::{NetworkSpec, WorkerSpec};
use local_stack::moto::MotoServer;
use local_stack::seed::{SeedSpec, seed};
use local_stack::stack::StackOptions;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_resource_type_and_a_disabled_region_are_reported_not_fatal() {
    let moto = MotoServer::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).await;
    let s = stack_with(StackOptions {
        aws_endpoint: Some(proxy.endpoint()),
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await;
    // ap-east-1 is an opt-in region the emulated account has not enabled.
    let created = api(&s)
        .expect(201, Method::PUT, "/api/cloud-identities/acme", Some(json!({"role_arn": SeedSpec::demo("").role_arn(), "regions": ["us-east-1", "ap-east-1"]})), None)
        .await
        .unwrap();
    seed(
        &s.sdk,
        &SeedSpec {
            regions: vec!["us-east-1".into()],
            ..SeedSpec::demo(created["external_id"].as_str().unwrap())
        },
    )
    .await
    .unwrap();
    proxy.add(Rule::Fail {
        service: "iam",
        action: "ListUsers",
        status: 403,
        body: sts_error(
            "AccessDenied",
            "User is not authorized to perform: iam:ListUsers",
        ),
    });
    // EC2 answers throttling with 503 RequestLimitExceeded; the SDK backs
    // off and retries (adaptive mode) before the type is reported throttled.
    proxy.add(Rule::Fail {
        service: "ec2",
        action: "DescribeSecurityGroups",
        status: 503,
        body: e2e::proxy::ec2_error("RequestLimitExceeded", "Request limit exceeded."),
    });
    let job = api(&s)
        .submit("FETCH_RESOURCES", json!({"cloud_identity_id": "acme"}))
        .await
        .unwrap();
    let job = finish(&s, job["id"].as_str().unwrap()).await;
    assert_eq!(
        job["status"], "SUCCESS",
        "partial results are a success: {job}"
    );
    let cached = api(&s)
        .expect(200, Method::GET, "/api/cloud-identities/acme", None, None)
        .await
        .unwrap();
    let outcome = |t: &str, r: &str| -> Value {
        cached["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["resource_type"] == t && o["region"] == r)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(outcome("iam_users", "global")["status"], "access_denied");
    assert_eq!(outcome("vpcs", "ap-east-1")["status"], "region_disabled");
    assert_eq!(outcome("subnets", "us-east-1")["status"], "ok");
    assert_eq!(
        outcome("security_groups", "us-east-1")["status"],
        "throttled"
    );
    assert!(
        proxy.count("ec2", "DescribeSecurityGroups") >= 5,
        "retried with back-off before giving up"
    );
    assert_eq!(outcome("hosted_zones", "global")["status"], "ok");
    assert!(
        cached["resources"]["subnets"]["us-east-1"]
            .as_array()
            .unwrap()
            .len()
            >= 6
    );
    assert_eq!(
        job["result"]["discovery"]["problems"], 5,
        "iam_users, throttled security groups and the three regional types of ap-east-1"
    );
    s.stop().await;
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_refresh_starts_one_job_per_identity_per_tick_and_none_while_one_runs() {
    let s = stack().await;
    for id in ["acme", "globex"] {
        api(&s)
            .expect(201, Method::PUT, &format!("/api/cloud-identities/{id}"), Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Discovery", "regions": ["us-east-1"]})), None)
            .await
            .unwrap();
    }
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-28T06:00:00Z", "detail": {}});
    let first = jobs_handlers::schedule::refresh_all(&s.job_deps.schedule(), tick.clone())
        .await
        .unwrap();
    let again = jobs_handlers::schedule::refresh_all(&s.job_deps.schedule(), tick)
        .await
        .unwrap();
    assert_eq!(first["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(
        first["jobs"], again["jobs"],
        "a redelivered tick starts nothing new"
    );
    // While they run, the next tick leaves those identities alone.
    let busy = jobs_handlers::schedule::refresh_all(
        &s.job_deps.schedule(),
        json!({"time": "2026-11-28T09:00:00Z"}),
    )
    .await
    .unwrap();
    // An identity whose first refresh ended before that tick (a loaded
    // machine) was refreshed by it; every other one was left alone.
    let busy_jobs = busy["jobs"].as_array().unwrap().clone();
    assert_eq!(
        busy["skipped_in_flight"].as_u64().unwrap() + busy_jobs.len() as u64,
        2,
        "{busy}"
    );
    for id in first["jobs"].as_array().unwrap().iter().chain(&busy_jobs) {
        let job = finish(&s, id.as_str().unwrap()).await;
        assert_eq!(job["type"], "FETCH_RESOURCES");
    }
    let next = jobs_handlers::schedule::refresh_all(
        &s.job_deps.schedule(),
        json!({"time": "2026-11-28T12:00:00Z"}),
    )
    .await
    .unwrap();
    assert_eq!(next["jobs"].as_array().unwrap().len(), 2, "{next}");
    assert_ne!(next["jobs"], first["jobs"], "the next tick refreshes again");
    for id in next["jobs"].as_array().unwrap() {
        let job = finish(&s, id.as_str().unwrap()).await;
        assert_eq!(job["type"], "FETCH_RESOURCES");
    }
    let started = e2e::executions(&s).await.len();
    assert_eq!(started, 4 + busy_jobs.len(), "executions");

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_execution_from_the_console_fails_its_job_and_stops_terraform() {
    let s = stack().await;
    let job = api(&s)
        .submit(
            "DEPLOY_WORKER",
            json!({"name": "runner-stopped", "region": "us-east-1"}),
        )
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    // Wait until Terraform runs, then stop the execution as an operator would.
    for _ in 0..200 {
        let j = api(&s)
            .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
            .await
            .unwrap();
        if j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["name"] == "GenerateConfig" && st["status"] == "SUCCEEDED")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let arn = format!("arn:aws:states:us-east-1:123456789012:execution:deploy_worker:{id}");
    s.sfn.stop_execution(&json!({"executionArn": arn, "error": "Operator.Stopped", "cause": "stopped from the console"})).await.unwrap();
    let job = finish(&s, &id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["code"], "EXECUTION_ABORTED");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stopped from the console")
    );
    // The build's process group was stopped: once it has written its
    // result (a few seconds), nothing of this worker's build runs on.
    let mut running = String::new();
    for _ in 0..50 {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        running = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains("runner-stopped"))
            .collect::<Vec<_>>()
            .join("\n");
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(running.is_empty(), "{running}");
    // The partial stack is still destroyable.
    let destroyed = api(&s)
        .submit("DESTROY_WORKER", json!({"name": "runner-stopped"}))
        .await
        .unwrap();
    let destroyed = finish(&s, destroyed["id"].as_str().unwrap()).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    assert!(
        local_stack::leftovers::find(&s.sdk, "us-east-1", "runner-stopped")
            .await
            .unwrap()
            .is_empty()
    );
    s.stop().await;
}

#[test]
fn the_rendered_configuration_passes_terraform_validate_offline() {
    let spec = WorkerSpec {
        name: "runner-validate".into(),
        region: Region::parse("region", "eu-west-1").unwrap(),
        image: "public.ecr.aws/alethia/runner:1.2.3".into(),
        cpu: 1024,
        memory: 2048,
        pool: "default".into(),
        network: NetworkSpec {
            vpc_id: Some("vpc-0123456789abcdef0".into()),
            subnet_ids: vec!["subnet-0123456789abcdef0".into()],
            assign_public_ip: true,
        },
    };
    let platform = PlatformSettings {
        state_bucket: "state".into(),
        state_region: "us-east-1".into(),
        platform_api_url: "https://api.example.com".into(),
        module_source: "./modules/fargate-runner".into(),
        log_retention_days: 30,
        stop_timeout_seconds: 120,
    };
    let root = local_stack::paths::root();
    let work = std::env::temp_dir().join(format!("tf-validate-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("main.tf.json"),
        serde_json::to_vec_pretty(&render_root(
            &spec, "wkr-0123", "job-0123", "job-0123", &platform,
        ))
        .unwrap(),
    )
    .unwrap();
    let copy = std::process::Command::new("cp")
        .arg("-R")
        .arg(root.join("infra/modules"))
        .arg(work.join("modules"))
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::copy(
        root.join("infra/buildspec/worker-root.terraform.lock.hcl"),
        work.join(".terraform.lock.hcl"),
    )
    .unwrap();
    let mirror = local_stack::paths::provider_mirror().unwrap();
    std::fs::write(
        work.join("terraformrc"),
        format!("provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/*\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/*/*\"]\n  }}\n}}\n", mirror.display()),
    )
    .unwrap();
    let tf = |args: &[&str]| {
        std::process::Command::new("terraform")
            .args(args)
            .current_dir(&work)
            .env("TF_CLI_CONFIG_FILE", work.join("terraformrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap()
    };
    let init = tf(&["init", "-backend=false", "-input=false", "-no-color"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let validate = tf(&["validate", "-no-color"]);
    assert!(
        validate.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);
}
