//! The Step Functions API server driven by the AWS CLI (awscli 1.x from
//! PyPI, `--endpoint-url`), and by raw HTTP requests that must never take it
//! down. Expected values: AWS Step Functions API reference (each operation's
//! page and "Common Errors"), AWS CLI reference for `aws stepfunctions`.
//!
//! The CLI is found through `AWS_CLI`, else at `<workspace>/.local/venv/bin/aws`.
//! A missing CLI fails the test (it is not skipped).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};
use sfn_local::Builder;
use sfn_local::server::{MAX_REQUEST_BYTES, ServerHandle, serve};

use common::{ROLE_ARN, aws_test_env, testdata_dir, workspace_root};

async fn start_server() -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    serve(Builder::new().build(), addr).await.unwrap()
}

fn aws_cli() -> PathBuf {
    let path = match std::env::var_os("AWS_CLI") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(".local/venv/bin/aws"),
    };
    assert!(
        path.is_file(),
        "the AWS CLI is not installed at {} (set AWS_CLI to another path). Install it with: \
         python3 -m venv .local/venv && .local/venv/bin/pip install 'awscli==1.46.2' \
         (from the workspace root)",
        path.display()
    );
    path
}

struct Cli {
    program: PathBuf,
    endpoint: String,
    home: tempfile::TempDir,
}

struct CliOutput {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(endpoint: String) -> Cli {
        Cli {
            program: aws_cli(),
            endpoint,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs `aws --endpoint-url … stepfunctions ARGS` (asynchronously, so the
    /// server keeps serving on this runtime).
    async fn raw(&self, args: &[&str]) -> CliOutput {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("--endpoint-url")
            .arg(&self.endpoint)
            .arg("--output")
            .arg("json")
            .arg("stepfunctions")
            .args(args)
            .env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("credentials"),
            )
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .kill_on_drop(true);
        for (k, v) in aws_test_env() {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        CliOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed and answers its JSON output.
    async fn json(&self, args: &[&str]) -> Value {
        let out = self.raw(args).await;
        assert_eq!(
            out.status, 0,
            "aws stepfunctions {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        if out.stdout.trim().is_empty() {
            return json!({});
        }
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
    }
}

/// AWS CLI `aws stepfunctions` (create-state-machine, describe-state-machine,
/// list-state-machines, start-execution, describe-execution,
/// get-execution-history with automatic pagination and --reverse-order,
/// list-executions --status-filter, stop-execution, delete-state-machine)
/// and the API reference's error codes as the CLI reports them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_create_start_describe_history_stop_delete() {
    let server = start_server().await;
    let cli = Cli::new(server.endpoint());
    let hello = format!("file://{}", testdata_dir().join("hello.asl.json").display());

    let created = cli
        .json(&[
            "create-state-machine",
            "--name",
            "hello",
            "--definition",
            &hello,
            "--role-arn",
            ROLE_ARN,
        ])
        .await;
    let machine = created["stateMachineArn"].as_str().unwrap().to_string();
    assert_eq!(
        machine,
        "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
    );

    let described = cli
        .json(&["describe-state-machine", "--state-machine-arn", &machine])
        .await;
    assert_eq!(described["name"], json!("hello"));
    assert_eq!(described["status"], json!("ACTIVE"));
    assert_eq!(described["roleArn"], json!(ROLE_ARN));
    let definition: Value =
        serde_json::from_str(described["definition"].as_str().unwrap()).unwrap();
    assert_eq!(definition["StartAt"], json!("Greet"));

    let listed = cli.json(&["list-state-machines"]).await;
    assert_eq!(
        listed["stateMachines"][0]["stateMachineArn"],
        json!(machine)
    );

    let input = json!({"who": "cli"}).to_string();
    let started = cli
        .json(&[
            "start-execution",
            "--state-machine-arn",
            &machine,
            "--name",
            "cli-1",
            "--input",
            &input,
        ])
        .await;
    let exec = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(
        exec,
        "arn:aws:states:us-east-1:123456789012:execution:hello:cli-1"
    );

    let mut described = json!({});
    for _ in 0..100 {
        described = cli
            .json(&["describe-execution", "--execution-arn", &exec])
            .await;
        if described["status"] != json!("RUNNING") {
            break;
        }
    }
    assert_eq!(described["status"], json!("SUCCEEDED"), "{described}");
    let output: Value = serde_json::from_str(described["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"greeting": "Hello, cli!"}));

    // --page-size 2 makes the CLI follow nextToken over three pages.
    let history = cli
        .json(&[
            "get-execution-history",
            "--execution-arn",
            &exec,
            "--page-size",
            "2",
        ])
        .await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let history = cli
        .json(&[
            "get-execution-history",
            "--execution-arn",
            &exec,
            "--reverse-order",
            "--max-results",
            "2",
            "--no-paginate",
        ])
        .await;
    let ids: Vec<i64> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [6, 5]);
    assert!(history["nextToken"].is_string(), "{history}");

    let listed = cli
        .json(&[
            "list-executions",
            "--state-machine-arn",
            &machine,
            "--status-filter",
            "SUCCEEDED",
        ])
        .await;
    assert_eq!(listed["executions"][0]["name"], json!("cli-1"));
    let listed = cli
        .json(&[
            "list-executions",
            "--state-machine-arn",
            &machine,
            "--status-filter",
            "RUNNING",
        ])
        .await;
    assert_eq!(listed["executions"], json!([]));

    // A long-running execution, stopped.
    let long_def = format!(
        "file://{}",
        testdata_dir().join("long_wait.asl.json").display()
    );
    let long = cli
        .json(&[
            "create-state-machine",
            "--name",
            "long-wait",
            "--definition",
            &long_def,
            "--role-arn",
            ROLE_ARN,
        ])
        .await["stateMachineArn"]
        .as_str()
        .unwrap()
        .to_string();
    let running = cli
        .json(&["start-execution", "--state-machine-arn", &long])
        .await["executionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = cli
        .json(&[
            "list-executions",
            "--state-machine-arn",
            &long,
            "--status-filter",
            "RUNNING",
        ])
        .await;
    assert_eq!(listed["executions"][0]["executionArn"], json!(running));
    let stopped = cli
        .json(&[
            "stop-execution",
            "--execution-arn",
            &running,
            "--error",
            "Operator.Stop",
            "--cause",
            "from the CLI",
        ])
        .await;
    assert!(stopped.get("stopDate").is_some(), "{stopped}");
    let described = cli
        .json(&["describe-execution", "--execution-arn", &running])
        .await;
    assert_eq!(described["status"], json!("ABORTED"));
    assert_eq!(described["error"], json!("Operator.Stop"));
    assert_eq!(described["cause"], json!("from the CLI"));

    // Errors, as the CLI reports them (exit status non-zero, the code named).
    let bad =
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}).to_string();
    let out = cli
        .raw(&[
            "create-state-machine",
            "--name",
            "broken",
            "--definition",
            &bad,
            "--role-arn",
            ROLE_ARN,
        ])
        .await;
    assert_ne!(out.status, 0);
    assert!(
        out.stderr.contains("(InvalidDefinition)") && out.stderr.contains("Nowhere"),
        "{}",
        out.stderr
    );
    let out = cli
        .raw(&[
            "describe-execution",
            "--execution-arn",
            "arn:aws:states:us-east-1:123456789012:execution:hello:nope",
        ])
        .await;
    assert_ne!(out.status, 0);
    assert!(
        out.stderr.contains("(ExecutionDoesNotExist)"),
        "{}",
        out.stderr
    );
    let out = cli
        .raw(&[
            "start-execution",
            "--state-machine-arn",
            &machine,
            "--name",
            "cli-1",
            "--input",
            &input,
        ])
        .await;
    assert!(
        out.stderr.contains("(ExecutionAlreadyExists)"),
        "{}",
        out.stderr
    );

    cli.json(&["delete-state-machine", "--state-machine-arn", &machine])
        .await;
    let out = cli
        .raw(&["describe-state-machine", "--state-machine-arn", &machine])
        .await;
    assert!(
        out.stderr.contains("(StateMachineDoesNotExist)"),
        "{}",
        out.stderr
    );

    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Bad input over raw HTTP

async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    target: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = client
        .post(endpoint)
        .header("Content-Type", "application/x-amz-json-1.0");
    if let Some(t) = target {
        req = req.header("X-Amz-Target", t);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The server still answers a well-formed request.
async fn still_serving(client: &reqwest::Client, endpoint: &str) {
    let (status, body) = post(
        client,
        endpoint,
        Some("AWSStepFunctions.ListStateMachines"),
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["stateMachines"].is_array(), "{body}");
}

/// API reference "Common Errors" (SerializationException,
/// UnknownOperationException, 413 for an oversized request) and the errors
/// of CreateStateMachine (InvalidDefinition: a definition is at most 1 MiB,
/// "Step Functions service quotas") and StartExecution
/// (InvalidExecutionInput: input at most 256 KiB; InvalidName): each bad
/// request gets AWS's error shape `{"__type", "message"}` with status 400
/// (413 for the body limit), and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_aws_error_shapes_and_never_takes_the_server_down() {
    let server = start_server().await;
    let endpoint = server.endpoint();
    let client = reqwest::Client::new();
    let create = Some("AWSStepFunctions.CreateStateMachine");
    let start = Some("AWSStepFunctions.StartExecution");

    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        ("malformed JSON", create, "{\"name\": ".to_string(), 400, "SerializationException"),
        ("a JSON array body", create, "[1, 2]".to_string(), 400, "SerializationException"),
        ("a missing target", None, "{}".to_string(), 400, "UnknownOperationException"),
        ("an unknown target", Some("AWSStepFunctions.DescribeEverything"), "{}".to_string(), 400, "UnknownOperationException"),
        ("a foreign target", Some("DynamoDB_20120810.ListTables"), "{}".to_string(), 400, "UnknownOperationException"),
        (
            "a definition over 1 MiB",
            create,
            json!({
                "name": "huge",
                "roleArn": ROLE_ARN,
                "definition": json!({"Comment": "x".repeat(1_100_000), "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}).to_string()
            })
            .to_string(),
            400,
            "InvalidDefinition",
        ),
        (
            "an invalid definition",
            create,
            json!({"name": "broken", "roleArn": ROLE_ARN, "definition": "{\"StartAt\": 1}"}).to_string(),
            400,
            "InvalidDefinition",
        ),
        (
            "an invalid state machine name",
            create,
            json!({"name": "a b", "roleArn": ROLE_ARN, "definition": std::fs::read_to_string(testdata_dir().join("hello.asl.json")).unwrap()}).to_string(),
            400,
            "InvalidName",
        ),
        ("a body over the server limit", create, "x".repeat(MAX_REQUEST_BYTES + 10), 413, "RequestEntityTooLargeException"),
    ];
    for (what, target, body, status, code) in cases {
        let (got_status, got) = post(&client, &endpoint, target, body).await;
        assert_eq!(got_status, status, "{what}: {got}");
        assert_eq!(got["__type"], json!(code), "{what}: {got}");
        assert!(
            got["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {got}"
        );
        still_serving(&client, &endpoint).await;
    }

    // StartExecution: oversized input and invalid execution names.
    let definition = std::fs::read_to_string(testdata_dir().join("hello.asl.json")).unwrap();
    let (s, created) = post(
        &client,
        &endpoint,
        create,
        json!({"name": "hello", "roleArn": ROLE_ARN, "definition": definition}).to_string(),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let machine = created["stateMachineArn"].as_str().unwrap();
    let big_input = json!({"who": "x".repeat(300_000)}).to_string();
    let start_cases: Vec<(&str, Value, &str)> = vec![
        (
            "input over 256 KiB",
            json!({"stateMachineArn": machine, "input": big_input}),
            "InvalidExecutionInput",
        ),
        (
            "input that is not JSON",
            json!({"stateMachineArn": machine, "input": "{"}),
            "InvalidExecutionInput",
        ),
        (
            "a name with a space",
            json!({"stateMachineArn": machine, "name": "a b"}),
            "InvalidName",
        ),
        (
            "a name with a slash",
            json!({"stateMachineArn": machine, "name": "a/b"}),
            "InvalidName",
        ),
        (
            "an 81-character name",
            json!({"stateMachineArn": machine, "name": "n".repeat(81)}),
            "InvalidName",
        ),
        (
            "an empty name",
            json!({"stateMachineArn": machine, "name": ""}),
            "InvalidName",
        ),
        (
            "a control character",
            json!({"stateMachineArn": machine, "name": "a\u{1}b"}),
            "InvalidName",
        ),
        (
            "an unknown machine",
            json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nope"}),
            "StateMachineDoesNotExist",
        ),
        (
            "a wrongly typed field",
            json!({"stateMachineArn": machine, "input": {"not": "a string"}}),
            "SerializationException",
        ),
    ];
    for (what, body, code) in start_cases {
        let (got_status, got) = post(&client, &endpoint, start, body.to_string()).await;
        assert_eq!(got_status, 400, "{what}: {got}");
        assert_eq!(got["__type"], json!(code), "{what}: {got}");
        still_serving(&client, &endpoint).await;
    }

    // A connection that sends garbage instead of HTTP does not hurt either.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"\x00\x01 this is not HTTP\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf).await;
    }
    still_serving(&client, &endpoint).await;
    server.shutdown().await;
}
