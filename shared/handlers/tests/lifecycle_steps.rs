//! The steps every job shares (MarkRunning, ReportSuccess, ReportFailure)
//! and the job service's rules under them, on in-memory ports.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::job::{Job, JobStatus, JobType, StepStatus};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{ArtifactStore, Clock, JobStore};
use jobs_domain::{ErrorKind, StepError};
use jobs_handlers::job_service::Write;
use jobs_handlers::steps::{MarkRunning, ReportFailure, ReportSuccess};
use serde_json::json;

async fn queued(w: &World) -> Job {
    let job = Job::new(
        OWNER,
        JobType::ConnectionTest,
        json!({"cloud_identity_id": "acme"}),
        w.clock.now(),
    );
    w.jobs.create(&job, None).await.unwrap();
    job
}

const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:connection_test:x";

#[tokio::test]
async fn mark_running_starts_a_queued_job_once_per_execution() {
    let w = World::new();
    let job = queued(&w).await;
    let payload = json!({"job_id": job.id, "execution_arn": EXECUTION, "step": "MarkRunning"});
    let out = w.run::<MarkRunning>(payload.clone()).await.unwrap();
    assert_eq!(out["job_type"], "CONNECTION_TEST");
    let running = w.job(&job.id).await;
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.execution_arn.as_deref(), Some(EXECUTION));

    // The same execution again: already done, nothing written.
    w.run::<MarkRunning>(payload).await.unwrap();
    assert_eq!(w.job(&job.id).await.version, running.version);

    // Another execution for the same job is refused.
    let e = w
        .run::<MarkRunning>(json!({"job_id": job.id, "execution_arn": format!("{EXECUTION}-2")}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
}

#[tokio::test]
async fn report_success_ends_a_running_job_once() {
    let w = World::new();
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    let payload =
        json!({"job_id": job.id, "step": "ReportSuccess", "result": {"account": "111122223333"}});
    let out = w.run::<ReportSuccess>(payload.clone()).await.unwrap();
    assert_eq!(out["status"], "SUCCESS");
    let done = w.job(&job.id).await;
    assert_eq!(done.result, Some(json!({"account": "111122223333"})));
    w.run::<ReportSuccess>(payload).await.unwrap();
    assert_eq!(
        w.job(&job.id).await.version,
        done.version,
        "a redelivery writes nothing"
    );
}

#[tokio::test]
async fn a_failed_job_cannot_be_reported_successful() {
    let w = World::new();
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    w.run::<ReportFailure>(json!({"job_id": job.id, "error": {"Error": "Fatal.AccessDenied", "Cause": "{\"errorType\":\"Fatal.AccessDenied\",\"errorMessage\":\"fix the trust policy\"}"}}))
        .await
        .unwrap();
    let failed = w.job(&job.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.clone().unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("ACCESS_DENIED", "fix the trust policy")
    );
    let e = w
        .run::<ReportSuccess>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    // ReportFailure again (a redelivery) leaves the first error.
    w.run::<ReportFailure>(
        json!({"job_id": job.id, "error": {"Error": "States.Timeout", "Cause": ""}}),
    )
    .await
    .unwrap();
    assert_eq!(w.job(&job.id).await.error, Some(error));
}

#[tokio::test]
async fn report_failure_records_the_failed_terraform_step_and_its_errors() {
    let w = World::new();
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.service().begin(&job.id, "GenerateConfig").await.unwrap();
    // As on AWS: the Cause is the Build object; Terraform's errors are in
    // the result object the build wrote beside its configuration.
    let cause = json!({"Build": {"Id": "worker-jobs-terraform:1", "BuildStatus": "FAILED", "Phases": [
        {"PhaseType": "BUILD", "PhaseStatus": "FAILED", "Contexts": [{"StatusCode": "COMMAND_EXECUTION_ERROR", "Message": "Error while executing command: sh run.sh. Reason: exit status 1"}]}
    ]}})
    .to_string();
    let failure = json!({
        "job_id": job.id,
        "config": {"name": "runner-1"},
        "failed_step": "TerraformApply",
        "error": {"Error": "States.TaskFailed", "Cause": cause}
    });
    let errors = "Initializing...\n╷\n│ Error: creating ECS Cluster (runner-1): AccessDeniedException: not authorized\n│ \n│   with module.runner.aws_ecs_cluster.this,\n╵\n";
    w.artifacts
        .put(
            &jobs_domain::worker::terraform_result_key("runner-1", &job.id),
            json!({"action": "apply", "exit_status": 1, "errors": errors, "tail": "…"})
                .to_string()
                .into_bytes(),
        )
        .await
        .unwrap();
    let out = w.run::<ReportFailure>(failure).await.unwrap();
    assert_eq!(out["code"], "TERRAFORM_FAILED");
    let failed = w.job(&job.id).await;
    assert_eq!(
        failed.error.clone().unwrap().message,
        "TerraformApply failed: apply exited with status 1:\nError: creating ECS Cluster (runner-1): AccessDeniedException: not authorized\nwith module.runner.aws_ecs_cluster.this,"
    );
    let status_of = |name: &str| {
        failed
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status)
    };
    assert_eq!(status_of("TerraformApply"), Some(StepStatus::Failed));
    assert_eq!(
        status_of("GenerateConfig"),
        Some(StepStatus::Failed),
        "a step left running failed with the job"
    );
}

#[tokio::test]
async fn a_build_killed_before_writing_its_result_is_described_from_the_build_object() {
    let w = World::new();
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let cause = json!({"Build": {"Id": "worker-jobs-terraform:2", "BuildStatus": "FAILED", "Phases": [
        {"PhaseType": "BUILD", "PhaseStatus": "FAILED", "Contexts": [{"StatusCode": "COMMAND_EXECUTION_ERROR", "Message": "The build's shell ended during the phase"}]}
    ], "Logs": {"DeepLink": "file:///logs/2.log"}}})
    .to_string();
    w.run::<ReportFailure>(json!({
        "job_id": job.id,
        "failed_step": "TerraformApply",
        "error": {"Error": "States.TaskFailed", "Cause": cause}
    }))
    .await
    .unwrap();
    assert_eq!(
        w.job(&job.id).await.error.unwrap().message,
        "TerraformApply failed: build worker-jobs-terraform:2 ended FAILED in phase BUILD: The build's shell ended during the phase (its log: file:///logs/2.log)"
    );
}

#[tokio::test]
async fn the_job_service_refuses_a_change_the_lifecycle_forbids() {
    let w = World::new();
    let jobs = w.service();
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    jobs.modify(&job.id, |j| {
        j.status = JobStatus::Success;
        Ok(Write::Yes)
    })
    .await
    .unwrap();
    for forbidden in [JobStatus::Running, JobStatus::Queued, JobStatus::Failed] {
        let e = jobs
            .modify(&job.id, |j| {
                j.status = forbidden;
                Ok(Write::Yes)
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal, "{forbidden}");
        assert!(e.message.contains("cannot go from SUCCESS"), "{e}");
    }
    assert_eq!(
        w.job(&job.id).await.status,
        JobStatus::Success,
        "nothing written"
    );
    let queued = queued(&w).await;
    let e = jobs
        .modify(&queued.id, |j| {
            j.status = JobStatus::Success;
            Ok(Write::Yes)
        })
        .await
        .unwrap_err();
    assert!(
        e.message.contains("cannot go from QUEUED to SUCCESS"),
        "{e}"
    );
}

#[tokio::test]
async fn the_job_service_reads_again_when_another_writer_won() {
    let w = World::new();
    let jobs = w.service();
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    w.jobs
        .faults
        .fail_next("update", StepError::conflict("lost the race"));
    let mut calls = 0;
    let changed = jobs
        .modify(&job.id, |j| {
            calls += 1;
            j.requeues += 1;
            Ok(Write::Yes)
        })
        .await
        .unwrap();
    assert_eq!(
        (calls, changed.requeues),
        (2, 1),
        "the change is applied to a fresh read, once"
    );
    assert_eq!(w.job(&job.id).await.version, job.version + 1);

    for _ in 0..5 {
        w.jobs
            .faults
            .fail_next("update", StepError::conflict("lost the race"));
    }
    let e = jobs.modify(&job.id, |_| Ok(Write::Yes)).await.unwrap_err();
    assert_eq!(e.error_type(), "Retryable.Conflict");
}

#[tokio::test]
async fn steps_run_only_on_running_jobs_and_record_their_attempts() {
    let w = World::new();
    let jobs = w.service();
    let job = queued(&w).await;
    let e = jobs.begin(&job.id, "VerifyIdentity").await.unwrap_err();
    assert!(e.message.contains("expected RUNNING"), "{e}");
    let e = jobs.begin("job-nope", "VerifyIdentity").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(w.jobs.get(&job.id).await.unwrap().unwrap().steps.len(), 0);
}

#[tokio::test]
async fn a_running_build_shows_on_the_job_with_what_it_reports_of_itself() {
    use jobs_domain::worker::terraform_progress_key;
    use jobs_handlers::steps::BeginBuild;

    let w = World::new();
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let out = w
        .run::<BeginBuild>(json!({"job_id": job.id, "build_step": "TerraformApply"}))
        .await
        .unwrap();
    assert_eq!(out["attempt"], 1);
    let tf = build_step_view(&w, &job.id).await;
    assert_eq!(tf["status"], "RUNNING");
    assert!(tf["build"].is_null(), "nothing reported yet: {tf}");

    // The build reports itself, then its plan.
    let key = terraform_progress_key("runner-1", &job.id);
    let progress = json!({"id": "worker-jobs-terraform:b1", "log_group": "/aws/codebuild/worker-jobs-terraform", "log_stream": "b1", "plan": {"add": 9, "change": 0, "destroy": 0}});
    w.artifacts
        .put(&key, progress.to_string().into_bytes())
        .await
        .unwrap();
    let tf = build_step_view(&w, &job.id).await;
    assert_eq!(tf["build"], progress, "{tf}");

    // A redelivery is one more attempt; only Terraform builds are begun.
    let again = w
        .run::<BeginBuild>(json!({"job_id": job.id, "build_step": "TerraformApply"}))
        .await
        .unwrap();
    assert_eq!(again["attempt"], 2);
    let wrong = w
        .run::<BeginBuild>(json!({"job_id": job.id, "build_step": "RegisterWorker"}))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::InvalidInput);
}

async fn build_step_view(w: &World, id: &str) -> serde_json::Value {
    let (status, body, _) = w
        .call_jobs(event("GET", &format!("/api/jobs/{id}"), &[], None))
        .await;
    assert_eq!(status, 200);
    body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "TerraformApply")
        .cloned()
        .unwrap()
}
