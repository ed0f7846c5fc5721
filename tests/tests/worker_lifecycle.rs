//! DEPLOY_WORKER and DESTROY_WORKER for real: Terraform applies and
//! destroys the Runner template against the emulator.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use e2e::{api, finish, history_text, stack, stack_with};
use local_stack::stack::{LocalStack, StackOptions};
use local_stack::{leftovers, standin, terraform};
use reqwest::Method;
use serde_json::{Value, json};

/// The functions' home region (the stack's AWS_REGION) and one away from
/// it: every regional call must go to the worker's region.
const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";

async fn deploy(s: &LocalStack, name: &str, extra: Value) -> Value {
    let mut params = json!({"name": name, "region": HOME});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let job = api(s).submit("DEPLOY_WORKER", params).await.unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

async fn destroy(s: &LocalStack, name: &str) -> Value {
    let job = api(s)
        .submit("DESTROY_WORKER", json!({"name": name}))
        .await
        .unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

async fn runner_env(s: &LocalStack, deployed: &Value) -> standin::RunnerEnv {
    let w = &deployed["result"]["worker"];
    standin::boot(
        &s.sdk,
        w["region"].as_str().unwrap(),
        w["cluster_arn"].as_str().unwrap(),
        w["service_name"].as_str().unwrap(),
    )
    .await
    .unwrap()
}

/// Every item of a table, as text.
async fn table_text(s: &LocalStack, table: &str) -> String {
    let client = aws_sdk_dynamodb::Client::new(&s.sdk);
    let items = client
        .scan()
        .table_name(s.names.name(table))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    format!("{items:?}")
}

/// The worker's Terraform state, as text.
async fn state_text(s: &LocalStack, name: &str) -> String {
    let s3 = local_stack::stack::s3_client(&s.sdk);
    let obj = s3
        .get_object()
        .bucket(local_stack::stack::STATE_BUCKET)
        .key(format!("workers/{name}/terraform.tfstate"))
        .send()
        .await
        .unwrap();
    String::from_utf8(obj.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_destroy_for_real_leave_nothing_and_the_token_nowhere_but_its_hash_and_secret() {
    let logs = e2e::logs::capture();
    let s = stack().await;
    let name = "runner-e2e-1";
    let deployed = deploy(&s, name, json!({"region": AWAY})).await;
    assert_eq!(deployed["result"]["worker"]["region"], AWAY);
    // IAM is global; everything regional is in the worker's region only.
    let at_home: Vec<String> = leftovers::find(&s.sdk, HOME, name)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| !l.starts_with("iam role"))
        .collect();
    assert!(
        at_home.is_empty(),
        "created in the home region: {at_home:?}"
    );
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    let steps: Vec<&str> = deployed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "MarkRunning",
            "AwaitTurn",
            "GenerateConfig",
            "TerraformApply",
            "RegisterWorker",
            "ReportSuccess"
        ]
    );

    // A second plan finds nothing to change.
    let (clean, output) = terraform::plan_is_clean(&s, name).await.unwrap();
    assert!(clean, "terraform plan after apply wants changes:\n{output}");

    // The runner boots with the id and token from its secret and comes ONLINE.
    let runner = runner_env(&s, &deployed).await;
    let admin = s.admin_token.expose().to_string();
    let before = api(&s)
        .expect(
            200,
            Method::GET,
            &format!("/api/runners/{}", runner.worker_id),
            None,
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(before["status"], "PENDING");
    runner.heartbeat().await.unwrap();
    let after = api(&s)
        .expect(
            200,
            Method::GET,
            &format!("/api/runners/{}", runner.worker_id),
            None,
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(after["status"], "ONLINE");

    // The token: in the secret and (hashed) in the registry, nowhere else.
    let token = runner.token.expose().to_string();
    let hash = jobs_domain::runner::hash_token(&token);
    assert!(
        table_text(&s, "runners").await.contains(&hash),
        "the registry keeps the hash"
    );
    for table in ["runners", "jobs", "workers", "job_idempotency"] {
        assert!(
            !table_text(&s, table).await.contains(&token),
            "the token is in the {table} table"
        );
    }
    assert!(
        !history_text(&s, deployed["id"].as_str().unwrap(), "deploy_worker").contains(&token),
        "the token is in the execution history"
    );
    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&s.sdk)
            .region(aws_types::region::Region::new(AWAY))
            .build(),
    );
    let task_def = ecs
        .describe_task_definition()
        .task_definition(
            deployed["result"]["worker"]["task_definition_arn"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let td_text = format!("{:?}", task_def.task_definition);
    assert!(
        td_text.contains("WORKER_TOKEN"),
        "the task definition refers to the secret"
    );
    assert!(
        !td_text.contains(&token),
        "the token is in the task definition"
    );
    assert!(
        !state_text(&s, name).await.contains(&token),
        "the token is in the Terraform state"
    );
    assert!(!logs.text().contains(&token), "the token is in the logs");
    let build_log = e2e::log_lines(&s, deployed["id"].as_str().unwrap(), "TerraformApply").await;
    assert!(!build_log.is_empty());
    assert!(
        !build_log.iter().any(|l| l.contains(&token)),
        "the token is in the build's log"
    );
    assert!(
        !deployed.to_string().contains(&token),
        "the token is in the job"
    );

    let destroyed = destroy(&s, name).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let steps: Vec<&str> = destroyed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "MarkRunning",
            "AwaitTurn",
            "GenerateConfig",
            "TerraformDestroy",
            "Deregister",
            "RequeueJobs",
            "ReportSuccess"
        ]
    );
    let left = leftovers::find(&s.sdk, AWAY, name).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    let (status, _) = api(&s)
        .call(
            Method::GET,
            &format!("/api/runners/{}", runner.worker_id),
            None,
            Some(&admin),
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "the registration is removed");
    assert_eq!(e2e::item_count(&s, "runners").await, 0);

    // Destroying a worker that is already gone does nothing and succeeds.
    let again = destroy(&s, name).await;
    assert_eq!(again["status"], "SUCCESS");
    assert_eq!(again["result"]["already_destroyed"], true);
    let steps: Vec<&str> = again["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(!steps.contains(&"TerraformDestroy"), "{steps:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_delivered_twice_gives_one_registration_and_one_stack() {
    let s = stack_with(StackOptions {
        deliver_twice: true,
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await;
    let name = "runner-twice";
    let deployed = deploy(&s, name, json!({})).await;
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    assert_eq!(e2e::item_count(&s, "runners").await, 1, "one registration");
    let ecs = aws_sdk_ecs::Client::new(&s.sdk);
    let clusters = ecs
        .list_clusters()
        .send()
        .await
        .unwrap()
        .cluster_arns
        .unwrap_or_default();
    let ours: Vec<&String> = clusters.iter().filter(|c| c.contains(name)).collect();
    assert_eq!(ours.len(), 1, "one stack: {clusters:?}");
    let (clean, output) = terraform::plan_is_clean(&s, name).await.unwrap();
    assert!(clean, "{output}");
    // The secret holds the token the registry accepts (the one written last).
    let runner = runner_env(&s, &deployed).await;
    runner.heartbeat().await.unwrap();

    let destroyed = destroy(&s, name).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    assert!(
        leftovers::find(&s.sdk, HOME, name)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(e2e::item_count(&s, "runners").await, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terraform_failure_midway_fails_the_job_with_its_message_and_destroy_cleans_up() {
    let s = stack().await;
    let name = "runner-broken";
    // A VPC that does not exist: the emulator creates some resources, then
    // rejects the security group's rules.
    let failed = deploy(&s, name, json!({"network": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"]}})).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "TERRAFORM_FAILED");
    let message = failed["error"]["message"].as_str().unwrap();
    // Terraform's own error, from the result object the build wrote: the
    // task's Cause is the Build object, as on AWS.
    assert!(
        message.starts_with("TerraformApply failed: apply exited with status 1:\nError:"),
        "{message}"
    );
    assert!(!message.contains("\"Build\""), "{message}");
    // The build's whole output is one request away, Terraform's error in it.
    let log = e2e::log_lines(&s, failed["id"].as_str().unwrap(), "TerraformApply").await;
    assert!(
        log.iter().any(|l| l.contains("Error: ")),
        "no Error: line in the log: {log:?}"
    );
    let tf_step = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "TerraformApply")
        .unwrap();
    assert_eq!(tf_step["status"], "FAILED");
    assert!(
        !leftovers::find(&s.sdk, HOME, name)
            .await
            .unwrap()
            .is_empty(),
        "the failure left a partial stack"
    );
    assert_eq!(e2e::item_count(&s, "runners").await, 0, "never registered");
    let steps: Vec<&str> = failed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(steps.contains(&"AbandonDeployment"), "{steps:?}");
    let worker = s.workers.get(name).await.unwrap().unwrap();
    assert_eq!(worker.status, jobs_domain::worker::WorkerStatus::Failed);
    assert!(worker.failure.unwrap().contains("TERRAFORM_FAILED"));
    let (status, _) = api(&s)
        .call(Method::POST, "/api/jobs", Some(json!({"type": "UPDATE_WORKER", "params": {"name": name, "image": "repo/runner:2"}})), None)
        .await
        .unwrap();
    assert_eq!(
        status, 409,
        "a FAILED worker cannot be updated, only destroyed"
    );

    let destroyed = destroy(&s, name).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let left = leftovers::find(&s.sdk, HOME, name).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_worker_input_is_refused_and_nothing_is_provisioned() {
    let s = stack().await;
    let client = local_stack::api_client::owner_client(local_stack::api_client::DEMO_OWNER);
    let url = format!("{}/api/jobs", s.api_url);
    for (params, status, field) in [
        (
            json!({"name": "runner-1", "region": "mars-north-1"}),
            400,
            "params.region",
        ),
        (
            json!({"name": "runner-1", "region": "us-east-1", "cpu": 1024, "memory": 1024}),
            400,
            "params.memory",
        ),
        (
            json!({"name": "runner-1", "region": "us-east-1", "cpu": 333, "memory": 1024}),
            400,
            "params.cpu",
        ),
        (
            json!({"name": "-runner", "region": "us-east-1"}),
            400,
            "params.name",
        ),
        (
            json!({"name": "runner_1", "region": "us-east-1"}),
            400,
            "params.name",
        ),
        (
            json!({"name": "runner-1", "region": "us-east-1", "image": "bad image"}),
            400,
            "params.image",
        ),
    ] {
        let resp = client
            .post(&url)
            .json(&json!({"type": "DEPLOY_WORKER", "params": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{params}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{params}");
    }
    let resp = client
        .post(&url)
        .json(&json!({"type": "DESTROY_WORKER", "params": {"name": "nobody-here"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(e2e::item_count(&s, "jobs").await, 0);
    assert_eq!(e2e::item_count(&s, "workers").await, 0);
    assert!(e2e::executions(&s).await.is_empty());
    s.stop().await;
}

async fn update(s: &LocalStack, name: &str, image: &str) -> Value {
    let job = api(s)
        .submit("UPDATE_WORKER", json!({"name": name, "image": image}))
        .await
        .unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

/// UPDATE_WORKER without an image: to the platform's latest release.
async fn release(s: &LocalStack, name: &str) -> Value {
    let job = api(s)
        .submit("UPDATE_WORKER", json!({ "name": name }))
        .await
        .unwrap();
    finish(s, job["id"].as_str().unwrap()).await
}

/// The service's task definition and primary deployment id.
async fn service_now(s: &LocalStack, worker: &Value) -> (String, String) {
    let svc = aws_sdk_ecs::Client::new(&s.sdk)
        .describe_services()
        .cluster(worker["cluster_arn"].as_str().unwrap())
        .services(worker["service_name"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    let primary = svc
        .deployments
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.status.as_deref() == Some("PRIMARY"))
        .and_then(|d| d.id)
        .unwrap();
    (svc.task_definition.unwrap(), primary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_worker_deploys_a_new_revision_and_waits_for_the_rollout() {
    let s = stack().await;
    let name = "runner-update";
    let deployed = deploy(
        &s,
        name,
        json!({"image": "public.ecr.aws/alethia/runner:1.0.0"}),
    )
    .await;
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    let first_td = deployed["result"]["worker"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .to_string();

    let updated = update(&s, name, "public.ecr.aws/alethia/runner:1.1.0").await;
    assert_eq!(updated["status"], "SUCCESS", "{updated}");
    let steps: Vec<&str> = updated["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "MarkRunning",
            "AwaitTurn",
            "GenerateConfig",
            "TerraformApply",
            "CheckDeployment",
            "ReportSuccess"
        ]
    );
    let ecs = aws_sdk_ecs::Client::new(&s.sdk);
    let w = &deployed["result"]["worker"];
    let svc = ecs
        .describe_services()
        .cluster(w["cluster_arn"].as_str().unwrap())
        .services(w["service_name"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    let now_td = svc.task_definition.unwrap();
    assert_ne!(now_td, first_td, "a new revision");
    let td = ecs
        .describe_task_definition()
        .task_definition(&now_td)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(
        td.container_definitions.unwrap()[0].image.as_deref(),
        Some("public.ecr.aws/alethia/runner:1.1.0")
    );
    assert_eq!(svc.desired_count, 1, "still running its one task");
    let (clean, output) = terraform::plan_is_clean(&s, name).await.unwrap();
    assert!(clean, "{output}");
    // The same runner registration and token keep working.
    runner_env(&s, &deployed).await.heartbeat().await.unwrap();

    // Without an image: the platform's release, pinned by its digest.
    let digest = local_stack::stack::push_release(&s.sdk, "2.0.0")
        .await
        .unwrap();
    let released = release(&s, name).await;
    assert_eq!(released["status"], "SUCCESS", "{released}");
    let pinned = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/alethia/runner@{digest}");
    assert_eq!(released["result"]["image"], pinned);
    let (td_now, deployment) = service_now(&s, w).await;
    let image = ecs
        .describe_task_definition()
        .task_definition(&td_now)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .container_definitions
        .unwrap()[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some(pinned.as_str()));

    // Again with nothing new: the task definition stays, the service still
    // gets a new deployment, and the job ends when it is complete.
    let again = release(&s, name).await;
    assert_eq!(again["status"], "SUCCESS", "{again}");
    let (td_again, deployment_again) = service_now(&s, w).await;
    assert_eq!(td_again, td_now, "nothing to change in the task definition");
    assert_ne!(
        deployment_again, deployment,
        "a new deployment all the same"
    );
    let (clean, output) = terraform::plan_is_clean(&s, name).await.unwrap();
    assert!(clean, "{output}");

    let destroyed = destroy(&s, name).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let left = leftovers::find(&s.sdk, HOME, name).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_update_fails_the_job() {
    use e2e::proxy::{FaultProxy, Rule};
    use local_stack::moto::MotoServer;
    let moto = MotoServer::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).await;
    let s = stack_with(StackOptions {
        aws_endpoint: Some(proxy.endpoint()),
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await;
    let name = "runner-rollback";
    let deployed = deploy(&s, name, json!({})).await;
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    // The emulator's deployments always complete; the proxy reports what
    // ECS reports when the circuit breaker gives up on the new revision.
    proxy.add(Rule::Rewrite {
        service: "ecs",
        action: "DescribeServices",
        f: std::sync::Arc::new(|body: String| {
            body.replace("\"COMPLETED\"", "\"FAILED\"").replace(
                "completed.",
                "failed: tasks failed to start (circuit breaker).",
            )
        }),
    });
    let updated = update(&s, name, "public.ecr.aws/alethia/runner:broken").await;
    assert_eq!(updated["status"], "FAILED", "{updated}");
    assert_eq!(updated["error"]["code"], "DEPLOYMENT_FAILED");
    assert!(
        updated["error"]["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{}",
        updated["error"]
    );
    let worker = s.workers.get(name).await.unwrap().unwrap();
    assert_ne!(
        worker.spec.image, "public.ecr.aws/alethia/runner:broken",
        "the failed image is not recorded as running"
    );
    proxy.clear();
    let destroyed = destroy(&s, name).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    s.stop().await;
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_submitted_while_the_deploy_applies_waits_its_turn_and_destroys_it() {
    let s = stack().await;
    let name = "runner-queued";
    let a = api(&s);
    let deploy = a
        .submit("DEPLOY_WORKER", json!({"name": name, "region": AWAY}))
        .await
        .unwrap();
    let destroy = a
        .submit("DESTROY_WORKER", json!({ "name": name }))
        .await
        .unwrap();
    let deployed = finish(&s, deploy["id"].as_str().unwrap()).await;
    let destroyed = finish(&s, destroy["id"].as_str().unwrap()).await;
    assert_eq!(deployed["status"], "SUCCESS", "{deployed}");
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let step = |job: &Value, name: &str| -> Value {
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no step {name} in {job}"))
    };
    let deploy_ended = step(&deployed, "ReportSuccess")["ended_at"]
        .as_str()
        .unwrap()
        .to_string();
    let destroy_began = step(&destroyed, "GenerateConfig")["started_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        destroy_began >= deploy_ended,
        "the applies interleaved: {destroy_began} < {deploy_ended}"
    );
    assert!(
        step(&destroyed, "AwaitTurn")["attempts"].as_u64().unwrap() > 1,
        "it waited"
    );
    assert_eq!(destroyed["result"]["already_destroyed"], false);
    let left = leftovers::find(&s.sdk, AWAY, name).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    s.stop().await;
}
