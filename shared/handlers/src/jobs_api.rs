//! The job API (function `job-api`): submit and read jobs, register cloud
//! identities and read their cached resources (the identity routes are in
//! [`crate::identities_api`]). Routes and shapes are
//! documented in `shared/handlers/openapi.yaml` (kept true by a test).
//!
//! Bad input is refused with a 4xx naming the field before anything is
//! written or started. Every request acts for one owner ([`crate::caller`]):
//! it sees and changes that owner's records only.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::Method;
use jobs_domain::job::{JobType, is_job_id};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Created, JobFilter};
use jobs_domain::validate::Fields;
use jobs_domain::worker::WorkerStatus;
use jobs_domain::{ErrorKind, FieldError};
use serde_json::json;

use crate::build_view;
use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response, respond};
use crate::identities_api as identities;
use crate::job_service::JobService;
use crate::submission::{accepted, create, idempotency_key, key_reused};

/// The entry point: one proxy event in, one proxy response out.
pub async fn handle(deps: &JobApiDeps, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let result = match Request::from_event(event) {
        Ok(req) => route(deps, &req).await,
        Err(e) => Err(e),
    };
    respond(result)
}

async fn route(deps: &JobApiDeps, req: &Request) -> ApiResult {
    let segments = req.segments();
    let owner = || deps.owner_source.owner(req);
    match (req.method.clone(), segments.as_slice()) {
        (Method::POST, ["api", "jobs"]) => submit(deps, req, &owner()?).await,
        (Method::GET, ["api", "jobs"]) => list_jobs(deps, req, &owner()?).await,
        (Method::GET, ["api", "jobs", id]) => get_job(deps, &owner()?, id).await,
        (Method::GET, ["api", "jobs", id, "logs"]) => {
            build_view::job_logs(deps, req, &owner()?, id).await
        }
        (Method::PUT, ["api", "cloud-identities", id]) => {
            identities::put_identity(deps, req, &owner()?, id).await
        }
        (Method::GET, ["api", "cloud-identities", id]) => {
            identities::get_identity(deps, req, &owner()?, id).await
        }
        (Method::POST, ["api", "cloud-identities", id, "refresh"]) => {
            identities::refresh(deps, req, &owner()?, id).await
        }
        (Method::GET, ["api", "cloud-identities", id, "resources"]) => {
            let owner = owner()?;
            identities::check_identity_id(id)?;
            crate::inventory_view::resources(deps, req, &owner, id).await
        }
        (_, ["api", "jobs"]) => Err(ApiError::method_not_allowed(req, "GET, POST")),
        (_, ["api", "jobs", _] | ["api", "jobs", _, "logs"]) => {
            Err(ApiError::method_not_allowed(req, "GET"))
        }
        (_, ["api", "cloud-identities", _]) => Err(ApiError::method_not_allowed(req, "GET, PUT")),
        (_, ["api", "cloud-identities", _, "refresh"]) => {
            Err(ApiError::method_not_allowed(req, "POST"))
        }
        (_, ["api", "cloud-identities", _, "resources"]) => {
            Err(ApiError::method_not_allowed(req, "GET"))
        }
        _ => Err(ApiError::not_found(format!(
            "no route for {} {}",
            req.method, req.path
        ))),
    }
}

/// Checks what a job refers to, so that a job that cannot run is refused
/// now (404 / 409) rather than failing later.
async fn check_references(
    deps: &JobApiDeps,
    owner: &str,
    params: &JobParams,
) -> Result<(), ApiError> {
    if let Some(id) = params.cloud_identity_id()
        && deps.identities.get(owner, id).await?.is_none()
    {
        return Err(ApiError {
            allow: None,
            status: 404,
            code: "NOT_FOUND",
            field: Some("params.cloud_identity_id".into()),
            message: format!(
                "cloud identity {id:?} does not exist (register it with PUT /api/cloud-identities/{id})"
            ),
        });
    }
    match params.worker_name() {
        Some(name) => check_worker(deps, owner, params, name).await,
        None => Ok(()),
    }
}

/// A lifecycle job's worker, from its deployment record and its run queue
/// (each read once). Another owner's worker is a name that is taken
/// (DEPLOY) or does not exist (UPDATE, DESTROY); a destroyed worker's name
/// is free for anyone.
async fn check_worker(
    deps: &JobApiDeps,
    owner: &str,
    params: &JobParams,
    name: &str,
) -> Result<(), ApiError> {
    let worker_ref = |message: String, status: u16, code: &'static str| ApiError {
        allow: None,
        status,
        code,
        field: Some("params.name".into()),
        message,
    };
    let not_found = || worker_ref(format!("worker {name:?} does not exist"), 404, "NOT_FOUND");
    let record = deps.workers.get(name).await?;
    let live = record
        .as_ref()
        .filter(|w| w.status != WorkerStatus::Destroyed);
    let runs = deps.jobs.runs().get(name).await?;
    // Its owner: of the live record, or else of the job that holds or
    // waits for it first (a DEPLOY not yet begun).
    let holder = match (live, runs.as_ref()) {
        (Some(w), _) => Some(w.owner.clone()),
        (None, Some(r)) => match r.active.iter().chain(&r.waiting).next() {
            Some(job_id) => deps.jobs.get(job_id).await?.map(|j| j.owner),
            None => None,
        },
        (None, None) => None,
    };
    if holder.is_some_and(|o| o != owner) {
        return Err(match params {
            JobParams::DeployWorker(_) => worker_ref(
                format!("the worker name {name:?} is taken; choose another name"),
                409,
                "CONFLICT",
            ),
            _ => not_found(),
        });
    }
    // A worker whose earlier lifecycle job runs or waits: this one waits
    // for it in the run queue and is checked when its turn comes (a DESTROY
    // submitted while a DEPLOY applies destroys what the DEPLOY creates).
    if runs.is_some_and(|r| r.busy()) {
        return Ok(());
    }
    match (params, &record) {
        (JobParams::DeployWorker(_), Some(w)) if w.status != WorkerStatus::Destroyed => {
            Err(worker_ref(
                format!(
                    "worker {name:?} already exists ({:?}, last job {}); destroy it first or choose another name",
                    w.status, w.last_job_id
                ),
                409,
                "CONFLICT",
            ))
        }
        (JobParams::DeployWorker(_), _) => Ok(()),
        (_, None) => Err(not_found()),
        (JobParams::UpdateWorker { .. }, Some(w)) if w.status != WorkerStatus::Deployed => {
            Err(worker_ref(
                format!(
                    "worker {name:?} is {:?}; only a DEPLOYED worker can be updated",
                    w.status
                ),
                409,
                "CONFLICT",
            ))
        }
        _ => Ok(()),
    }
}

async fn submit(deps: &JobApiDeps, req: &Request, owner: &str) -> ApiResult {
    let body = req.json_object()?;
    let f = Fields::new("", &body, &["type", "params"])?;
    let type_text = f.required_string("type")?;
    let job_type: JobType = type_text
        .parse()
        .map_err(|e: String| FieldError::new("type", e))?;
    let raw_params = f.get("params").cloned().unwrap_or_else(|| json!({}));
    let params = JobParams::parse(job_type, &raw_params, &deps.defaults)?;
    let key = idempotency_key(req, owner, &body)?;
    // A replay answers the stored job as it is now, even if what it refers
    // to changed since (e.g. the worker it deployed now exists).
    if let Some(k) = &key {
        match deps.jobs.store().find_key(k).await? {
            Some(Created::Existing(job)) => {
                // A job whose start was lost is started by its key's replay.
                deps.jobs.ensure_started(deps.starter.as_ref(), &job).await;
                return Ok(accepted(&job, true));
            }
            Some(Created::KeyReused) => return Err(key_reused()),
            Some(Created::New) | None => {}
        }
    }
    check_references(deps, owner, &params).await?;
    create(deps, owner, &params, key).await
}

async fn get_job(deps: &JobApiDeps, owner: &str, id: &str) -> ApiResult {
    if !is_job_id(id) {
        return Err(ApiError::not_found(format!(
            "job {id:?} does not exist (job ids look like job-<32 hex digits>)"
        )));
    }
    match deps.jobs.get(id).await? {
        Some(job) if job.owner == owner => {
            let mut view = JobService::view(&job);
            build_view::show_running_builds(deps, &job, &mut view).await;
            Ok(Response::json(200, view))
        }
        // Another owner's job is, to this caller, no job at all.
        _ => Err(ApiError::not_found(format!("job {id} does not exist"))),
    }
}

async fn list_jobs(deps: &JobApiDeps, req: &Request, owner: &str) -> ApiResult {
    let q = req.query_params(&["type", "status", "limit", "next_token"])?;
    let field_err = |field: &str, message: String| ApiError {
        allow: None,
        status: 400,
        code: "INVALID_FIELD",
        field: Some(field.into()),
        message,
    };
    let filter = JobFilter {
        job_type: q
            .get("type")
            .map(|t| t.parse())
            .transpose()
            .map_err(|e| field_err("type", e))?,
        status: q
            .get("status")
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| field_err("status", e))?,
    };
    let limit = match q.get("limit") {
        None => 25,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| field_err("limit", format!("{l:?} is not a number from 1 to 100")))?,
    };
    let page = deps
        .jobs
        .store()
        .list(
            owner,
            &filter,
            limit,
            q.get("next_token").map(String::as_str),
        )
        .await
        .map_err(|e| match e.kind {
            ErrorKind::InvalidInput => field_err("next_token", e.message),
            _ => e.into(),
        })?;
    Ok(Response::json(
        200,
        json!({"jobs": page.items, "next_token": page.next}),
    ))
}
