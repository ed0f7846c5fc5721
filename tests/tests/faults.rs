//! Faults: the platform's own AWS calls failing the ways networks and
//! services fail (throttling, a 5xx, a response that never comes, a reset
//! connection), a Terraform build killed outright in the middle of an apply,
//! and the HTTP API restarting mid-job. After each, no job is left QUEUED or
//! RUNNING, no resource of any kind the Runner template creates is left in
//! the account (compared with an inventory taken before, not found by name),
//! and a worker never has more than one registration.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::proxy::{Fault, FaultProxy, Rule};
use e2e::{api, finish, item_count, stack_with, unfinished_jobs};
use local_stack::leftovers;
use local_stack::moto::MotoServer;
use local_stack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};

const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";

async fn inventory(s: &LocalStack) -> BTreeSet<String> {
    leftovers::inventory(&s.sdk, &[HOME, AWAY]).await.unwrap()
}

/// What is in `after` and not in `before`.
fn added(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    after.difference(before).cloned().collect()
}

async fn submit(s: &LocalStack, job_type: &str, params: Value) -> String {
    let job = api(s).submit(job_type, params).await.unwrap();
    job["id"].as_str().unwrap().to_string()
}

/// A stack whose AWS traffic goes through a fault-injecting proxy; one
/// attempt of an SDK call may take 2 s.
async fn proxied() -> (MotoServer, FaultProxy, LocalStack) {
    e2e::proxied(StackOptions {
        clock_speedup: 200.0,
        aws_attempt_timeout: Duration::from_secs(2),
        ..StackOptions::default()
    })
    .await
}

/// DEPLOY then DESTROY of a worker in a region away from home while every
/// `every`-th call the platform makes meets `fault`; `restart_api` restarts
/// the HTTP API while the deploy runs.
async fn lifecycle_under(fault: Fault, every: usize, name: &str, restart_api: bool) {
    let (_moto, proxy, mut s) = proxied().await;
    let before = inventory(&s).await;
    proxy.add(Rule::Flaky {
        fault,
        every,
        agent: "aws-sdk-rust",
    });

    let deploy = submit(&s, "DEPLOY_WORKER", json!({"name": name, "region": AWAY})).await;
    if restart_api {
        tokio::time::sleep(Duration::from_secs(2)).await;
        s.restart_api().await.unwrap();
    }
    let deployed = finish(&s, &deploy).await;
    assert_eq!(deployed["status"], "SUCCESS", "{fault:?}: {deployed}");
    proxy.clear();
    assert_eq!(
        item_count(&s, "runners").await,
        1,
        "{fault:?}: one registration"
    );

    proxy.add(Rule::Flaky {
        fault,
        every,
        agent: "aws-sdk-rust",
    });
    let destroy = submit(&s, "DESTROY_WORKER", json!({"name": name})).await;
    let destroyed = finish(&s, &destroy).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{fault:?}: {destroyed}");
    let faulted = proxy.faulted();
    proxy.clear();

    let total: usize = faulted.values().sum();
    assert!(total >= 5, "{fault:?}: only {total} calls were failed");
    // The faults reached the steps' own services, not only the job table.
    for service in ["dynamodb", "s3", "secretsmanager", "ecs"] {
        assert!(
            faulted
                .keys()
                .any(|k| k.starts_with(&format!("{service}:"))),
            "{fault:?}: no {service} call was failed: {faulted:?}"
        );
    }
    assert_eq!(unfinished_jobs(&s).await, Vec::new(), "{fault:?}");
    assert_eq!(item_count(&s, "runners").await, 0, "{fault:?}");
    let left = added(&before, &inventory(&s).await);
    assert!(left.is_empty(), "{fault:?} left behind: {left:?}");
    println!(
        "{fault:?}: deploy and destroy of {name} in {AWAY} succeeded with {total} of the platform's AWS calls failed: {faulted:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sixth_call_throttled() {
    lifecycle_under(Fault::Throttle, 6, "fault-throttle", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sixth_call_a_server_error_and_the_api_restarts_mid_job() {
    lifecycle_under(Fault::ServerError, 6, "fault-5xx", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_eighth_response_lost_after_the_service_acted() {
    lifecycle_under(
        Fault::LostResponse {
            hold: Duration::from_secs(3),
        },
        8,
        "fault-lost",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sixth_connection_reset() {
    lifecycle_under(Fault::Reset, 6, "fault-reset", false).await;
}

/// The process group of the running `terraform apply` for worker `name`,
/// found by its working directory (`tf-<name>.*`, see terraform-run.sh).
fn apply_process_group(name: &str) -> Option<i32> {
    let marker = format!("/tf-{name}.");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_apply = args.first().is_some_and(|a| a.ends_with(b"terraform"))
            && args.iter().any(|a| *a == b"apply");
        let cwd = std::fs::read_link(path.join("cwd")).unwrap_or_default();
        if !is_apply || !cwd.to_string_lossy().contains(&marker) {
            continue;
        }
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        return after.split_whitespace().nth(2)?.parse().ok();
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_mid_apply_fails_the_job_and_destroy_leaves_nothing() {
    let s = stack_with(StackOptions {
        clock_speedup: 200.0,
        terraform_lock_timeout: Duration::from_secs(5),
        ..StackOptions::default()
    })
    .await;
    let name = "killed-mid-apply";
    let before = inventory(&s).await;
    let deploy = submit(&s, "DEPLOY_WORKER", json!({"name": name, "region": AWAY})).await;

    // Once the apply has created something, the whole build goes at once,
    // as a lost build container would: no trap, no state save, no unlock.
    let deadline = Instant::now() + Duration::from_secs(300);
    let group = loop {
        assert!(Instant::now() < deadline, "no terraform apply was seen");
        if let Some(group) = apply_process_group(name)
            && !leftovers::find(&s.sdk, AWAY, name)
                .await
                .unwrap()
                .is_empty()
        {
            break group;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let killed = std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{group}")])
        .status()
        .unwrap();
    assert!(killed.success());

    let failed = finish(&s, &deploy).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error"]["code"], "TERRAFORM_FAILED", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("TerraformApply failed: build ") && message.contains("phase BUILD"),
        "{message}"
    );
    assert_eq!(item_count(&s, "runners").await, 0, "never registered");
    let partial = added(&before, &inventory(&s).await);
    assert!(!partial.is_empty(), "the kill came after the apply ended");

    // The destroy finds the dead build's mark: it releases the lock,
    // adopts what the apply created but never saved, and destroys it.
    let destroy = submit(&s, "DESTROY_WORKER", json!({"name": name})).await;
    let destroyed = finish(&s, &destroy).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    assert_eq!(unfinished_jobs(&s).await, Vec::new());
    let left = added(&before, &inventory(&s).await);
    assert!(
        left.is_empty(),
        "left behind after the kill and the destroy: {left:?} (the apply had made {partial:?})"
    );
    println!(
        "killed mid-apply with {} resources made: the destroy adopted and removed them all",
        partial.len()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_removes_what_the_state_never_knew() {
    let s = stack_with(StackOptions {
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await;
    let name = "state-lost";
    let before = inventory(&s).await;
    let deploy = submit(&s, "DEPLOY_WORKER", json!({"name": name, "region": AWAY})).await;
    assert_eq!(finish(&s, &deploy).await["status"], "SUCCESS");
    let made = added(&before, &inventory(&s).await);
    assert!(made.len() >= 9, "{made:?}");

    // The state is lost (restored from nothing): Terraform knows no resource.
    local_stack::stack::s3_client(&s.sdk)
        .delete_object()
        .bucket(local_stack::stack::STATE_BUCKET)
        .key(jobs_domain::worker::state_key(name))
        .send()
        .await
        .unwrap();

    let destroy = submit(&s, "DESTROY_WORKER", json!({"name": name})).await;
    let destroyed = finish(&s, &destroy).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let left = added(&before, &inventory(&s).await);
    assert!(
        left.is_empty(),
        "left behind: {left:?} (the deploy made {made:?})"
    );
    let tf = destroyed["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["name"] == "TerraformDestroy")
        .unwrap();
    assert_eq!(tf["build"]["plan"]["destroy"], 9, "{tf}");
    s.stop().await;
}

/// A job created without an Idempotency-Key whose write took effect but
/// whose answer was lost: the SDK's retry meets the item, which is this
/// very write (the table keeps microseconds, the clock gives nanoseconds),
/// so the job is created, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_write_whose_answer_was_lost_is_created_once() {
    use jobs_adapters::dynamo::jobs::DynamoJobStore;
    use jobs_adapters::tables::{self, TableNames};
    use jobs_domain::job::{Job, JobType};
    use jobs_domain::ports::{Created, JobStore};

    let moto = MotoServer::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).await;
    let sdk = local_stack::aws_env::sdk_config(&proxy.endpoint(), Duration::from_secs(1)).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let names = TableNames::new("lost-");
    tables::create_all(&dynamo, &names).await.unwrap();
    let store = DynamoJobStore::new(dynamo, &names);
    let job = Job::new(
        "org-1",
        JobType::ConnectionTest,
        json!({"cloud_identity_id": "i-1"}),
        chrono::Utc::now(),
    );
    // The first call from here on (the PutItem) acts, and its answer is lost.
    proxy.add(Rule::Flaky {
        fault: Fault::LostResponse {
            hold: Duration::from_secs(2),
        },
        every: usize::MAX,
        agent: "aws-sdk-rust",
    });
    let created = store.create(&job, None).await;
    proxy.clear();
    assert!(matches!(created, Ok(Created::New)), "{created:?}");
    let stored = store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.owner, "org-1");
    assert_eq!(item_count_of(&sdk, &names.jobs()).await, 1);
}

async fn item_count_of(sdk: &aws_types::SdkConfig, table: &str) -> usize {
    aws_sdk_dynamodb::Client::new(sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .len()
}
