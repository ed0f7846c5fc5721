//! The runner registry API (function `runners-api`), the endpoints the
//! jobs call "Alethia": registration (idempotent per runner id; tokens are
//! random, returned once and stored only as a hash), heartbeats, listing,
//! removal, and the atomic claim of the oldest queued job.
//!
//! A claim is held while the runner heartbeats (see [`crate::leases`]);
//! removing a runner releases what it held; `complete` is idempotent.
//!
//! Platform calls (register, list, read, remove) authenticate with the
//! registry's admin token; a runner's own calls (heartbeat, claim,
//! complete) with its token.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::Method;
use jobs_domain::job::{JobError, JobStatus, is_job_id};
use jobs_domain::runner::{RegisterRequest, Runner, hash_token, new_token, verify_token};
use jobs_domain::validate::{Fields, identifier};
use jobs_domain::{ErrorKind, StepError};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deps::RunnersApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response, respond};
use crate::job_service::{JobService, Write};
use crate::leases::release_held;

/// How many queued jobs a claim looks at per attempt.
const CLAIM_BATCH: usize = 10;

pub async fn handle(
    deps: &RunnersApiDeps,
    event: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let result = match Request::from_event(event) {
        Ok(req) => route(deps, &req).await,
        Err(e) => Err(e),
    };
    respond(result)
}

async fn route(deps: &RunnersApiDeps, req: &Request) -> ApiResult {
    let segments = req.segments();
    match (req.method.clone(), segments.as_slice()) {
        (Method::POST, ["api", "runners", "register"]) => {
            require_admin(deps, req)?;
            register(deps, req).await
        }
        (Method::GET, ["api", "runners"]) => {
            require_admin(deps, req)?;
            list(deps).await
        }
        (Method::GET, ["api", "runners", id]) => {
            require_admin(deps, req)?;
            get(deps, id).await
        }
        (Method::DELETE, ["api", "runners", id]) => {
            require_admin(deps, req)?;
            remove(deps, id).await
        }
        (Method::POST, ["api", "runners", id, "heartbeat"]) => heartbeat(deps, req, id).await,
        (Method::POST, ["api", "runners", id, "claim"]) => claim(deps, req, id).await,
        (Method::POST, ["api", "runners", id, "jobs", job_id, "complete"]) => {
            complete(deps, req, id, job_id).await
        }
        (_, ["api", "runners", "register"]) => Err(ApiError::method_not_allowed(req, "POST")),
        (_, ["api", "runners"]) => Err(ApiError::method_not_allowed(req, "GET")),
        (_, ["api", "runners", _]) => Err(ApiError::method_not_allowed(req, "GET, DELETE")),
        (
            _,
            ["api", "runners", _, "heartbeat" | "claim"]
            | ["api", "runners", _, "jobs", _, "complete"],
        ) => Err(ApiError::method_not_allowed(req, "POST")),
        _ => Err(ApiError::not_found(format!(
            "no route for {} {}",
            req.method, req.path
        ))),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (ha, hb) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn require_admin(deps: &RunnersApiDeps, req: &Request) -> Result<(), ApiError> {
    match req.bearer() {
        Some(t)
            if !deps.admin_token.is_empty() && constant_time_eq(t, deps.admin_token.expose()) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::new(
            403,
            "FORBIDDEN",
            "the token is not the registry's admin token",
        )),
        None => Err(ApiError::unauthorized(
            "an Authorization: Bearer <admin token> header is required",
        )),
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    identifier("id", id, 64)
        .map_err(|e| ApiError::not_found(format!("runner {id:?} does not exist ({})", e.message)))
}

/// The public view of a runner (never the token hash).
fn view(deps: &RunnersApiDeps, r: &Runner) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "owner": r.owner,
        "pool": r.pool,
        "status": r.status(deps.jobs.now(), deps.heartbeat_ttl),
        "registered_at": jobs_domain::time::format(&r.registered_at),
        "last_heartbeat_at": r.last_heartbeat_at.map(|t| jobs_domain::time::format(&t)),
    })
}

/// A runner's id derived from its owner and name, when the caller proposes
/// none: a retried registration then finds the same runner.
fn id_for_name(owner: &str, name: &str) -> String {
    format!(
        "rnr-{}",
        &hex::encode(Sha256::digest(format!("{owner}\n{name}").as_bytes()))[..16]
    )
}

async fn register(deps: &RunnersApiDeps, req: &Request) -> ApiResult {
    let body = req.json_object()?;
    let request = RegisterRequest::parse(&body)?;
    let id = request
        .id
        .clone()
        .unwrap_or_else(|| id_for_name(&request.owner, &request.name));
    for _ in 0..3 {
        let token = new_token();
        let now = deps.jobs.now();
        match deps.runners.get(&id).await? {
            None => {
                let runner = Runner {
                    id: id.clone(),
                    name: request.name.clone(),
                    owner: request.owner.clone(),
                    pool: request.pool.clone(),
                    token_hash: hash_token(token.expose()),
                    registered_at: now,
                    last_heartbeat_at: None,
                    version: 1,
                };
                match deps.runners.create(&runner).await {
                    Ok(()) => {
                        tracing::info!(runner = %id, name = %request.name, "runner registered");
                        let mut out = view(deps, &runner);
                        out["token"] = json!(token.expose());
                        return Ok(Response::json(201, out)
                            .header("Location", &format!("/api/runners/{id}")));
                    }
                    Err(e) if e.kind == ErrorKind::Conflict => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Some(existing) => {
                if existing.name != request.name || existing.owner != request.owner {
                    return Err(ApiError::conflict(format!(
                        "runner {id} is registered under the name {:?} for owner {:?}, not {:?} for {:?}",
                        existing.name, existing.owner, request.name, request.owner
                    )));
                }
                // The same runner registering again (a retried step): same
                // runner, fresh token — the old one stops working.
                let mut rotated = existing.clone();
                rotated.token_hash = hash_token(token.expose());
                rotated.pool = request.pool.clone();
                match deps.runners.update(&rotated, existing.version).await {
                    Ok(()) => {
                        tracing::info!(runner = %id, "runner registered again; token rotated");
                        let mut out = view(deps, &rotated);
                        out["token"] = json!(token.expose());
                        return Ok(Response::json(200, out));
                    }
                    Err(e) if e.kind == ErrorKind::Conflict => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(ApiError::conflict(format!(
        "runner {id} is being registered concurrently; retry"
    )))
}

async fn list(deps: &RunnersApiDeps) -> ApiResult {
    let runners = deps.runners.list().await?;
    Ok(Response::json(
        200,
        json!({"runners": runners.iter().map(|r| view(deps, r)).collect::<Vec<_>>()}),
    ))
}

async fn get(deps: &RunnersApiDeps, id: &str) -> ApiResult {
    check_id(id)?;
    match deps.runners.get(id).await? {
        Some(r) => Ok(Response::json(200, view(deps, &r))),
        None => Err(ApiError::not_found(format!("runner {id} does not exist"))),
    }
}

async fn remove(deps: &RunnersApiDeps, id: &str) -> ApiResult {
    check_id(id)?;
    if deps.runners.delete(id).await? {
        tracing::info!(runner = %id, "runner removed");
        release_held(&deps.jobs, id, "was removed", None).await?;
        Ok(Response::empty(204))
    } else {
        Err(ApiError::not_found(format!("runner {id} does not exist")))
    }
}

/// Authenticates a runner's own call; answers the stored runner.
async fn authenticate(deps: &RunnersApiDeps, req: &Request, id: &str) -> Result<Runner, ApiError> {
    check_id(id)?;
    let Some(token) = req.bearer() else {
        return Err(ApiError::unauthorized(
            "an Authorization: Bearer <runner token> header is required",
        ));
    };
    match deps.runners.get(id).await? {
        Some(r) if verify_token(token, &r.token_hash) => Ok(r),
        // The same answer for an unknown runner and a wrong token.
        _ => Err(ApiError::new(
            403,
            "FORBIDDEN",
            format!("the token is not valid for runner {id}"),
        )),
    }
}

async fn touch(deps: &RunnersApiDeps, mut runner: Runner) -> Result<Runner, ApiError> {
    for _ in 0..3 {
        let expected = runner.version;
        runner.last_heartbeat_at = Some(deps.jobs.now());
        match deps.runners.update(&runner, expected).await {
            Ok(()) => {
                runner.version = expected + 1;
                return Ok(runner);
            }
            Err(e) if e.kind == ErrorKind::Conflict => match deps.runners.get(&runner.id).await? {
                Some(fresh) => runner = fresh,
                None => {
                    return Err(ApiError::new(
                        403,
                        "FORBIDDEN",
                        format!("runner {} was removed", runner.id),
                    ));
                }
            },
            Err(e) => return Err(e.into()),
        }
    }
    Ok(runner)
}

async fn heartbeat(deps: &RunnersApiDeps, req: &Request, id: &str) -> ApiResult {
    let runner = authenticate(deps, req, id).await?;
    let runner = touch(deps, runner).await?;
    Ok(Response::json(200, view(deps, &runner)))
}

/// Claims the oldest queued job of the runner's pool. Each candidate is
/// taken with a write conditional on its version (the job service's
/// `modify`), so two runners racing for one job cannot both get it.
async fn claim(deps: &RunnersApiDeps, req: &Request, id: &str) -> ApiResult {
    let runner = authenticate(deps, req, id).await?;
    let runner = touch(deps, runner).await?;
    for _ in 0..5 {
        let mut candidates = deps
            .jobs
            .store()
            .queued_runner_jobs(&runner.queue(), CLAIM_BATCH)
            .await?;
        if candidates.is_empty() {
            return Ok(Response::empty(204));
        }
        // The oldest first. Runners claiming at once would then all race
        // down the same list, each loss a read and a refused write: after
        // the oldest, each goes on from a random one of the next few.
        if candidates.len() > 2 {
            let start = rand::rng().random_range(0..candidates.len() - 1);
            candidates[1..].rotate_left(start);
        }
        for candidate in candidates {
            let mut won = false;
            let job = deps
                .jobs
                .modify(&candidate.id, |job| {
                    won = job.status == JobStatus::Queued;
                    if !won {
                        return Ok(Write::No);
                    }
                    job.status = JobStatus::Running;
                    job.runner_id = Some(runner.id.clone());
                    job.claimed_at = Some(deps.jobs.now());
                    Ok(Write::Yes)
                })
                .await?;
            if won {
                tracing::info!(runner = %runner.id, job_id = %job.id, "job claimed");
                return Ok(Response::json(200, JobService::view(&job)));
            }
        }
    }
    Ok(Response::empty(204))
}

async fn complete(deps: &RunnersApiDeps, req: &Request, id: &str, job_id: &str) -> ApiResult {
    let runner = authenticate(deps, req, id).await?;
    if !is_job_id(job_id) {
        return Err(ApiError::not_found(format!(
            "job {job_id:?} does not exist"
        )));
    }
    let body = req.json_object()?;
    let f = Fields::new("", &body, &["status", "result", "error"])?;
    let status = match f.required_string("status")? {
        "SUCCESS" => JobStatus::Success,
        "FAILED" => JobStatus::Failed,
        other => {
            return Err(ApiError {
                allow: None,
                status: 400,
                code: "INVALID_FIELD",
                field: Some("status".into()),
                message: format!("{other:?} is not SUCCESS or FAILED"),
            });
        }
    };
    let error = match status {
        JobStatus::Failed => Some(JobError {
            hint: None,
            code: "RUNNER_REPORTED_FAILURE".into(),
            message: f
                .string("error")?
                .unwrap_or("the runner reported a failure")
                .to_string(),
        }),
        _ => None,
    };
    let result = f.get("result").cloned();
    let done = deps
        .jobs
        .modify(job_id, |job| {
            let ours = job.runner_id.as_deref() == Some(runner.id.as_str());
            // The same outcome reported again (a retried request): done.
            if ours && job.status == status && job.result == result {
                return Ok(Write::No);
            }
            if !ours || job.status != JobStatus::Running {
                return Err(StepError::conflict(format!(
                    "job {job_id} is not running on runner {}",
                    runner.id
                )));
            }
            job.status = status;
            job.result = result.clone();
            job.error = error.clone();
            Ok(Write::Yes)
        })
        .await?;
    Ok(Response::json(200, JobService::view(&done)))
}
