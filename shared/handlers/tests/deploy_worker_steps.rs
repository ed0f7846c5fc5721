//! DEPLOY_WORKER's steps alone, on in-memory ports: GenerateConfig claims
//! the worker's name and writes its configuration; RegisterWorker registers
//! it once, fills its secret and starts its service, whatever the
//! redeliveries and partial failures.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::ErrorKind;
use jobs_domain::StepError;
use jobs_domain::job::StepStatus;
use jobs_domain::params::JobParams;
use jobs_domain::ports::{ArtifactStore, RunnerRegistry, WorkerStore};
use jobs_domain::worker::{WorkerStatus, worker_id};
use jobs_handlers::steps::{AbandonDeployment, GenerateConfig, RegisterWorker};
use serde_json::{Value, json};

async fn generated(w: &World, name: &str) -> (String, Value) {
    let job = w.running_job(JobParams::DeployWorker(spec(name))).await;
    let out = w
        .run::<GenerateConfig>(json!({"job_id": job.id, "step": "GenerateConfig"}))
        .await
        .unwrap();
    (job.id, out)
}

#[tokio::test]
async fn generate_config_claims_the_name_and_writes_a_deterministic_config() {
    let w = World::new();
    let (job_id, out) = generated(&w, "runner-1").await;
    assert_eq!(out["name"], "runner-1");
    assert_eq!(out["region"], REGION);
    assert_eq!(out["action"], "apply");
    assert_eq!(out["worker_id"], worker_id("runner-1", &job_id));
    let key = format!("workers/runner-1/{job_id}/main.tf.json");
    assert_eq!(out["config_uri"], format!("s3://memory/{key}"));
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.status, WorkerStatus::Deploying);
    assert_eq!(worker.deploy_job_id, job_id);

    // A redelivery answers the same and writes the same bytes.
    let first = w.artifacts.get(&key).await.unwrap().unwrap();
    let again = w
        .run::<GenerateConfig>(json!({"job_id": job_id, "step": "GenerateConfig"}))
        .await
        .unwrap();
    assert_eq!(again, out);
    assert_eq!(w.artifacts.get(&key).await.unwrap().unwrap(), first);
    let config: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(
        config["provider"]["aws"]["region"], REGION,
        "rendered for the worker's region"
    );
    let job = w.job(&job_id).await;
    let step = job
        .steps
        .iter()
        .find(|s| s.name == "GenerateConfig")
        .unwrap();
    assert_eq!((step.status, step.attempts), (StepStatus::Succeeded, 2));
}

#[tokio::test]
async fn a_live_worker_name_is_refused_and_a_destroyed_one_is_reused() {
    let w = World::new();
    let (first_job, _) = generated(&w, "runner-1").await;
    let second = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let e = w
        .run::<GenerateConfig>(json!({"job_id": second.id}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains(&first_job), "{e}");

    let mut worker = w.workers.get("runner-1").await.unwrap().unwrap();
    let v = worker.version;
    worker.status = WorkerStatus::Destroyed;
    w.workers.put(&worker, Some(v)).await.unwrap();
    let out = w
        .run::<GenerateConfig>(json!({"job_id": second.id}))
        .await
        .unwrap();
    assert_eq!(
        out["worker_id"],
        worker_id("runner-1", &second.id),
        "a new worker id for the new deployment"
    );
    assert_eq!(
        w.workers
            .get("runner-1")
            .await
            .unwrap()
            .unwrap()
            .deploy_job_id,
        second.id
    );
}

#[tokio::test]
async fn generate_config_refuses_job_types_it_does_not_render() {
    let w = World::new();
    let job = w
        .running_job(JobParams::RunnerJob {
            pool: "default".into(),
            payload: json!({}),
        })
        .await;
    let e = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("RUNNER_JOB"), "{e}");
}

/// Deploy up to Terraform: GenerateConfig done, the service created.
async fn applied(w: &World) -> String {
    let (job_id, _) = generated(w, "runner-1").await;
    w.terraform_created_service(TASK_DEF_1);
    job_id
}

fn register_payload(job_id: &str) -> Value {
    json!({"job_id": job_id, "step": "RegisterWorker", "name": "runner-1", "terraform": terraform_facts(TASK_DEF_1)})
}

#[tokio::test]
async fn register_worker_registers_fills_the_secret_and_starts_the_service() {
    let w = World::new();
    let job_id = applied(&w).await;
    let out = w
        .run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    let runner_id = worker_id("runner-1", &job_id);
    assert_eq!(out["runner_id"], runner_id);
    assert_eq!(out["region"], REGION);
    assert_eq!(out["task_definition_arn"], TASK_DEF_1);

    let (secret_id, secret_token) = w.secrets.value(SECRET_ARN).unwrap();
    assert_eq!(secret_id, runner_id);
    let registered = w.registry.get(&runner_id).unwrap();
    assert_eq!(
        registered.token, secret_token,
        "the secret holds the live token"
    );
    assert_eq!(
        w.services.desired_count(REGION, CLUSTER_ARN, SERVICE),
        Some(1)
    );
    assert!(
        !out.to_string().contains(secret_token.expose()),
        "no token in the output"
    );

    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.status, WorkerStatus::Deployed);
    assert_eq!(worker.outputs.unwrap().secret_arn, SECRET_ARN);
    let job = w.job(&job_id).await;
    let build = job
        .steps
        .iter()
        .find(|s| s.name == "TerraformApply")
        .unwrap();
    assert_eq!(build.status, StepStatus::Succeeded);
    assert_eq!(
        (build.ended_at.unwrap() - build.started_at).num_seconds(),
        20,
        "the build's own times"
    );
}

#[tokio::test]
async fn a_redelivered_register_worker_finds_the_live_runner_and_registers_nothing() {
    let w = World::new();
    let job_id = applied(&w).await;
    let first = w
        .run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    let token = w.secrets.value(SECRET_ARN).unwrap().1;
    let again = w
        .run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(w.registry.registrations(), 1);
    assert_eq!(
        w.secrets.value(SECRET_ARN).unwrap().1,
        token,
        "the token was not rotated"
    );
}

#[tokio::test]
async fn a_secret_naming_a_runner_that_is_gone_is_registered_again() {
    let w = World::new();
    let job_id = applied(&w).await;
    w.run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    let runner_id = worker_id("runner-1", &job_id);
    assert!(w.registry.deregister(&runner_id).await.unwrap());
    w.run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    assert_eq!(w.registry.registrations(), 2);
    let (_, token) = w.secrets.value(SECRET_ARN).unwrap();
    assert_eq!(w.registry.get(&runner_id).unwrap().token, token);
}

#[tokio::test]
async fn a_retry_after_the_secret_write_failed_leaves_one_runner_with_the_secret_token() {
    let w = World::new();
    let job_id = applied(&w).await;
    w.secrets.faults.fail_next(
        "put",
        StepError::unavailable("Secrets Manager answered 503"),
    );
    let e = w
        .run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap_err();
    assert_eq!(
        e.error_type(),
        "Retryable.Unavailable",
        "the state machine retries it"
    );
    assert_eq!(w.registry.count(), 1, "registered, but the secret is empty");
    assert!(w.secrets.value(SECRET_ARN).is_none());

    w.run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap();
    assert_eq!(w.registry.count(), 1, "still one runner");
    assert_eq!(
        w.registry.registrations(),
        2,
        "registered again: the token rotated"
    );
    let (id, token) = w.secrets.value(SECRET_ARN).unwrap();
    assert_eq!(
        w.registry.get(&id).unwrap().token,
        token,
        "the secret holds the valid token"
    );
}

#[tokio::test]
async fn register_worker_fails_fatally_without_the_terraform_outputs() {
    let w = World::new();
    let job_id = applied(&w).await;
    let mut payload = register_payload(&job_id);
    payload["terraform"]["exported"] = json!([]);
    let e = w.run::<RegisterWorker>(payload).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.contains("TF_OUT_"), "{e}");
    assert_eq!(w.registry.count(), 0);
}

#[tokio::test]
async fn register_worker_refuses_a_worker_deployed_by_another_job() {
    let w = World::new();
    applied(&w).await;
    let other = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let e = w
        .run::<RegisterWorker>(register_payload(&other.id))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(w.registry.count(), 0);
}

#[tokio::test]
async fn a_payload_the_step_does_not_know_is_a_fatal_input_error() {
    let w = World::new();
    let job_id = applied(&w).await;
    let mut payload = register_payload(&job_id);
    payload["colour"] = json!("red");
    let e = w.run::<RegisterWorker>(payload).await.unwrap_err();
    assert_eq!(e.error_type(), "Fatal.InvalidInput");
    assert!(
        e.message.contains("worker-jobs-register-worker") && e.message.contains("colour"),
        "{e}"
    );
}

fn abandon_payload(job_id: &str, with_terraform: bool) -> Value {
    let mut state = json!({
        "job_id": job_id,
        "step": "AbandonDeployment",
        "config": {"name": "runner-1"},
        "error": {"Error": "Retryable.Unavailable", "Cause": "{\"errorType\":\"Retryable.Unavailable\",\"errorMessage\":\"the registry answered 503\"}"}
    });
    if with_terraform {
        state["terraform"] = terraform_facts(TASK_DEF_1);
    }
    state
}

#[tokio::test]
async fn a_failed_deploy_leaves_no_live_registration_or_task_and_the_worker_failed() {
    let w = World::new();
    let job_id = applied(&w).await;
    // RegisterWorker got as far as registering and starting the service,
    // then failed for good.
    w.workers
        .faults
        .fail_next("put", StepError::internal("boom"));
    w.run::<RegisterWorker>(register_payload(&job_id))
        .await
        .unwrap_err();
    assert_eq!(w.registry.count(), 1);
    assert_eq!(
        w.services.desired_count(REGION, CLUSTER_ARN, SERVICE),
        Some(1)
    );

    let out = w
        .run::<AbandonDeployment>(abandon_payload(&job_id, true))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"abandoned": true, "registration_removed": true, "service_stopped": true})
    );
    assert_eq!(w.registry.count(), 0, "no registration stays valid");
    assert_eq!(
        w.services.desired_count(REGION, CLUSTER_ARN, SERVICE),
        Some(0),
        "in the worker's region"
    );
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.status, WorkerStatus::Failed);
    assert!(
        worker
            .failure
            .unwrap()
            .contains("the registry answered 503")
    );
    assert_eq!(
        worker.outputs.unwrap().service_name,
        SERVICE,
        "kept for DESTROY"
    );

    // Again (a redelivery): harmless.
    let again = w
        .run::<AbandonDeployment>(abandon_payload(&job_id, true))
        .await
        .unwrap();
    assert_eq!(again["registration_removed"], false);
}

#[tokio::test]
async fn a_deploy_that_failed_in_terraform_is_abandoned_without_outputs() {
    let w = World::new();
    let (job_id, _) = generated(&w, "runner-1").await;
    let out = w
        .run::<AbandonDeployment>(abandon_payload(&job_id, false))
        .await
        .unwrap();
    assert_eq!(
        (out["abandoned"].clone(), out["service_stopped"].clone()),
        (json!(true), json!(false))
    );
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.status, WorkerStatus::Failed);
}

#[tokio::test]
async fn a_deploy_that_lost_the_name_abandons_nothing() {
    let w = World::new();
    let (owner, _) = generated(&w, "runner-1").await;
    let loser = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let out = w
        .run::<AbandonDeployment>(abandon_payload(&loser.id, false))
        .await
        .unwrap();
    assert_eq!(out["abandoned"], false);
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(
        (worker.status, worker.deploy_job_id),
        (WorkerStatus::Deploying, owner)
    );
}

#[tokio::test]
async fn a_deploy_pins_its_image_and_a_redelivery_renders_what_the_first_recorded() {
    let w = World::new();
    w.releases.push(RELEASE_IMAGE, "sha256:aaaa");
    let mut s = spec("runner-1");
    s.image = RELEASE_IMAGE.into();
    let job = w.running_job(JobParams::DeployWorker(s)).await;
    w.run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    let pinned = "123456789012.dkr.ecr.us-east-1.amazonaws.com/alethia/runner@sha256:aaaa";
    assert_eq!(
        w.workers.get("runner-1").await.unwrap().unwrap().spec.image,
        pinned
    );
    w.releases.push(RELEASE_IMAGE, "sha256:bbbb");
    w.run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    let key = format!("workers/runner-1/{}/main.tf.json", job.id);
    let config: Value =
        serde_json::from_slice(&w.artifacts.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(config["module"]["runner"]["image"], pinned);
}
