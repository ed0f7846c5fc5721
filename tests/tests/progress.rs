//! Progress a user can watch: the Terraform step shows RUNNING with its
//! build id and log while it runs, then its plan; the finished job keeps
//! them.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use std::time::{Duration, Instant};

use e2e::{api, finish, stack};
use reqwest::Method;
use serde_json::{Value, json};

fn step<'a>(job: &'a Value, name: &str) -> Option<&'a Value> {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_shows_its_terraform_build_running_with_its_id_then_its_plan() {
    let s = stack().await;
    let job = api(&s)
        .submit(
            "DEPLOY_WORKER",
            json!({"name": "watched", "region": "eu-west-1"}),
        )
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut running_with_id: Option<Value> = None;
    let mut running_plan: Option<Value> = None;
    loop {
        let j = api(&s)
            .expect(200, Method::GET, &format!("/api/jobs/{id}"), None, None)
            .await
            .unwrap();
        if let Some(tf) = step(&j, "TerraformApply")
            && tf["status"] == "RUNNING"
        {
            if tf["build"]["id"].is_string() && running_with_id.is_none() {
                running_with_id = Some(tf.clone());
            }
            if tf["build"]["plan"].is_object() {
                running_plan = Some(tf["build"]["plan"].clone());
            }
        }
        if j["status"] == "SUCCESS" || j["status"] == "FAILED" {
            break;
        }
        assert!(Instant::now() < deadline, "the deploy did not end: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = running_with_id.expect("TerraformApply was never seen RUNNING with a build id");
    let build_id = running["build"]["id"].as_str().unwrap();
    assert!(build_id.starts_with("worker-jobs-terraform:"), "{running}");
    assert_eq!(
        running["build"]["log_group"],
        "/aws/codebuild/worker-jobs-terraform"
    );
    assert!(running["build"]["log_stream"].is_string(), "{running}");
    assert!(
        running["started_at"].is_string() && running["attempts"] == 1,
        "{running}"
    );

    let done = finish(&s, &id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    let tf = step(&done, "TerraformApply").unwrap();
    assert_eq!(tf["status"], "SUCCEEDED");
    assert_eq!(
        tf["build"]["id"], build_id,
        "the finished step keeps its build"
    );
    // Nine resources of the Runner template, nothing changed or destroyed.
    let plan = json!({"add": 9, "change": 0, "destroy": 0});
    assert_eq!(tf["build"]["plan"], plan, "{tf}");
    if let Some(p) = running_plan {
        assert_eq!(p, plan, "the plan shown while the apply ran");
    }

    // The build's whole output through the log route, 50 lines a page,
    // is what the build printed (the engine keeps a copy of it).
    let paged = e2e::log_lines(&s, &id, "TerraformApply").await;
    let stream = tf["build"]["log_stream"].as_str().unwrap();
    let kept =
        std::fs::read_to_string(local_stack::paths::build_logs().join(format!("{stream}.log")))
            .unwrap();
    let printed: Vec<&str> = kept
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("::"))
        .collect();
    let paged_text: Vec<&str> = paged
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(printed.len() > 50, "{kept}");
    if let Some(i) =
        (0..paged_text.len().max(printed.len())).find(|i| paged_text.get(*i) != printed.get(*i))
    {
        let window = |v: &[&str]| v[i.saturating_sub(2)..(i + 3).min(v.len())].join("\n");
        panic!(
            "the paged log differs from what the build printed at line {i} (paged {}, printed {}):\n--- paged\n{}\n--- printed\n{}",
            paged_text.len(),
            printed.len(),
            window(&paged_text),
            window(&printed)
        );
    }
    assert!(
        paged.iter().any(|l| l.starts_with("Apply complete!")),
        "{paged:?}"
    );

    let destroy = api(&s)
        .submit("DESTROY_WORKER", json!({"name": "watched"}))
        .await
        .unwrap();
    let destroyed = finish(&s, destroy["id"].as_str().unwrap()).await;
    assert_eq!(destroyed["status"], "SUCCESS", "{destroyed}");
    let tf = step(&destroyed, "TerraformDestroy").unwrap();
    assert_eq!(
        tf["build"]["plan"],
        json!({"add": 0, "change": 0, "destroy": 9}),
        "{tf}"
    );
    s.stop().await;
}
