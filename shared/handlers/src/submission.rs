//! How the job API answers a submission (a job, or an identity's refresh):
//! the caller's Idempotency-Key (scoped to its owner, bound to a hash of the
//! request), the job created and started through the job service, and the
//! answer for each outcome (202, a replay, 422, 503).

use jobs_domain::job::Job;
use jobs_domain::params::JobParams;
use jobs_domain::ports::IdempotencyKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::job_service::{JobService, Submission};

/// Idempotency keys: 1–255 visible ASCII characters.
const MAX_KEY_LEN: usize = 255;

pub(crate) fn idempotency_key(
    req: &Request,
    owner: &str,
    body: &Value,
) -> Result<Option<IdempotencyKey>, ApiError> {
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
        owner: owner.to_string(),
        key: key.to_string(),
        request_hash,
    }))
}

pub(crate) fn key_reused() -> ApiError {
    ApiError::new(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was already used with a different request body",
    )
}

pub(crate) fn accepted(job: &Job, replayed: bool) -> Response {
    let r = Response::json(202, JobService::view(job))
        .header("Location", &format!("/api/jobs/{}", job.id));
    if replayed {
        r.header("Idempotent-Replayed", "true")
    } else {
        r
    }
}

/// Creates and starts the job; the answer for each way that can go.
pub(crate) async fn create(
    deps: &JobApiDeps,
    owner: &str,
    params: &JobParams,
    key: Option<IdempotencyKey>,
) -> ApiResult {
    match deps
        .jobs
        .create(deps.starter.as_ref(), owner, params, key)
        .await?
    {
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
