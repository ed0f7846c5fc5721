//! `sfn-local-bench`: throughput and memory of the engine (a benchmark,
//! not a timed test: it prints figures and never fails on them).
//!
//! ```text
//! cargo run --release -p sfn-local --bin sfn-local-bench [-- --runs 5]
//! ```
//!
//! (a) one execution of a 10,000-item Map whose iterations are Pass states;
//! (b) a Choice/Pass loop of about 100,000 transitions (a counter
//!     incremented with `States.MathAdd` in a Pass state, a Choice comparing
//!     it);
//! (c) memory: many small executions in batches with a retention limit,
//!     reading VmRSS after each batch.
//!
//! A transition is a state entered (every `*StateEntered` history event).
//! Each figure is the median of several runs. These runs exceed AWS's
//! 25,000-event history limit, so the service is built with
//! `max_history_events(None)`.

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use sfn_local::service::Status;
use sfn_local::{Builder, StepFunctions};

const GOAL_TRANSITIONS_PER_SECOND: f64 = 50_000.0;
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sfn-local-bench";

#[derive(Parser, Debug)]
#[command(
    name = "sfn-local-bench",
    about = "Transitions per second and memory of the sfn-local engine"
)]
struct Args {
    /// Runs per throughput figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Items of the Map benchmark.
    #[arg(long, default_value_t = 10_000)]
    map_items: usize,
    /// Loop iterations of the Choice/Pass benchmark (two transitions each).
    #[arg(long, default_value_t = 50_000)]
    loop_iterations: usize,
    /// Executions started in the memory benchmark.
    #[arg(long, default_value_t = 20_000)]
    executions: usize,
    /// Executions per batch in the memory benchmark.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Finished executions the service retains in the memory benchmark.
    #[arg(long, default_value_t = 1_000)]
    retain: usize,
    /// Run only these parts (a, b, c); all when not given.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

fn map_definition() -> String {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 0,
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}},
                "End": true
            }
        }
    })
    .to_string()
}

fn loop_definition(iterations: usize) -> String {
    json!({
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThan": iterations, "Next": "Increment"}],
                "Default": "Done"
            },
            "Increment": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"}
        }
    })
    .to_string()
}

fn small_definition() -> String {
    json!({
        "StartAt": "Greet",
        "States": {
            "Greet": {"Type": "Pass", "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.who)"}, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
    .to_string()
}

fn create(service: &StepFunctions, name: &str, definition: &str) -> Result<String, String> {
    let out = service
        .create_state_machine(&json!({"name": name, "definition": definition, "roleArn": ROLE_ARN}))
        .map_err(|e| format!("creating {name}: {e}"))?;
    out["stateMachineArn"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no stateMachineArn".to_string())
}

async fn start(service: &StepFunctions, machine: &str, input: &Value) -> Result<String, String> {
    let out = service
        .start_execution(&json!({"stateMachineArn": machine, "input": input.to_string()}))
        .map_err(|e| format!("starting {machine}: {e}"))?;
    out["executionArn"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no executionArn".to_string())
}

/// Runs one execution and answers (transitions, elapsed).
async fn timed_run(
    service: &StepFunctions,
    machine: &str,
    input: &Value,
) -> Result<(usize, Duration), String> {
    let began = Instant::now();
    let arn = start(service, machine, input).await?;
    let execution = service.execution(&arn).map_err(|e| e.to_string())?;
    let state = execution.wait().await;
    let elapsed = began.elapsed();
    if state.status != Status::Succeeded {
        return Err(format!(
            "{arn} ended {:?}: {:?} {:?}",
            state.status, state.error, state.cause
        ));
    }
    let transitions = execution
        .history
        .snapshot()
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .count();
    Ok((transitions, elapsed))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

async fn throughput(
    label: &str,
    service: &StepFunctions,
    machine: &str,
    input: &Value,
    runs: usize,
) -> Result<f64, String> {
    let mut rates = Vec::with_capacity(runs);
    let mut transitions = 0;
    for run in 1..=runs.max(1) {
        let (t, elapsed) = timed_run(service, machine, input).await?;
        transitions = t;
        let rate = t as f64 / elapsed.as_secs_f64();
        println!(
            "  run {run}: {t} transitions in {:.3} s = {rate:.0} transitions/s",
            elapsed.as_secs_f64()
        );
        rates.push(rate);
    }
    let m = median(&mut rates);
    println!(
        "{label}: median {m:.0} transitions/s over {} runs ({transitions} transitions each); {:.2}x the goal of {GOAL_TRANSITIONS_PER_SECOND:.0}/s",
        rates.len(),
        m / GOAL_TRANSITIONS_PER_SECOND
    );
    Ok(m)
}

fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn memory(args: &Args) -> Result<(), String> {
    let service = Builder::new().max_retained_executions(args.retain).build();
    let machine = create(&service, "small", &small_definition())?;
    let input = json!({"who": "bench"});
    let batches = args.executions.div_ceil(args.batch.max(1));
    println!(
        "(c) memory: {} small executions in {batches} batches of {}, max_retained_executions = {}",
        args.executions, args.batch, args.retain
    );
    let before = vm_rss_kib().unwrap_or(0);
    println!("  before:    VmRSS {:>7.1} MiB", before as f64 / 1024.0);
    let mut readings = Vec::with_capacity(batches);
    let mut started = 0;
    for batch in 1..=batches {
        let mut arns = Vec::with_capacity(args.batch);
        while arns.len() < args.batch && started < args.executions {
            arns.push(start(&service, &machine, &input).await?);
            started += 1;
        }
        for arn in &arns {
            let execution = service.execution(arn).map_err(|e| e.to_string())?;
            let state = execution.wait().await;
            if state.status != Status::Succeeded {
                return Err(format!("{arn} ended {:?}", state.status));
            }
        }
        let rss = vm_rss_kib().unwrap_or(0);
        readings.push(rss);
        println!(
            "  batch {batch:>3}: {started:>6} executions started, {:>5} retained, VmRSS {:>7.1} MiB",
            service.retained_executions(),
            rss as f64 / 1024.0
        );
    }
    // Once the retention limit is reached, the resident size should stop
    // growing with the number of finished executions: the growth after that
    // point should be small against what the retained executions cost.
    let settle = args.retain.div_ceil(args.batch.max(1)).max(1);
    if readings.len() > settle + 1 {
        let at_limit = readings[settle - 1];
        let end = readings[readings.len() - 1];
        let retained_cost = at_limit.saturating_sub(before);
        let later = (readings.len() - settle) * args.batch;
        let growth = end as f64 - at_limit as f64;
        println!(
            "  {} retained executions cost {:.1} MiB ({:.0} bytes each, history included)",
            args.retain.min(args.executions),
            retained_cost as f64 / 1024.0,
            retained_cost as f64 * 1024.0 / args.retain.max(1) as f64
        );
        println!(
            "  after the limit was reached (batch {settle}), {later} more executions finished: VmRSS {:.1} MiB -> {:.1} MiB ({:+.1} MiB)",
            at_limit as f64 / 1024.0,
            end as f64 / 1024.0,
            growth / 1024.0
        );
        let plateau = growth <= 0.1 * retained_cost as f64 + 4096.0;
        println!(
            "  memory {}: retained executions stay at {} (limit {})",
            if plateau { "plateaus" } else { "GROWS" },
            service.retained_executions(),
            args.retain
        );
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    println!(
        "sfn-local-bench: {} run(s) per figure; history limit lifted (max_history_events(None)): these executions exceed AWS's 25,000-event limit",
        args.runs
    );
    // Memory first, so that its readings are not mixed with the (much
    // larger) histories of the throughput runs.
    if args.wants("c") {
        memory(&args).await?;
    }
    let service = Builder::new().max_history_events(None).build();

    let mut a = None;
    if args.wants("a") {
        let map_machine = create(&service, "map-bench", &map_definition())?;
        let items: Vec<usize> = (0..args.map_items).collect();
        println!(
            "(a) one Map execution over {} items, each iteration a Pass state",
            args.map_items
        );
        a = Some(
            throughput(
                "(a) Map",
                &service,
                &map_machine,
                &json!({"items": items}),
                args.runs,
            )
            .await?,
        );
    }
    let mut b = None;
    if args.wants("b") {
        let loop_machine = create(
            &service,
            "loop-bench",
            &loop_definition(args.loop_iterations),
        )?;
        println!(
            "(b) one Choice/Pass loop execution: {} iterations of Check (Choice) + Increment (Pass with States.MathAdd)",
            args.loop_iterations
        );
        b = Some(
            throughput(
                "(b) Choice/Pass loop",
                &service,
                &loop_machine,
                &json!({}),
                args.runs,
            )
            .await?,
        );
    }

    let verdict = |rate: f64| {
        if rate >= GOAL_TRANSITIONS_PER_SECOND {
            "meets"
        } else {
            "MISSES"
        }
    };
    for (label, rate) in [("(a) Map", a), ("(b) Choice/Pass loop", b)] {
        if let Some(rate) = rate {
            println!(
                "summary: {label}: {rate:.0} transitions/s {} the goal of {GOAL_TRANSITIONS_PER_SECOND:.0} ({:.2}x)",
                verdict(rate),
                rate / GOAL_TRANSITIONS_PER_SECOND
            );
        }
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sfn-local-bench: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("sfn-local-bench: {e}");
        std::process::exit(1);
    }
}
