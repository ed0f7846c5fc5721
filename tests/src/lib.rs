//! Helpers for the end-to-end tests: a stack per test, a fault-injecting
//! proxy in front of the emulator, log capture, and small API helpers.

pub mod logs;
pub mod proxy;

use std::time::Duration;

use local_stack::api_client::Api;
use local_stack::stack::{LocalStack, StackOptions};
use serde_json::Value;

pub use local_stack;

/// Starts a stack whose Wait and Retry back-offs run 200 times faster.
pub async fn stack() -> LocalStack {
    stack_with(StackOptions {
        clock_speedup: 200.0,
        ..StackOptions::default()
    })
    .await
}

pub async fn stack_with(options: StackOptions) -> LocalStack {
    match LocalStack::start(options).await {
        Ok(s) => s,
        Err(e) => panic!("the local stack did not start: {e}"),
    }
}

pub fn api(stack: &LocalStack) -> Api {
    Api::new(&stack.api_url)
}

/// A stack whose AWS traffic goes through a fault-injecting proxy in front
/// of its own emulator; `options` say the rest (the endpoint is the proxy's).
pub async fn proxied(
    options: StackOptions,
) -> (local_stack::moto::MotoServer, proxy::FaultProxy, LocalStack) {
    let moto = match local_stack::moto::MotoServer::start().await {
        Ok(m) => m,
        Err(e) => panic!("moto did not start: {e}"),
    };
    let proxy = proxy::FaultProxy::start(&moto.endpoint()).await;
    let s = stack_with(StackOptions {
        aws_endpoint: Some(proxy.endpoint()),
        ..options
    })
    .await;
    (moto, proxy, s)
}

/// Waits for a job to end.
pub async fn finish(stack: &LocalStack, job_id: &str) -> Value {
    match api(stack)
        .follow(job_id, false, Duration::from_secs(600))
        .await
    {
        Ok(j) => j,
        Err(e) => panic!("job {job_id} did not finish: {e}"),
    }
}

/// Every execution of every state machine (name, status).
pub async fn executions(stack: &LocalStack) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for machine in [
        "connection_test",
        "fetch_resources",
        "deploy_worker",
        "destroy_worker",
    ] {
        let arn = stack.sfn.state_machine_arn(machine);
        let listed = stack
            .sfn
            .list_executions(&serde_json::json!({"stateMachineArn": arn, "maxResults": 1000}))
            .unwrap_or_default();
        for e in listed["executions"].as_array().cloned().unwrap_or_default() {
            out.push((
                e["name"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// Number of items in a table.
pub async fn item_count(stack: &LocalStack, table: &str) -> usize {
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut n = 0;
    let mut start = None;
    loop {
        let resp = client
            .scan()
            .table_name(stack.names.name(table))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scanning {table}: {e}"));
        n += resp.items.map(|i| i.len()).unwrap_or(0);
        match resp.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return n,
        }
    }
}

/// Full execution history as JSON text (with execution data).
pub fn history_text(stack: &LocalStack, job_id: &str, machine: &str) -> String {
    let arn = format!("arn:aws:states:us-east-1:123456789012:execution:{machine}:{job_id}");
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = serde_json::json!({"executionArn": arn, "maxResults": 1000});
        if let Some(t) = &token {
            req["nextToken"] = serde_json::json!(t);
        }
        let page = stack
            .sfn
            .get_execution_history(&req)
            .unwrap_or_else(|e| panic!("history of {job_id}: {e}"));
        all.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Value::Array(all).to_string()
}

/// Jobs that have not ended (QUEUED or RUNNING), as (id, status).
pub async fn unfinished_jobs(stack: &LocalStack) -> Vec<(String, String)> {
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let resp = client
            .scan()
            .table_name(stack.names.name("jobs"))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scanning jobs: {e}"));
        for item in resp.items.unwrap_or_default() {
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let status = text("status");
            if status == "QUEUED" || status == "RUNNING" {
                out.push((text("id"), status));
            }
        }
        match resp.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// Every line of a job's build step, through the log route's pages.
pub async fn log_lines(s: &LocalStack, id: &str, step: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut query = format!("?step={step}&limit=50");
    for _ in 0..1000 {
        let path = format!("/api/jobs/{id}/logs{query}");
        let page = match api(s)
            .expect(200, reqwest::Method::GET, &path, None, None)
            .await
        {
            Ok(p) => p,
            Err(e) => panic!("GET {path}: {e}"),
        };
        for line in page["lines"].as_array().cloned().unwrap_or_default() {
            lines.push(line.as_str().unwrap_or_default().to_string());
        }
        match page["next_token"].as_str() {
            Some(t) => query = format!("?step={step}&limit=50&next_token={t}"),
            None => return lines,
        }
    }
    panic!("the log of {step} never ended");
}

/// A stack whose Google and Azure endpoints are the demo fakes (`n` of each
/// resource type, `page_size` per page).
pub async fn with_other_clouds(
    n: usize,
    page_size: usize,
) -> (
    local_stack::cloud_fakes::GoogleFake,
    local_stack::cloud_fakes::AzureFake,
    LocalStack,
) {
    use local_stack::cloud_fakes::demo;
    let (google, azure) = match demo::start(n, page_size).await {
        Ok(f) => f,
        Err(e) => panic!("the cloud fakes did not start: {e}"),
    };
    let s = stack_with(StackOptions {
        clock_speedup: 200.0,
        gcp: demo::gcp_endpoints(&google),
        azure: demo::azure_endpoints(&azure),
        ..StackOptions::default()
    })
    .await;
    (google, azure, s)
}

/// Every item of every table of the stack, as text (to look for what must
/// not be stored).
pub async fn tables_text(stack: &LocalStack) -> String {
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let tables = client
        .list_tables()
        .send()
        .await
        .unwrap_or_else(|e| panic!("listing tables: {e}"))
        .table_names
        .unwrap_or_default();
    let mut out = String::new();
    for table in tables {
        let mut start = None;
        loop {
            let resp = client
                .scan()
                .table_name(&table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap_or_else(|e| panic!("scanning {table}: {e}"));
            out.push_str(&format!("{:?}", resp.items.unwrap_or_default()));
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
    }
    out
}
