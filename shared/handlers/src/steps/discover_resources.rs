//! DiscoverResources (CONNECTION_TEST, FETCH_RESOURCES): discover the
//! customer's resources and cache them on the cloud identity. The
//! inventory is written here, by the step that produces it; only counts
//! travel on in the state payload.

use jobs_domain::StepError;
use jobs_domain::identity::session_name;
use jobs_domain::params::{Defaults, JobParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{input, run_step};
use crate::deps::StepDeps;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    job_id: String,
    #[serde(default)]
    step: Option<String>,
}

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: Input = input("DiscoverResources", payload)?;
    let step = input
        .step
        .clone()
        .unwrap_or_else(|| "DiscoverResources".into());
    run_step(deps, &input.job_id, &step, |job| async move {
        let params = JobParams::parse(job.job_type, &job.params, &Defaults::default()).map_err(|e| StepError::invalid(e.to_string()))?;
        let id = params.cloud_identity_id().ok_or_else(|| StepError::invalid("the job has no cloud_identity_id"))?;
        let identity = deps
            .identities
            .get(id)
            .await?
            .ok_or_else(|| StepError::not_found(format!("cloud identity {id} does not exist")))?;
        let inventory = deps.discovery.discover(&identity, &session_name(&job.id)).await?;
        deps.identities.save_inventory(id, &inventory).await?;
        let summary = inventory.summary();
        tracing::info!(job_id = %job.id, identity = %id, resources = summary.total(), problems = summary.problems.len(), "resources discovered");
        Ok(json!({
            "cloud_identity_id": id,
            "account": inventory.account_id,
            "regions": inventory.regions,
            "counts": {
                "vpcs": summary.vpcs,
                "subnets": summary.subnets,
                "security_groups": summary.security_groups,
                "hosted_zones": summary.hosted_zones,
                "iam_users": summary.iam_users,
            },
            "problems": summary.problems.len(),
        }))
    })
    .await
}
