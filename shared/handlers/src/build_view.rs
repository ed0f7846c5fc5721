//! What a user sees of a job's Terraform builds through the job API: the
//! running build's id, log and plan (from the progress object the build
//! writes, until the step after it records them), and the build's output,
//! page by page (`GET /api/jobs/{id}/logs`), with secrets redacted.

use jobs_domain::ErrorKind;
use jobs_domain::job::{Job, StepRecord, StepStatus, is_job_id};
use jobs_domain::secret::redact;
use jobs_domain::terraform_build::BuildInfo;
use jobs_domain::worker::terraform_progress_key;
use serde_json::{Value, json};

use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::job_service::worker_of;

/// Lines per log page unless `limit` says otherwise, and at most.
const DEFAULT_LOG_LINES: usize = 200;
const MAX_LOG_LINES: usize = 1000;

fn is_build_step(step: &StepRecord) -> bool {
    step.name.starts_with("Terraform")
}

/// The build behind `step`: as recorded, or, while it runs, as its
/// progress object reports it. A missing or unreadable report is none.
async fn build_of(deps: &JobApiDeps, job: &Job, step: &StepRecord) -> Option<BuildInfo> {
    if step.build.is_some() {
        return step.build.clone();
    }
    if step.status != StepStatus::Running || !is_build_step(step) {
        return None;
    }
    let key = terraform_progress_key(worker_of(job)?, &job.id);
    match deps.build_reports.get(&key).await {
        Ok(bytes) => bytes.and_then(|b| BuildInfo::parse_progress(&b)),
        Err(e) => {
            tracing::warn!(job_id = %job.id, "cannot read the build's progress {key}: {e}");
            None
        }
    }
}

/// Adds what running builds report of themselves to a job's view. Only a
/// RUNNING build step costs a read, so a job's view costs one more read
/// only while a build runs.
pub async fn show_running_builds(deps: &JobApiDeps, job: &Job, view: &mut Value) {
    for (i, step) in job.steps.iter().enumerate() {
        if step.build.is_some() || step.status != StepStatus::Running || !is_build_step(step) {
            continue;
        }
        if let Some(info) = build_of(deps, job, step).await {
            view["steps"][i]["build"] = serde_json::to_value(info).unwrap_or(Value::Null);
        }
    }
}

fn bad(field: &str, message: String) -> ApiError {
    jobs_domain::FieldError::new(field, message).into()
}

/// `GET /api/jobs/{id}/logs?step=&next_token=&limit=`: a page of a build
/// step's output (the job's last build step unless `step` names one).
/// `next_token` is null once the step has ended and every line was read;
/// while it runs, an empty page with a token means "ask again later".
pub async fn job_logs(deps: &JobApiDeps, req: &Request, owner: &str, id: &str) -> ApiResult {
    let q = req.query_params(&["step", "next_token", "limit"])?;
    if !is_job_id(id) {
        return Err(ApiError::not_found(format!(
            "job {id:?} does not exist (job ids look like job-<32 hex digits>)"
        )));
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LOG_LINES,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LOG_LINES).contains(n))
            .ok_or_else(|| {
                bad(
                    "limit",
                    format!("{l:?} is not a number from 1 to {MAX_LOG_LINES}"),
                )
            })?,
    };
    let token = q.get("next_token").map(String::as_str);
    if let Some(t) = token
        && (t.is_empty()
            || t.len() > 512
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/+=_-".contains(c)))
    {
        return Err(bad(
            "next_token",
            format!("{t:?} is not a next_token this API gave"),
        ));
    }
    let job = deps
        .jobs
        .get(id)
        .await?
        .filter(|job| job.owner == owner)
        .ok_or_else(|| ApiError::not_found(format!("job {id} does not exist")))?;
    let step = match q.get("step") {
        Some(name) => job
            .steps
            .iter()
            .find(|s| &s.name == name)
            .ok_or_else(|| ApiError::not_found(format!("job {id} has no step {name:?}")))?,
        None => job
            .steps
            .iter()
            .rev()
            .find(|s| is_build_step(s))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "job {id} has no build step yet: only Terraform builds have a log"
                ))
            })?,
    };
    let build = build_of(deps, &job, step).await;
    let Some((build_id, group, stream)) =
        build.and_then(|b| Some((b.id, b.log_group?, b.log_stream?)))
    else {
        let why = if is_build_step(step) {
            "its build has not reported where its log is yet"
        } else {
            "only Terraform builds have a log"
        };
        return Err(ApiError::not_found(format!(
            "step {} of job {id} has no log: {why}",
            step.name
        )));
    };
    let page = deps
        .build_logs
        .page(&group, &stream, token, limit)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::InvalidInput => bad("next_token", e.message),
            _ => ApiError::from(e),
        })?;
    let ended = step.status != StepStatus::Running;
    let next_token = if page.lines.is_empty() && ended {
        Value::Null
    } else {
        json!(page.next_token)
    };
    let lines: Vec<String> = page.lines.iter().map(|l| redact(l)).collect();
    Ok(Response::json(
        200,
        json!({
            "job_id": job.id,
            "step": step.name,
            "build_id": build_id,
            "log_group": group,
            "log_stream": stream,
            "lines": lines,
            "next_token": next_token,
        }),
    ))
}
