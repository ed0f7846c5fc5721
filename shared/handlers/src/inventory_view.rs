//! A cloud identity's cached resources, page by page:
//! `GET /api/cloud-identities/{id}/resources?type=&region=&limit=&next_token=`.
//! An account with tens of thousands of subnets reads back whole through
//! pages, each answer far below Lambda's 6 MB response limit, and the
//! identity's own view leaves out an inventory too large to answer whole.

use base64::Engine;
use jobs_domain::FieldError;
use jobs_domain::inventory::{Inventory, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deps::JobApiDeps;
use crate::http::{ApiError, ApiResult, Request, Response};

/// Resources per page unless `limit` says otherwise, and at most (a subnet
/// is about 200 bytes of JSON: a full page stays near 1 MB).
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 5000;

/// Above this many bytes of resources, `GET /api/cloud-identities/{id}`
/// leaves them out and points here (the whole answer must stay under 6 MB).
pub const MAX_INLINE_RESOURCES: usize = 2 * 1024 * 1024;

/// What a `next_token` carries: the listing it belongs to, the position,
/// and which inventory it pages (a refresh in between invalidates it).
#[derive(Serialize, Deserialize)]
struct Cursor {
    t: String,
    r: Option<String>,
    o: usize,
    f: String,
}

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    FieldError::new(field, message).into()
}

fn decode(token: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn encode(cursor: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub async fn resources(deps: &JobApiDeps, req: &Request, owner: &str, id: &str) -> ApiResult {
    let q = req.query_params(&["type", "region", "limit", "next_token"])?;
    let type_name = q.get("type").ok_or_else(|| {
        field_error(
            "type",
            "is required: vpcs, subnets, security_groups, hosted_zones or iam_users",
        )
    })?;
    let kind = ResourceType::parse(type_name).ok_or_else(|| {
        field_error(
            "type",
            format!("{type_name:?} is not one of vpcs, subnets, security_groups, hosted_zones, iam_users"),
        )
    })?;
    let region = q.get("region").cloned();
    if let Some(r) = &region
        && (r.is_empty()
            || r.len() > 40
            || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(field_error(
            "region",
            "must be a region or location name (letters, digits, -)",
        ));
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| field_error("limit", format!("must be 1 to {MAX_LIMIT}")))?,
    };
    if deps.identities.get(owner, id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "cloud identity {id} does not exist"
        )));
    }
    let Some(inventory) = deps.identities.inventory(owner, id).await? else {
        return Ok(Response::json(
            200,
            json!({"type": kind.as_str(), "region": region, "fetched_at": Value::Null, "items": [], "next_token": Value::Null}),
        ));
    };
    let fetched = jobs_domain::time::format(&inventory.fetched_at);
    let offset = match q.get("next_token") {
        None => 0,
        Some(token) => {
            let c = decode(token)
                .ok_or_else(|| field_error("next_token", "is not a token this API issued"))?;
            if c.t != kind.as_str() || c.r != region {
                return Err(field_error(
                    "next_token",
                    "was issued for another listing (other type or region); list again without it",
                ));
            }
            if c.f != fetched {
                return Err(field_error(
                    "next_token",
                    "belongs to an earlier inventory (the resources were fetched again since); list again without it",
                ));
            }
            c.o
        }
    };
    Ok(Response::json(
        200,
        page(&inventory, kind, region, offset, limit, fetched),
    ))
}

fn page(
    inventory: &Inventory,
    kind: ResourceType,
    region: Option<String>,
    offset: usize,
    limit: usize,
    fetched: String,
) -> Value {
    let (page, total) = inventory.page_of(kind, region.as_deref(), offset, limit);
    let end = offset + page.len();
    let items: Vec<Value> = page
        .into_iter()
        .map(|(r, mut item)| {
            item["region"] = json!(r);
            item
        })
        .collect();
    let next = (end < total).then(|| {
        encode(&Cursor {
            t: kind.as_str().into(),
            r: region.clone(),
            o: end,
            f: fetched.clone(),
        })
    });
    json!({
        "type": kind.as_str(),
        "region": region,
        "fetched_at": fetched,
        "total": total,
        "items": items,
        "next_token": next,
    })
}
