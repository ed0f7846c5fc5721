//! `GET /api/jobs/{id}/logs`: a build step's output, page by page, with
//! secrets redacted, and clear answers for what has no log.

#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use jobs_domain::params::JobParams;
use jobs_domain::ports::ArtifactStore;
use jobs_domain::worker::terraform_progress_key;
use jobs_handlers::steps::BeginBuild;
use serde_json::{Value, json};

const GROUP: &str = "/aws/codebuild/worker-jobs-terraform";

async fn logs(w: &World, id: &str, query: &str) -> (u16, Value) {
    let (status, body, _) = w
        .call_jobs(event(
            "GET",
            &format!("/api/jobs/{id}/logs{query}"),
            &[],
            None,
        ))
        .await;
    (status, body)
}

/// A deploy whose TerraformApply build runs and has reported itself.
async fn running_build(w: &World) -> String {
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    w.run::<BeginBuild>(json!({"job_id": job.id, "build_step": "TerraformApply"}))
        .await
        .unwrap();
    let progress = json!({"id": "worker-jobs-terraform:b1", "log_group": GROUP, "log_stream": "b1", "plan": null});
    w.artifacts
        .put(
            &terraform_progress_key("runner-1", &job.id),
            progress.to_string().into_bytes(),
        )
        .await
        .unwrap();
    job.id
}

#[tokio::test]
async fn a_long_output_reads_back_whole_in_pages_and_more_comes_while_it_runs() {
    let w = World::new();
    let id = running_build(&w).await;
    let lines: Vec<String> = (0..2500)
        .map(|i| format!("module.runner: line {i}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    w.logs.append(GROUP, "b1", &refs);

    let mut read: Vec<String> = Vec::new();
    let mut query = "?limit=1000".to_string();
    let token = loop {
        let (status, page) = logs(&w, &id, &query).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["step"], "TerraformApply");
        assert_eq!(page["build_id"], "worker-jobs-terraform:b1");
        let got = page["lines"].as_array().unwrap();
        let token = page["next_token"].as_str().unwrap().to_string();
        if got.is_empty() {
            break token;
        }
        read.extend(got.iter().map(|l| l.as_str().unwrap().to_string()));
        query = format!("?limit=1000&next_token={token}");
    };
    assert_eq!(read, lines);

    // The build goes on; the same token reads what it wrote since.
    w.logs.append(GROUP, "b1", &["Apply complete!"]);
    let (_, page) = logs(&w, &id, &format!("?next_token={token}")).await;
    assert_eq!(page["lines"], json!(["Apply complete!"]));
}

#[tokio::test]
async fn secrets_in_a_build_s_output_never_reach_a_page() {
    let w = World::new();
    let id = running_build(&w).await;
    let token = jobs_domain::runner::new_token();
    let planted = format!("echo {} AKIAIOSFODNN7EXAMPLE", token.expose());
    w.logs.append(GROUP, "b1", &[&planted, "plan: 9 to add"]);
    let (status, page) = logs(&w, &id, "?step=TerraformApply").await;
    assert_eq!(status, 200);
    let text = page.to_string();
    assert!(!text.contains(token.expose()), "{text}");
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    assert_eq!(page["lines"][1], "plan: 9 to add");
}

#[tokio::test]
async fn what_has_no_log_is_a_clear_404_and_bad_parameters_a_400() {
    let w = World::new();
    let job = w
        .running_job(JobParams::DeployWorker(spec("runner-1")))
        .await;
    let (status, body) = logs(&w, &job.id, "").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no build step yet"),
        "{body}"
    );
    w.service().begin(&job.id, "GenerateConfig").await.unwrap();
    let (status, body) = logs(&w, &job.id, "?step=GenerateConfig").await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only Terraform builds have a log"),
        "{body}"
    );
    let (status, _) = logs(&w, "job-00000000000000000000000000000000", "").await;
    assert_eq!(status, 404);

    let id = running_build(&w).await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=x", "limit"),
        ("?next_token=%3Cscript%3E", "next_token"),
        ("?next_token=zzz", "next_token"),
        ("?nope=1", "nope"),
    ] {
        let (status, body) = logs(&w, &id, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}
