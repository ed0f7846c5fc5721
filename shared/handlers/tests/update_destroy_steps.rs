//! UPDATE_WORKER and DESTROY_WORKER steps alone: the rollout judged from
//! ECS's deployments, the registration removed, and the destroyed runner's
//! jobs requeued exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::ErrorKind;
use jobs_domain::job::{JobStatus, JobType};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{JobStore, WorkerStore};
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
            image: NEW_IMAGE.into(),
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
    json!({"job_id": job_id, "name": "runner-1", "terraform": terraform_facts(TASK_DEF_2), "checks": checks})
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
        (out["done"].clone(), out["checks"].clone()),
        (json!(true), json!(2))
    );
    let worker = w.workers.get("runner-1").await.unwrap().unwrap();
    assert_eq!(worker.spec.image, NEW_IMAGE);
    assert_eq!(worker.outputs.unwrap().task_definition_arn, TASK_DEF_2);
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
            image: NEW_IMAGE.into(),
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
    let queued = w.jobs.queued_runner_jobs("default", 10).await.unwrap();
    assert_eq!(
        queued
            .iter()
            .filter(|j| j.job_type == JobType::RunnerJob)
            .count(),
        2
    );
}
