//! The job API (function `job-api`): submit and read jobs, register cloud
//! identities and read their cached resources. Routes and shapes are
//! documented in `shared/handlers/openapi.yaml` (kept true by a test).
//!
//! Bad input is refused with a 4xx naming the field before anything is
//! written or started.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::Method;
use jobs_domain::identity::{
    AwsAccount, AzureAccount, CloudAccount, CloudIdentity, IdentityRequest, new_external_id,
    validate_identity_id,
};
use jobs_domain::job::{Job, JobType, is_job_id};
use jobs_domain::params::JobParams;
use jobs_domain::ports::{Created, IdempotencyKey, JobFilter};
use jobs_domain::validate::Fields;
use jobs_domain::worker::WorkerStatus;
use jobs_domain::{ErrorKind, FieldError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::build_view;
use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response, respond};
use crate::job_service::{JobService, Submission};

/// Idempotency keys: 1–255 visible ASCII characters.
const MAX_KEY_LEN: usize = 255;

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
    match (req.method.clone(), segments.as_slice()) {
        (Method::POST, ["api", "jobs"]) => submit(deps, req).await,
        (Method::GET, ["api", "jobs"]) => list_jobs(deps, req).await,
        (Method::GET, ["api", "jobs", id]) => get_job(deps, id).await,
        (Method::GET, ["api", "jobs", id, "logs"]) => build_view::job_logs(deps, req, id).await,
        (Method::PUT, ["api", "cloud-identities", id]) => put_identity(deps, req, id).await,
        (Method::GET, ["api", "cloud-identities", id]) => get_identity(deps, req, id).await,
        (Method::POST, ["api", "cloud-identities", id, "refresh"]) => refresh(deps, req, id).await,
        (Method::GET, ["api", "cloud-identities", id, "resources"]) => {
            check_identity_id(id)?;
            crate::inventory_view::resources(deps, req, id).await
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

fn idempotency_key(req: &Request, body: &Value) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(key) = req.header("idempotency-key") else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError {
            allow: None,
            status: 400,
            code: "INVALID_FIELD",
            field: Some("Idempotency-Key".into()),
            message: format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        });
    }
    // serde_json orders object keys, so equal bodies hash equally.
    let request_hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        request_hash,
    }))
}

/// Checks what a job refers to, so that a job that cannot run is refused
/// now (404 / 409) rather than failing later.
async fn check_references(deps: &JobApiDeps, params: &JobParams) -> Result<(), ApiError> {
    if let Some(id) = params.cloud_identity_id()
        && deps.identities.get(id).await?.is_none()
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
    let worker_ref = |message: String, status: u16, code: &'static str| ApiError {
        allow: None,
        status,
        code,
        field: Some("params.name".into()),
        message,
    };
    // A worker whose earlier lifecycle job runs or waits: this one waits
    // for it in the run queue and is checked when its turn comes (a DESTROY
    // submitted while a DEPLOY applies destroys what the DEPLOY creates).
    if let Some(name) = params.worker_name()
        && deps.jobs.runs().get(name).await?.is_some_and(|r| r.busy())
    {
        return Ok(());
    }
    match params {
        JobParams::DeployWorker(spec) => {
            if let Some(w) = deps.workers.get(&spec.name).await?
                && w.status != WorkerStatus::Destroyed
            {
                return Err(worker_ref(
                    format!(
                        "worker {:?} already exists ({:?}, last job {}); destroy it first or choose another name",
                        spec.name, w.status, w.last_job_id
                    ),
                    409,
                    "CONFLICT",
                ));
            }
        }
        JobParams::UpdateWorker { name, .. } => match deps.workers.get(name).await? {
            Some(w) if w.status == WorkerStatus::Deployed => {}
            Some(w) => {
                return Err(worker_ref(
                    format!(
                        "worker {name:?} is {:?}; only a DEPLOYED worker can be updated",
                        w.status
                    ),
                    409,
                    "CONFLICT",
                ));
            }
            None => {
                return Err(worker_ref(
                    format!("worker {name:?} does not exist"),
                    404,
                    "NOT_FOUND",
                ));
            }
        },
        JobParams::DestroyWorker { name } if deps.workers.get(name).await?.is_none() => {
            return Err(worker_ref(
                format!("worker {name:?} does not exist"),
                404,
                "NOT_FOUND",
            ));
        }
        _ => {}
    }
    Ok(())
}

fn key_reused() -> ApiError {
    ApiError::new(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was already used with a different request body",
    )
}

fn accepted(job: &Job, replayed: bool) -> Response {
    let r = Response::json(202, JobService::view(job))
        .header("Location", &format!("/api/jobs/{}", job.id));
    if replayed {
        r.header("Idempotent-Replayed", "true")
    } else {
        r
    }
}

/// Creates and starts the job; the answer for each way that can go.
async fn create(deps: &JobApiDeps, params: &JobParams, key: Option<IdempotencyKey>) -> ApiResult {
    match deps.jobs.create(deps.starter.as_ref(), params, key).await? {
        Submission::New(job) => Ok(accepted(&job, false)),
        Submission::Replayed(job) => Ok(accepted(&job, true)),
        Submission::KeyReused => Err(key_reused()),
        Submission::NotStarted { job, cause } => Err(ApiError::new(
            503,
            "START_FAILED",
            format!(
                "job {} could not be started ({}); retry the request",
                job.id, cause.message
            ),
        )),
    }
}

async fn submit(deps: &JobApiDeps, req: &Request) -> ApiResult {
    let body = req.json_object()?;
    let f = Fields::new("", &body, &["type", "params"])?;
    let type_text = f.required_string("type")?;
    let job_type: JobType = type_text
        .parse()
        .map_err(|e: String| FieldError::new("type", e))?;
    let raw_params = f.get("params").cloned().unwrap_or_else(|| json!({}));
    let params = JobParams::parse(job_type, &raw_params, &deps.defaults)?;
    let key = idempotency_key(req, &body)?;
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
    check_references(deps, &params).await?;
    create(deps, &params, key).await
}

async fn get_job(deps: &JobApiDeps, id: &str) -> ApiResult {
    if !is_job_id(id) {
        return Err(ApiError::not_found(format!(
            "job {id:?} does not exist (job ids look like job-<32 hex digits>)"
        )));
    }
    match deps.jobs.get(id).await? {
        Some(job) => {
            let mut view = JobService::view(&job);
            build_view::show_running_builds(deps, &job, &mut view).await;
            Ok(Response::json(200, view))
        }
        None => Err(ApiError::not_found(format!("job {id} does not exist"))),
    }
}

async fn list_jobs(deps: &JobApiDeps, req: &Request) -> ApiResult {
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
        .list(&filter, limit, q.get("next_token").map(String::as_str))
        .await
        .map_err(|e| match e.kind {
            ErrorKind::InvalidInput => field_err("next_token", e.message),
            _ => e.into(),
        })?;
    Ok(Response::json(
        200,
        json!({"jobs": page.items.iter().map(JobService::view).collect::<Vec<_>>(), "next_token": page.next}),
    ))
}

/// An identity as the API shows it: everything but secrets (an Azure
/// client secret is write-only; the view says only that one is set).
fn identity_view(identity: &CloudIdentity) -> Value {
    let mut view = json!({
        "id": identity.id,
        "provider": identity.provider().as_str(),
        "created_at": jobs_domain::time::format(&identity.created_at),
        "updated_at": jobs_domain::time::format(&identity.updated_at),
    });
    let fields = match &identity.account {
        CloudAccount::Aws(a) => json!({
            "role_arn": a.role_arn,
            "external_id": a.external_id,
            "regions": a.regions.to_json(),
        }),
        CloudAccount::Gcp(g) => {
            let mut v = json!({
                "project_id": g.project_id,
                "project_number": g.project_number,
                "workload_identity_pool_id": g.workload_identity_pool_id,
                "workload_identity_provider_id": g.workload_identity_provider_id,
                "audience": g.audience(),
                "regions": g.regions.to_json(),
            });
            if let Some(sa) = &g.service_account {
                v["service_account"] = json!(sa);
            }
            v
        }
        CloudAccount::Azure(a) => json!({
            "tenant_id": a.tenant_id,
            "client_id": a.client_id,
            "subscription_id": a.subscription_id,
            "client_secret_set": true,
        }),
    };
    if let (Some(view), Some(fields)) = (view.as_object_mut(), fields.as_object()) {
        view.extend(fields.clone());
    }
    view
}

fn check_identity_id(id: &str) -> Result<(), ApiError> {
    validate_identity_id(id).map_err(|e| ApiError {
        allow: None,
        status: 400,
        code: "INVALID_FIELD",
        field: Some("id".into()),
        message: e.message,
    })
}

async fn put_identity(deps: &JobApiDeps, req: &Request, id: &str) -> ApiResult {
    check_identity_id(id)?;
    let body = req.json_object()?;
    let request = IdentityRequest::parse(&body)?;
    let now = deps.jobs.now();
    // The client secret is written once, before the record that refers to
    // it (its reference is the same for every write of this identity).
    let mut secret_ref: Option<String> = None;
    for _ in 0..3 {
        let existing = deps.identities.get(id).await?;
        if let Some(old) = &existing
            && old.provider() != request.provider()
        {
            return Err(ApiError {
                allow: None,
                status: 409,
                code: "PROVIDER_CHANGE",
                field: Some("provider".into()),
                message: format!(
                    "cloud identity {id} is a {} identity; its provider cannot change (register the {} account under another id)",
                    old.provider().as_str(),
                    request.provider().as_str()
                ),
            });
        }
        let account = match &request {
            IdentityRequest::Aws { role_arn, regions } => CloudAccount::Aws(AwsAccount {
                role_arn: role_arn.arn.clone(),
                external_id: match &existing {
                    Some(CloudIdentity {
                        account: CloudAccount::Aws(old),
                        ..
                    }) => old.external_id.clone(),
                    _ => new_external_id(),
                },
                regions: regions.clone(),
            }),
            IdentityRequest::Gcp(g) => CloudAccount::Gcp(g.clone()),
            IdentityRequest::Azure {
                tenant_id,
                client_id,
                subscription_id,
                client_secret,
            } => {
                let reference = match (client_secret, &existing, &secret_ref) {
                    (Some(_), _, Some(r)) => r.clone(),
                    (Some(secret), _, None) => {
                        let r = deps.identity_secrets.put(id, secret).await?;
                        secret_ref = Some(r.clone());
                        r
                    }
                    (
                        None,
                        Some(CloudIdentity {
                            account: CloudAccount::Azure(old),
                            ..
                        }),
                        _,
                    ) => old.client_secret_ref.clone(),
                    (None, _, _) => {
                        return Err(ApiError {
                            allow: None,
                            status: 400,
                            code: "INVALID_FIELD",
                            field: Some("client_secret".into()),
                            message: "is required when an Azure identity is registered".into(),
                        });
                    }
                };
                CloudAccount::Azure(AzureAccount {
                    tenant_id: tenant_id.clone(),
                    client_id: client_id.clone(),
                    subscription_id: subscription_id.clone(),
                    client_secret_ref: reference,
                })
            }
        };
        let (identity, expected, status) = match existing {
            None => (
                CloudIdentity {
                    id: id.to_string(),
                    account,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                },
                None,
                201,
            ),
            Some(old) => (
                CloudIdentity {
                    account,
                    updated_at: now,
                    version: old.version + 1,
                    ..old
                },
                Some(old.version),
                200,
            ),
        };
        match deps.identities.put(&identity, expected).await {
            Ok(()) => return Ok(Response::json(status, identity_view(&identity))),
            Err(e) if e.kind == ErrorKind::Conflict => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(format!(
        "cloud identity {id} is being changed concurrently; retry"
    )))
}

async fn get_identity(deps: &JobApiDeps, req: &Request, id: &str) -> ApiResult {
    check_identity_id(id)?;
    let q = req.query_params(&["view"])?;
    let full = match q.get("view").map(String::as_str) {
        None | Some("full") => true,
        Some("summary") => false,
        Some(other) => {
            return Err(ApiError {
                allow: None,
                status: 400,
                code: "INVALID_FIELD",
                field: Some("view".into()),
                message: format!("{other:?} is not one of full, summary"),
            });
        }
    };
    let Some(identity) = deps.identities.get(id).await? else {
        return Err(ApiError::not_found(format!(
            "cloud identity {id} does not exist"
        )));
    };
    let mut view = identity_view(&identity);
    let inventory = deps.identities.inventory(id).await?;
    match inventory {
        Some(inv) => {
            view["fetched_at"] = json!(jobs_domain::time::format(&inv.fetched_at));
            view["summary"] = serde_json::to_value(inv.summary()).unwrap_or(Value::Null);
            view["outcomes"] = serde_json::to_value(&inv.outcomes).unwrap_or(Value::Null);
            if full {
                let resources = serde_json::to_value(&inv.resources).unwrap_or(Value::Null);
                // Whole only while the answer stays far below Lambda's
                // 6 MB response limit; larger ones are read page by page.
                if resources.to_string().len() <= crate::inventory_view::MAX_INLINE_RESOURCES {
                    view["resources"] = resources;
                } else {
                    view["resources"] = Value::Null;
                    view["resources_paged"] = json!(format!(
                        "too large to answer whole: GET /api/cloud-identities/{id}/resources?type=<type>[&region=<region>]"
                    ));
                }
            }
        }
        None => {
            view["fetched_at"] = Value::Null;
            view["resources"] = Value::Null;
        }
    }
    Ok(Response::json(200, view))
}

async fn refresh(deps: &JobApiDeps, req: &Request, id: &str) -> ApiResult {
    check_identity_id(id)?;
    if !req.body.iter().all(u8::is_ascii_whitespace)
        && req
            .json_object()?
            .as_object()
            .is_some_and(|m| !m.is_empty())
    {
        return Err(ApiError::bad_request("refresh takes no body"));
    }
    let params = JobParams::FetchResources {
        cloud_identity_id: id.to_string(),
    };
    if deps.identities.get(id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "cloud identity {id} does not exist"
        )));
    }
    let key = idempotency_key(req, &json!({"refresh": id}))?;
    create(deps, &params, key).await
}
