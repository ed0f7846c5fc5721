//! The cloud identity routes of the job API: register (or update) an
//! identity, read it with its cached inventory, and refresh it (a
//! FETCH_RESOURCES job). Secrets are write-only: an Azure client secret goes
//! to the platform's secret store and the record keeps its reference.

use jobs_domain::ErrorKind;
use jobs_domain::identity::{
    AwsAccount, AzureAccount, CloudAccount, CloudIdentity, IdentityRequest, new_external_id,
    validate_identity_id,
};
use jobs_domain::params::JobParams;
use serde_json::{Value, json};

use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response};
use crate::submission::{create, idempotency_key};

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

pub(crate) fn check_identity_id(id: &str) -> Result<(), ApiError> {
    validate_identity_id(id).map_err(|e| ApiError {
        allow: None,
        status: 400,
        code: "INVALID_FIELD",
        field: Some("id".into()),
        message: e.message,
    })
}

pub(crate) async fn put_identity(
    deps: &JobApiDeps,
    req: &Request,
    owner: &str,
    id: &str,
) -> ApiResult {
    check_identity_id(id)?;
    let body = req.json_object()?;
    let request = IdentityRequest::parse(&body)?;
    let now = deps.jobs.now();
    // The client secret is written once, before the record that refers to
    // it (its reference is the same for every write of this identity).
    let mut secret_ref: Option<String> = None;
    for _ in 0..3 {
        let existing = deps.identities.get(owner, id).await?;
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
                        let r = deps.identity_secrets.put(owner, id, secret).await?;
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
                    // Well-formed, but this identity has no secret to keep:
                    // the state, not the request's shape, is what is missing.
                    (None, _, _) => {
                        return Err(ApiError {
                            allow: None,
                            status: 409,
                            code: "CLIENT_SECRET_REQUIRED",
                            field: Some("client_secret".into()),
                            message: format!(
                                "is required: cloud identity {id} is new and has no stored client secret"
                            ),
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
                    owner: owner.to_string(),
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

pub(crate) async fn get_identity(
    deps: &JobApiDeps,
    req: &Request,
    owner: &str,
    id: &str,
) -> ApiResult {
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
    let Some(identity) = deps.identities.get(owner, id).await? else {
        return Err(ApiError::not_found(format!(
            "cloud identity {id} does not exist"
        )));
    };
    let mut view = identity_view(&identity);
    let inventory = deps.identities.inventory(owner, id).await?;
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

pub(crate) async fn refresh(deps: &JobApiDeps, req: &Request, owner: &str, id: &str) -> ApiResult {
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
    if deps.identities.get(owner, id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "cloud identity {id} does not exist"
        )));
    }
    let key = idempotency_key(req, owner, &json!({"refresh": id}))?;
    create(deps, owner, &params, key).await
}
