//! UPDATE_WORKER and DESTROY_WORKER steps alone: the rollout judged from
//! ECS's deployments, the registration removed, and the destroyed runner's
//! jobs requeued exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::ErrorKind;
use jobs_domain::job::{JobStatus, JobType};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{ArtifactStore, JobStore, WorkerStore};
use jobs_domain::worker::{ServiceState, WorkerStatus, worker_id};
use jobs_handlers::job_service::Write;
use jobs_handlers::steps::{
    CheckDeployment, DeregisterWorker, GenerateConfig, RegisterWorker, RequeueJobs,
};
use serde_json::{Value, json};

/// runner-1 deployed by a DEPLOY_WORKER job (GenerateConfig, Terraform, RegisterWorker).
async fn deployed(w: &World) -> String {
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    w.terraform_created_service(TASK_DEF_1);
    w.run::<RegisterWorker>(
        json!({"job_id": job.id, "name": "runner-1", "terraform": terraform_facts(TASK_DEF_1)}),
    )
    .await
    .unwrap();
    job.id
}

const NEW_IMAGE: &str = "public.ecr.aws/alethia/runner:2.0.0";

async fn update_job(w: &World) -> String {
    let job = w
        .running_job(JobParams::UpdateWorker {
            name: "runner-1".into(),
            image: Some(NEW_IMAGE.into()),
        })
        .await;
    let out = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    assert_eq!(out["image"], NEW_IMAGE);
    job.id
}

fn check(job_id: &str, checks: u32) -> Value {
    json!({"job_id": job_id, "name": "runner-1", "terraform": terraform_facts(TASK_DEF_2), "image": NEW_IMAGE, "checks": checks})
}

fn service_state(current: &str, deployments: Vec<jobs_domain::worker::Deployment>) -> ServiceState {
    ServiceState {
        task_definition: current.into(),
        deployments,
    }
}

#[tokio::test]
async fn update_renders_the_new_image_but_the_worker_keeps_its_own_until_the_rollout_completes() {
    let w = World::new();
    deployed(&w).await;
    let job_id = update_job(&w).await;
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_ne!(worker.spec.image, NEW_IMAGE);
    assert_eq!(worker.last_job_id, job_id);

    // Terraform pointed the service at revision 2; the old task drains.
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_2,
            vec![
                deployment("PRIMARY", TASK_DEF_2, "COMPLETED", 1),
                deployment("ACTIVE", TASK_DEF_1, "COMPLETED", 1),
            ],
        ),
    );
    let out = w.run::<CheckDeployment>(check(&job_id, 0)).await.unwrap();
    assert_eq!(
        (out["done"].clone(), out["checks"].clone()),
        (json!(false), json!(1))
    );
    assert!(out["status"].as_str().unwrap().contains("draining"));

    // The old task held a job claimed before the rollout began; the new
    // task claimed one since.
    let runner_id = w
        .workers
        .get("runner-1")
        .await
        .unwrap()
        .unwrap()
        .runner_id
        .unwrap();
    let rollout_began = chrono::DateTime::from_timestamp_millis(1_893_456_000_000).unwrap();
    let mut held = Vec::new();
    for claimed_at in [
        rollout_began - chrono::Duration::seconds(60),
        rollout_began + chrono::Duration::seconds(5),
    ] {
        let job = w
            .running_job(JobParams::RunnerJob {
                pool: "default".into(),
                payload: json!({}),
            })
            .await;
        w.service()
            .modify(&job.id, |j| {
                j.runner_id = Some(runner_id.clone());
                j.claimed_at = Some(claimed_at);
                Ok(Write::Yes)
            })
            .await
            .unwrap();
        held.push(job.id);
    }
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_2,
            vec![deployment("PRIMARY", TASK_DEF_2, "COMPLETED", 1)],
        ),
    );
    let out = w.run::<CheckDeployment>(check(&job_id, 1)).await.unwrap();
    assert_eq!(
        w.job(&held[0]).await.status,
        JobStatus::Queued,
        "the replaced task's job is requeued"
    );
    assert_eq!(
        w.job(&held[1]).await.status,
        JobStatus::Running,
        "the new task's job stays"
    );
    assert_eq!(
        (out["done"].clone(), out["checks"].clone()),
        (json!(true), json!(2))
    );
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.spec.image, NEW_IMAGE);
    assert_eq!(worker.outputs.unwrap().task_definition_arn, TASK_DEF_2);
}

#[tokio::test]
async fn an_update_without_an_image_rolls_out_the_release_pinned_by_digest_and_always_redeploys() {
    let w = World::new();
    deployed(&w).await;
    let digest = "sha256:0c5e1d7e9a6c0b4d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d";
    w.releases.push(RELEASE_IMAGE, digest);
    let job = w
        .running_job(JobParams::UpdateWorker {
            name: "runner-1".into(),
            image: None,
        })
        .await;
    let out = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    let pinned = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/alethia/runner@{digest}");
    assert_eq!(out["image"], pinned);
    let key = format!("workers/runner-1/{}/main.tf.json", job.id);
    let config: Value =
        serde_json::from_slice(&w.artifacts.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(
        config["module"]["runner"]["image"], pinned,
        "the task definition pins the digest"
    );
    assert_eq!(
        config["module"]["runner"]["deployment_trigger"], job.id,
        "a new deployment even if nothing else changed"
    );

    // The release moves on: the next update resolves the new digest.
    let next = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    w.releases.push(RELEASE_IMAGE, next);
    let job2 = w
        .running_job(JobParams::UpdateWorker {
            name: "runner-1".into(),
            image: None,
        })
        .await;
    let out = w
        .run::<GenerateConfig>(json!({"job_id": job2.id}))
        .await
        .unwrap();
    assert!(out["image"].as_str().unwrap().ends_with(next));
}

#[tokio::test]
async fn an_update_to_a_tag_that_does_not_exist_fails_fatally() {
    let w = World::new();
    deployed(&w).await;
    let job = w
        .running_job(JobParams::UpdateWorker {
            name: "runner-1".into(),
            image: None,
        })
        .await;
    let e = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Fatal.NotFound");
}

#[tokio::test]
async fn a_forced_rollout_of_the_same_task_definition_waits_for_the_old_task_to_drain() {
    let w = World::new();
    deployed(&w).await;
    let job_id = update_job(&w).await;
    let same = json!({"job_id": job_id, "name": "runner-1", "terraform": terraform_facts(TASK_DEF_1), "image": NEW_IMAGE, "checks": 0});
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_1,
            vec![
                deployment("PRIMARY", TASK_DEF_1, "IN_PROGRESS", 0),
                deployment("ACTIVE", TASK_DEF_1, "COMPLETED", 1),
            ],
        ),
    );
    let out = w.run::<CheckDeployment>(same.clone()).await.unwrap();
    assert_eq!(out["done"], false);
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_1,
            vec![deployment("PRIMARY", TASK_DEF_1, "COMPLETED", 1)],
        ),
    );
    let out = w.run::<CheckDeployment>(same).await.unwrap();
    assert_eq!(out["done"], true);
}

#[tokio::test]
async fn a_rolled_back_or_failed_deployment_fails_the_job() {
    let w = World::new();
    deployed(&w).await;
    let job_id = update_job(&w).await;
    // The circuit breaker rolled the service back to revision 1.
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_1,
            vec![deployment("PRIMARY", TASK_DEF_1, "COMPLETED", 1)],
        ),
    );
    let e = w
        .run::<CheckDeployment>(check(&job_id, 0))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Fatal.Deployment");
    assert!(e.message.contains("rolled back"), "{e}");

    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_2,
            vec![deployment("PRIMARY", TASK_DEF_2, "FAILED", 0)],
        ),
    );
    let e = w
        .run::<CheckDeployment>(check(&job_id, 3))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Deployment);
    assert_ne!(
        w.workers.get("runner-1").await.unwrap().unwrap().spec.image,
        NEW_IMAGE
    );
}

#[tokio::test]
async fn a_rollout_that_never_completes_gives_up_after_the_last_check() {
    let w = World::new();
    deployed(&w).await;
    let job_id = update_job(&w).await;
    w.services.put(
        REGION,
        CLUSTER_ARN,
        SERVICE,
        service_state(
            TASK_DEF_2,
            vec![deployment("PRIMARY", TASK_DEF_2, "IN_PROGRESS", 0)],
        ),
    );
    let last = jobs_handlers::steps::check_deployment::MAX_CHECKS - 1;
    let e = w
        .run::<CheckDeployment>(check(&job_id, last))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Deployment);
    assert!(e.message.contains("did not complete"), "{e}");
}

#[tokio::test]
async fn only_a_deployed_worker_can_be_updated() {
    let w = World::new();
    let deploy = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.run::<GenerateConfig>(json!({"job_id": deploy.id}))
        .await
        .unwrap();
    let job = w
        .running_job(JobParams::UpdateWorker {
            name: "runner-1".into(),
            image: Some(NEW_IMAGE.into()),
        })
        .await;
    let e = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert!(e.message.contains("Deploying"), "{e}");
}

async fn destroy_job(w: &World) -> (String, Value) {
    let job = w
        .running_job(JobParams::DestroyWorker {
            name: "runner-1".into(),
        })
        .await;
    let out = w
        .run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    (job.id, out)
}

#[tokio::test]
async fn a_failed_worker_is_destroyed_like_any_other() {
    let w = World::new();
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.run::<GenerateConfig>(json!({"job_id": job.id}))
        .await
        .unwrap();
    w.run::<jobs_handlers::steps::AbandonDeployment>(json!({"job_id": job.id, "error": {"Error": "States.TaskFailed", "Cause": "Error: x"}, "failed_step": "TerraformApply"}))
        .await
        .unwrap();
    let (_, config) = destroy_job(&w).await;
    assert_eq!(
        (
            config["already_destroyed"].clone(),
            config["skip_terraform"].clone()
        ),
        (json!(false), json!(false)),
        "Terraform destroys what the failed apply created"
    );
    assert!(config["config_uri"].is_string());
}

#[tokio::test]
async fn destroy_deregisters_the_runner_and_marks_the_worker_destroyed() {
    let w = World::new();
    let deploy_id = deployed(&w).await;
    let (job_id, config) = destroy_job(&w).await;
    let runner_id = worker_id("runner-1", &deploy_id);
    assert_eq!(config["runner_id"], runner_id);
    assert_eq!(
        (
            config["already_destroyed"].clone(),
            config["skip_terraform"].clone()
        ),
        (json!(false), json!(false))
    );
    assert_eq!(
        w.workers.get("runner-1").await.unwrap().unwrap().status,
        WorkerStatus::Destroying
    );

    let payload =
        json!({"job_id": job_id, "name": "runner-1", "terraform": terraform_facts(TASK_DEF_1)});
    let out = w.run::<DeregisterWorker>(payload.clone()).await.unwrap();
    assert_eq!(out["registration_removed"], true);
    assert_eq!(w.registry.count(), 0);
    let out = w.run::<DeregisterWorker>(payload).await.unwrap();
    assert_eq!(out["registration_removed"], false, "already gone is fine");
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.status, WorkerStatus::Destroyed);
    assert!(worker.outputs.is_none());

    // This job's GenerateConfig delivered again after Deregister (a retry
    // of the execution's steps): the steps after Terraform run again, so
    // RequeueJobs is not skipped.
    let replay = w
        .run::<GenerateConfig>(json!({"job_id": job_id}))
        .await
        .unwrap();
    assert_eq!(
        (
            replay["already_destroyed"].clone(),
            replay["skip_terraform"].clone()
        ),
        (json!(false), json!(true))
    );

    // A later DESTROY finds nothing to do.
    let (_, again) = destroy_job(&w).await;
    assert_eq!(
        (
            again["already_destroyed"].clone(),
            again["config_uri"].clone()
        ),
        (json!(true), Value::Null)
    );
}

#[tokio::test]
async fn requeue_puts_the_runners_running_jobs_back_exactly_once() {
    let w = World::new();
    let jobs = w.service();
    let mut ids = Vec::new();
    for (i, status) in [JobStatus::Running, JobStatus::Running, JobStatus::Success]
        .into_iter()
        .enumerate()
    {
        let job = w
            .running_job(JobParams::RunnerJob {
                pool: "default".into(),
                payload: json!({"n": i}),
            })
            .await;
        jobs.modify(&job.id, |j| {
            j.runner_id = Some("runner-a".into());
            j.status = status;
            Ok(Write::Yes)
        })
        .await
        .unwrap();
        ids.push(job.id);
    }
    let elsewhere = w
        .running_job(JobParams::RunnerJob {
            pool: "default".into(),
            payload: json!({}),
        })
        .await;
    jobs.modify(&elsewhere.id, |j| {
        j.runner_id = Some("runner-b".into());
        Ok(Write::Yes)
    })
    .await
    .unwrap();

    let destroy = w
        .running_job(JobParams::DestroyWorker {
            name: "runner-1".into(),
        })
        .await;
    let payload = json!({"job_id": destroy.id, "runner_id": "runner-a"});
    let out = w.run::<RequeueJobs>(payload.clone()).await.unwrap();
    let mut requeued: Vec<String> = serde_json::from_value(out["requeued"].clone()).unwrap();
    requeued.sort();
    let mut expected = ids[..2].to_vec();
    expected.sort();
    assert_eq!(requeued, expected);
    for id in &ids[..2] {
        let j = w.job(id).await;
        assert_eq!(
            (j.status, j.runner_id.clone(), j.requeues),
            (JobStatus::Queued, None, 1)
        );
    }
    assert_eq!(
        w.job(&ids[2]).await.status,
        JobStatus::Success,
        "a finished job is left alone"
    );
    assert_eq!(
        w.job(&elsewhere.id).await.runner_id.as_deref(),
        Some("runner-b")
    );

    let again = w.run::<RequeueJobs>(payload).await.unwrap();
    assert_eq!(
        again["requeued"],
        json!([]),
        "a redelivery requeues nothing"
    );
    let queued = w
        .jobs
        .queued_runner_jobs("org-1/default", 10)
        .await
        .unwrap();
    assert_eq!(
        queued
            .iter()
            .filter(|j| j.job_type == JobType::RunnerJob)
            .count(),
        2
    );
}
