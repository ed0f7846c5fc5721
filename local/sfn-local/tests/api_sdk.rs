//! The Step Functions API server driven by `aws-sdk-sfn`, exactly as the
//! project's own code drives AWS: only the endpoint URL differs. Expected
//! shapes and error codes come from the AWS Step Functions API reference
//! (the page of each operation). Real network I/O on 127.0.0.1, so these
//! tests run on real time; the executions they wait for finish at once, and
//! the long-running one is stopped rather than waited for.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEvent, HistoryEventType, StateMachineStatus, StateMachineType,
};
use serde_json::{Value, json};
use sfn_local::Builder;
use sfn_local::server::{ServerHandle, serve};

use common::{ROLE_ARN, testdata};

async fn start_server() -> (ServerHandle, Client) {
    let service = Builder::new().build();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = serve(service, addr).await.unwrap();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sfn-local-tests",
        ))
        .load()
        .await;
    (server, Client::new(&config))
}

/// Polls DescribeExecution until the execution has left RUNNING.
async fn wait_done(
    client: &Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..10_000 {
        let out = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if out.status() != &ExecutionStatus::Running {
            return out;
        }
        tokio::task::yield_now().await;
    }
    panic!("{arn} did not finish");
}

/// Every page of GetExecutionHistory, following nextToken.
async fn full_history(
    client: &Client,
    arn: &str,
    page: i32,
    reverse: bool,
) -> (Vec<HistoryEvent>, usize) {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = client
            .get_execution_history()
            .execution_arn(arn)
            .max_results(page)
            .reverse_order(reverse)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.events().len() <= page as usize);
        events.extend(out.events().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return (events, pages);
        }
    }
}

/// API reference: CreateStateMachine, DescribeStateMachine,
/// ListStateMachines, StartExecution, DescribeExecution,
/// GetExecutionHistory (maxResults, nextToken, reverseOrder), ListExecutions
/// (statusFilter), StopExecution, DeleteStateMachine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_drives_create_start_describe_history_stop_delete() {
    let (server, client) = start_server().await;

    let definition = testdata("hello");
    let created = client
        .create_state_machine()
        .name("hello")
        .definition(&definition)
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap();
    let machine = created.state_machine_arn().to_string();
    assert_eq!(
        machine,
        "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
    );

    let described = client
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), "hello");
    assert_eq!(described.definition(), definition);
    assert_eq!(described.role_arn(), ROLE_ARN);
    assert_eq!(described.status(), Some(&StateMachineStatus::Active));
    assert_eq!(described.r#type(), &StateMachineType::Standard);

    let listed = client.list_state_machines().send().await.unwrap();
    let names: Vec<&str> = listed.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["hello"]);

    let started = client
        .start_execution()
        .state_machine_arn(&machine)
        .name("exec-1")
        .input(json!({"who": "world"}).to_string())
        .send()
        .await
        .unwrap();
    let exec = started.execution_arn().to_string();
    assert_eq!(
        exec,
        "arn:aws:states:us-east-1:123456789012:execution:hello:exec-1"
    );

    let done = wait_done(&client, &exec).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(done.name(), Some("exec-1"));
    assert_eq!(done.state_machine_arn(), machine);
    let output: Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(output, json!({"greeting": "Hello, world!"}));
    assert!(done.stop_date().is_some());

    // History, two events a page, forwards and backwards.
    let (events, pages) = full_history(&client, &exec, 2, false).await;
    let types: Vec<HistoryEventType> = events.iter().map(|e| e.r#type().clone()).collect();
    assert_eq!(
        types,
        [
            HistoryEventType::ExecutionStarted,
            HistoryEventType::PassStateEntered,
            HistoryEventType::PassStateExited,
            HistoryEventType::SucceedStateEntered,
            HistoryEventType::SucceedStateExited,
            HistoryEventType::ExecutionSucceeded,
        ]
    );
    assert_eq!(pages, 3);
    let ids: Vec<i64> = events.iter().map(|e| e.id()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let prev: Vec<i64> = events.iter().map(|e| e.previous_event_id()).collect();
    assert_eq!(prev, [0, 1, 2, 3, 4, 5]);
    let started_details = events[0].execution_started_event_details().unwrap();
    assert_eq!(
        started_details.input(),
        Some(json!({"who": "world"}).to_string().as_str())
    );
    assert_eq!(started_details.role_arn(), Some(ROLE_ARN));
    assert_eq!(
        events[1].state_entered_event_details().unwrap().name(),
        "Greet"
    );
    let (reversed, _) = full_history(&client, &exec, 4, true).await;
    let ids: Vec<i64> = reversed.iter().map(|e| e.id()).collect();
    assert_eq!(ids, [6, 5, 4, 3, 2, 1]);

    // A long-running execution: RUNNING until stopped, then ABORTED.
    let long = client
        .create_state_machine()
        .name("long-wait")
        .definition(testdata("long_wait"))
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let running = client
        .start_execution()
        .state_machine_arn(&long)
        .name("waits-an-hour")
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();
    let listed = client
        .list_executions()
        .state_machine_arn(&long)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .executions()
        .iter()
        .map(|e| e.execution_arn())
        .collect();
    assert_eq!(arns, [running.as_str()]);
    client
        .stop_execution()
        .execution_arn(&running)
        .error("Operator.Stop")
        .cause("not needed")
        .send()
        .await
        .unwrap();
    let stopped = client
        .describe_execution()
        .execution_arn(&running)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), &ExecutionStatus::Aborted);
    assert_eq!(stopped.error(), Some("Operator.Stop"));
    assert_eq!(stopped.cause(), Some("not needed"));
    let (events, _) = full_history(&client, &running, 100, true).await;
    assert_eq!(events[0].r#type(), &HistoryEventType::ExecutionAborted);
    assert_eq!(
        events[0].execution_aborted_event_details().unwrap().error(),
        Some("Operator.Stop")
    );

    // ListExecutions with a status filter.
    for (status, expected) in [
        (ExecutionStatus::Succeeded, vec!["exec-1"]),
        (ExecutionStatus::Running, vec![]),
        (ExecutionStatus::Failed, vec![]),
    ] {
        let listed = client
            .list_executions()
            .state_machine_arn(&machine)
            .status_filter(status.clone())
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = listed.executions().iter().map(|e| e.name()).collect();
        assert_eq!(names, expected, "{status:?}");
    }
    let listed = client
        .list_executions()
        .state_machine_arn(&long)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions().len(), 1);

    // DeleteStateMachine; the machine is gone afterwards.
    client
        .delete_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    let err = client
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_state_machine_does_not_exist()),
        Some(true),
        "{err:?}"
    );
    let listed = client.list_state_machines().send().await.unwrap();
    let names: Vec<&str> = listed.state_machines().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["long-wait"]);

    server.shutdown().await;
}

/// API reference, "Errors" of each operation: the SDK maps each `__type` to
/// its typed error (InvalidDefinition, InvalidName, StateMachineDoesNotExist,
/// ExecutionDoesNotExist, ExecutionAlreadyExists, InvalidExecutionInput).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sees_aws_error_shapes() {
    let (server, client) = start_server().await;

    let bad =
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}).to_string();
    let err = client
        .create_state_machine()
        .name("broken")
        .definition(bad)
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap_err();
    let service_err = err.as_service_error().unwrap();
    assert!(service_err.is_invalid_definition(), "{err:?}");
    let message = service_err.message().unwrap_or_default();
    assert!(
        message.contains("/States/A/Next") && message.contains("Nowhere"),
        "{message}"
    );

    let err = client
        .create_state_machine()
        .name("has space")
        .definition(testdata("hello"))
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_invalid_name()),
        Some(true),
        "{err:?}"
    );

    let err = client
        .describe_state_machine()
        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_state_machine_does_not_exist()),
        Some(true),
        "{err:?}"
    );

    let err = client
        .start_execution()
        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_state_machine_does_not_exist()),
        Some(true),
        "{err:?}"
    );

    let err = client
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:nope:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_execution_does_not_exist()),
        Some(true),
        "{err:?}"
    );

    let long = client
        .create_state_machine()
        .name("long-wait")
        .definition(testdata("long_wait"))
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let first = client
        .start_execution()
        .state_machine_arn(&long)
        .name("job-1")
        .input("{\"a\":1}")
        .send()
        .await
        .unwrap();
    // Same name and input while running: the same execution (StartExecution).
    let again = client
        .start_execution()
        .state_machine_arn(&long)
        .name("job-1")
        .input("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(first.execution_arn(), again.execution_arn());
    let err = client
        .start_execution()
        .state_machine_arn(&long)
        .name("job-1")
        .input("{\"a\":2}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_execution_already_exists()),
        Some(true),
        "{err:?}"
    );

    let err = client
        .start_execution()
        .state_machine_arn(&long)
        .input("not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error()
            .map(|e| e.is_invalid_execution_input()),
        Some(true),
        "{err:?}"
    );

    let err = client
        .start_execution()
        .state_machine_arn(&long)
        .name("bad/name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().map(|e| e.is_invalid_name()),
        Some(true),
        "{err:?}"
    );

    client
        .stop_execution()
        .execution_arn(first.execution_arn())
        .send()
        .await
        .unwrap();
    server.shutdown().await;
}
