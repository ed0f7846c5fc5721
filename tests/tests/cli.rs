//! The AWS CLI, pointed at the stack's Step Functions endpoint, lists the
//! execution named by a job's id and shows its history.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
use e2e::{api, finish, stack};
use serde_json::{Value, json};

fn aws_cli() -> std::path::PathBuf {
    local_stack::paths::venv_bin("aws").unwrap_or_else(|e| panic!("{e}"))
}

async fn cli(s: &local_stack::stack::LocalStack, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(aws_cli())
        .args([
            "--endpoint-url",
            &s.sfn_url,
            "--output",
            "json",
            "stepfunctions",
        ])
        .args(args)
        .envs(s.env())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_lists_the_execution_named_by_the_job_id_and_shows_its_history() {
    let s = stack().await;
    api(&s)
        .expect(201, reqwest::Method::PUT, "/api/cloud-identities/acme", Some(json!({"role_arn": "arn:aws:iam::111111111111:role/Discovery", "regions": ["us-east-1"]})), None)
        .await
        .unwrap();
    let job = api(&s)
        .submit("FETCH_RESOURCES", json!({"cloud_identity_id": "acme"}))
        .await
        .unwrap();
    let job_id = job["id"].as_str().unwrap().to_string();
    let done = finish(&s, &job_id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");

    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:fetch_resources";
    let listed = cli(&s, &["list-executions", "--state-machine-arn", machine]).await;
    let names: Vec<&str> = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [job_id.as_str()]);
    let arn = listed["executions"][0]["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(listed["executions"][0]["status"], "SUCCEEDED");
    let described = cli(&s, &["describe-execution", "--execution-arn", &arn]).await;
    assert_eq!(described["name"], job_id.as_str());
    let history = cli(&s, &["get-execution-history", "--execution-arn", &arn]).await;
    let entered: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TaskStateEntered")
        .map(|e| e["stateEnteredEventDetails"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        entered,
        ["MarkRunning", "DiscoverResources", "ReportSuccess"]
    );
    s.stop().await;
}
