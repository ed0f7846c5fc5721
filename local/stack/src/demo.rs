//! The demo: what the README's first command shows. It drives the system
//! only through its HTTP API, as a platform engineer would, and prints the
//! job's progress as its steps move.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api_client::Api;
use crate::seed::{SeedSpec, seed};
use crate::stack::LocalStack;
use crate::{LocalError, Result};

fn count(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(0)
}

/// CONNECTION_TEST against an emulated customer account.
pub async fn connection_test(stack: &LocalStack) -> Result<Value> {
    let api = Api::new(&stack.api_url);
    println!("\n== CONNECTION_TEST ==");
    let identity_id = "acme-prod";
    let role_arn = SeedSpec::demo("").role_arn();
    let identity = api
        .expect(201, reqwest::Method::PUT, &format!("/api/cloud-identities/{identity_id}"), Some(json!({"provider": "aws", "role_arn": role_arn, "regions": ["us-east-1", "eu-west-1"]})), None)
        .await?;
    let external_id = identity["external_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    println!(
        "PUT /api/cloud-identities/{identity_id}: role {role_arn}, the platform issued ExternalId {external_id}"
    );

    let spec = SeedSpec::demo(&external_id);
    print!(
        "Seeding the emulated customer account {} (the customer creates the role with that ExternalId) ... ",
        spec.account
    );
    let seeded = seed(&stack.sdk, &spec).await?;
    println!(
        "{} VPCs, {} subnets, {} security groups in {}; {} hosted zones; {} IAM users",
        seeded.vpcs,
        seeded.subnets,
        seeded.security_groups,
        spec.regions.join(" and "),
        seeded.hosted_zones,
        seeded.iam_users
    );

    let job = api
        .submit("CONNECTION_TEST", json!({"cloud_identity_id": identity_id}))
        .await?;
    let job_id = job["id"].as_str().unwrap_or_default().to_string();
    println!(
        "POST /api/jobs CONNECTION_TEST -> {job_id} (QUEUED); Step Functions execution named {job_id}:"
    );
    let done = api.follow(&job_id, true, Duration::from_secs(300)).await?;
    println!("Job {job_id}: {}", done["status"].as_str().unwrap_or("?"));
    println!(
        "Result: {}",
        serde_json::to_string_pretty(&done["result"]).unwrap_or_default()
    );
    if done["status"] != "SUCCESS" {
        return Err(LocalError::Http(format!(
            "CONNECTION_TEST ended {}: {}",
            done["status"], done["error"]
        )));
    }

    let cached = api
        .expect(
            200,
            reqwest::Method::GET,
            &format!("/api/cloud-identities/{identity_id}"),
            None,
            None,
        )
        .await?;
    println!(
        "\nCached on the identity (GET /api/cloud-identities/{identity_id}), fetched at {}:",
        cached["fetched_at"].as_str().unwrap_or("?")
    );
    let resources = &cached["resources"];
    for region in cached["regions"].as_array().cloned().unwrap_or_default() {
        let r = region.as_str().unwrap_or_default();
        println!(
            "  {r:<12} {:>3} VPCs  {:>3} subnets  {:>3} security groups",
            count(&resources["vpcs"][r]),
            count(&resources["subnets"][r]),
            count(&resources["security_groups"][r])
        );
    }
    println!(
        "  {:<12} {:>3} hosted zones  {:>3} IAM users",
        "global",
        count(&resources["hosted_zones"]),
        count(&resources["iam_users"])
    );
    let problems = count(&cached["summary"]["problems"]);
    if problems > 0 {
        println!(
            "  {problems} (type, region) pairs were not fully fetched: {}",
            cached["summary"]["problems"]
        );
    }
    println!(
        "  (the emulator gives every region a default VPC, its subnets and a default security group)"
    );
    Ok(done)
}

/// CONNECTION_TEST of a Google Cloud project and an Azure subscription. With
/// the fakes (`gcp_fake`, `azure_fake`) the demo's accounts exist; against
/// endpoints the operator set, they would not, and that provider is skipped.
pub async fn other_clouds(stack: &LocalStack, gcp_fake: bool, azure_fake: bool) -> Result<()> {
    use crate::cloud_fakes::demo as fakes;
    let api = Api::new(&stack.api_url);
    for (provider, id, body, fake, how) in [
        (
            "Google Cloud",
            "acme-gcp",
            fakes::gcp_identity(),
            gcp_fake,
            "the platform's AWS credentials sign a GetCallerIdentity request, Google STS exchanges it for a token, which impersonates the service account",
        ),
        (
            "Azure",
            "acme-azure",
            fakes::azure_identity(),
            azure_fake,
            "client credentials at Microsoft Entra ID (the secret read from the platform's secret), then Resource Manager",
        ),
    ] {
        println!(
            "
== CONNECTION_TEST, {provider} =="
        );
        if !fake {
            println!(
                "Skipped: the {provider} endpoints were set in the environment, and the demo's account exists only in the local fake."
            );
            continue;
        }
        println!(
            "{provider} is answered by a local fake (local_stack::cloud_fakes), with the provider's documented request and response shapes, 5 items per page."
        );
        api.expect(
            201,
            reqwest::Method::PUT,
            &format!("/api/cloud-identities/{id}"),
            Some(body),
            None,
        )
        .await?;
        println!("PUT /api/cloud-identities/{id} ({how})");
        let job = api
            .submit("CONNECTION_TEST", json!({"cloud_identity_id": id}))
            .await?;
        let job_id = job["id"].as_str().unwrap_or_default().to_string();
        let done = api.follow(&job_id, true, Duration::from_secs(120)).await?;
        println!("Job {job_id}: {}", done["status"].as_str().unwrap_or("?"));
        if done["status"] != "SUCCESS" {
            return Err(LocalError::Http(format!(
                "CONNECTION_TEST of {provider} ended {}: {}",
                done["status"], done["error"]
            )));
        }
        let cached = api
            .expect(
                200,
                reqwest::Method::GET,
                &format!("/api/cloud-identities/{id}?view=summary"),
                None,
                None,
            )
            .await?;
        let s = &cached["summary"];
        println!(
            "  {} as {}: {} networks, {} subnets, {} DNS zones across {}",
            done["result"]["identity"]["account"]
                .as_str()
                .unwrap_or("?"),
            done["result"]["identity"]["arn"].as_str().unwrap_or("?"),
            s["vpcs"],
            s["subnets"],
            s["hosted_zones"],
            done["result"]["discovery"]["regions"]
                .as_array()
                .map(|r| r
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn time_of(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
}

/// The seconds a job's own steps (every step but the Terraform builds)
/// took, and its wall time from its first step's start to its last step's
/// end.
pub fn step_overhead(job: &Value) -> Option<(f64, f64)> {
    let steps = job["steps"].as_array()?;
    let (mut own, mut first, mut last) = (0.0, None, None);
    for step in steps {
        let (a, b) = (time_of(&step["started_at"])?, time_of(&step["ended_at"])?);
        first = Some(first.map_or(a, |f: chrono::DateTime<_>| f.min(a)));
        last = Some(last.map_or(b, |l: chrono::DateTime<_>| l.max(b)));
        if !step["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Terraform")
        {
            own += (b - a).num_milliseconds() as f64 / 1000.0;
        }
    }
    Some((own, (last? - first?).num_milliseconds() as f64 / 1000.0))
}

/// Prints each step's wall time (the figures the README quotes), and the
/// share of the job's own steps in its wall time.
pub fn print_step_times(job: &Value) {
    if let Some((own, wall)) = step_overhead(job)
        && wall > 0.0
    {
        println!(
            "  its own steps (all but Terraform) took {own:.2} s of its {wall:.1} s ({:.1} %)",
            100.0 * own / wall
        );
    }
    for step in job["steps"].as_array().cloned().unwrap_or_default() {
        let secs = match (time_of(&step["started_at"]), time_of(&step["ended_at"])) {
            (Some(a), Some(b)) => format!("{:>6.1} s", (b - a).num_milliseconds() as f64 / 1000.0),
            _ => "      -".into(),
        };
        println!(
            "    {:<20} {:<9} {secs}",
            step["name"].as_str().unwrap_or("?"),
            step["status"].as_str().unwrap_or("?")
        );
    }
}

/// Submits a worker job, shows its steps as they move and their wall
/// times, and insists that it succeeds.
async fn run_worker_job(api: &Api, job_type: &str, params: Value, what: &str) -> Result<Value> {
    let job = api.submit(job_type, params).await?;
    let job_id = job["id"].as_str().unwrap_or_default().to_string();
    println!("POST /api/jobs {job_type} {what} -> {job_id}:");
    let done = api.follow(&job_id, true, Duration::from_secs(600)).await?;
    if done["status"] != "SUCCESS" {
        return Err(LocalError::Http(format!(
            "{job_type} ended {}: {}",
            done["status"], done["error"]
        )));
    }
    println!("  step wall times:");
    print_step_times(&done);
    Ok(done)
}

/// Claims jobs until the queue is empty; answers their ids.
async fn claim_all(runner: &crate::standin::RunnerEnv) -> Result<Vec<String>> {
    let mut claimed = Vec::new();
    while let Some(j) = runner.claim().await? {
        claimed.push(j["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(claimed)
}

/// Prints each job's status and requeue count, then `note`.
async fn print_jobs(api: &Api, ids: &[String], note: &str) -> Result<()> {
    for id in ids {
        let j = api
            .expect(
                200,
                reqwest::Method::GET,
                &format!("/api/jobs/{id}"),
                None,
                None,
            )
            .await?;
        println!(
            "  {id}: {} (requeues: {}){note}",
            j["status"].as_str().unwrap_or("?"),
            j["requeues"]
        );
    }
    Ok(())
}

/// DEPLOY_WORKER, the Runner coming ONLINE, jobs claimed, DESTROY_WORKER,
/// the jobs requeued, nothing left in the account.
pub async fn worker_lifecycle(stack: &LocalStack) -> Result<()> {
    let api = Api::new(&stack.api_url);
    let admin = stack.admin_token.expose().to_string();
    let name = "runner-demo-1";
    // Away from the functions' home region (us-east-1): every regional call
    // goes to the worker's region.
    let region = "eu-west-1";
    println!("\n== DEPLOY_WORKER ({region}) ==");
    let deployed = run_worker_job(
        &api,
        "DEPLOY_WORKER",
        json!({"name": name, "region": region, "cpu": 512, "memory": 1024}),
        &format!("{name} (Terraform runs for real against the emulator)"),
    )
    .await?;
    let worker = &deployed["result"]["worker"];
    let runner_id = worker["runner_id"].as_str().unwrap_or_default().to_string();
    println!(
        "Worker {name} registered as {runner_id}; task definition {}",
        worker["task_definition_arn"].as_str().unwrap_or("?")
    );

    println!(
        "\nThe emulator runs no containers, so this demo stands in for the Runner's task: it reads WORKER_ID and"
    );
    println!(
        "WORKER_TOKEN the way ECS injects them (task definition secrets -> the worker's Secrets Manager secret) and heartbeats."
    );
    let runner = crate::standin::boot(
        &stack.sdk,
        worker["region"].as_str().unwrap_or(region),
        worker["cluster_arn"].as_str().unwrap_or_default(),
        worker["service_name"].as_str().unwrap_or_default(),
    )
    .await?;
    let before = api
        .expect(
            200,
            reqwest::Method::GET,
            &format!("/api/runners/{runner_id}"),
            None,
            Some(&admin),
        )
        .await?;
    runner.heartbeat().await?;
    let after = api
        .expect(
            200,
            reqwest::Method::GET,
            &format!("/api/runners/{runner_id}"),
            None,
            Some(&admin),
        )
        .await?;
    println!(
        "GET /api/runners/{runner_id}: {} before the first heartbeat, {} after",
        before["status"], after["status"]
    );

    println!("\n== Runner jobs ==");
    let mut queued = Vec::new();
    for i in 1..=3 {
        let j = api
            .submit(
                "RUNNER_JOB",
                json!({"payload": {"script": format!("build-{i}")}}),
            )
            .await?;
        queued.push(j["id"].as_str().unwrap_or_default().to_string());
    }
    let claimed = claim_all(&runner).await?;
    println!(
        "3 RUNNER_JOBs queued; {runner_id} claimed {} of them: {}",
        claimed.len(),
        claimed.join(", ")
    );
    if let Some(first) = claimed.first() {
        runner.complete(first, "SUCCESS").await?;
        println!("{runner_id} completed {first}; it holds the other two while it heartbeats.");
    }

    println!("\n== UPDATE_WORKER (to the latest release) ==");
    let updated = run_worker_job(
        &api,
        "UPDATE_WORKER",
        json!({ "name": name }),
        &format!("{name} to the platform's latest Runner release"),
    )
    .await?;
    println!(
        "The service runs a new deployment of {} (the release tag resolved to its digest); the runner keeps its id and token.",
        updated["result"]["image"].as_str().unwrap_or("?")
    );
    print_jobs(
        &api,
        claimed.get(1..).unwrap_or_default(),
        ": the replaced task held it, so it went back to the queue",
    )
    .await?;
    runner.heartbeat().await?;
    let reclaimed = claim_all(&runner).await?;
    println!("The new task claimed them again: {}", reclaimed.join(", "));

    println!("\n== DESTROY_WORKER ==");
    run_worker_job(&api, "DESTROY_WORKER", json!({"name": name}), name).await?;
    println!(
        "The registration is removed and the runner's unfinished jobs are back in the queue for the pool's other runners:"
    );
    print_jobs(&api, &claimed, "").await?;
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/runners/{runner_id}"),
            None,
            Some(&admin),
        )
        .await?;
    println!("GET /api/runners/{runner_id}: {status} (registration removed)");
    let left = crate::leftovers::find(&stack.sdk, region, name).await?;
    if left.is_empty() {
        println!(
            "The emulated account holds nothing of {name}: no ECS cluster, service or active task definition, IAM role, log group, security group or secret."
        );
    } else {
        println!("Left behind: {left:?}");
        return Err(LocalError::Setup(format!(
            "{} resources of {name} remain",
            left.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overhead_is_every_step_but_terraform_against_the_wall_time() {
        let job = json!({"steps": [
            {"name": "MarkRunning", "started_at": "2026-12-01T10:00:00.000000Z", "ended_at": "2026-12-01T10:00:00.100000Z"},
            {"name": "TerraformApply", "started_at": "2026-12-01T10:00:00.200000Z", "ended_at": "2026-12-01T10:00:20.200000Z"},
            {"name": "ReportSuccess", "started_at": "2026-12-01T10:00:20.300000Z", "ended_at": "2026-12-01T10:00:20.400000Z"}
        ]});
        let (own, wall) = step_overhead(&job).unwrap();
        assert!((own - 0.2).abs() < 1e-9, "{own}");
        assert!((wall - 20.4).abs() < 1e-9, "{wall}");
        assert_eq!(
            step_overhead(&json!({"steps": [{"name": "X", "started_at": "2026-12-01T10:00:00Z"}]})),
            None
        );
    }
}
