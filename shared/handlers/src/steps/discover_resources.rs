//! DiscoverResources (CONNECTION_TEST, FETCH_RESOURCES): discover the
//! customer's resources and cache them on the cloud identity. The
//! inventory is written here, by the step that produces it; only counts
//! travel on in the state payload.

use jobs_domain::StepError;
use jobs_domain::identity::session_name;
use serde_json::{Value, json};

use super::{JobRef, identity_of, input, run_step, step_name};
use crate::deps::StepDeps;

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: JobRef = input("DiscoverResources", payload)?;
    let step = step_name(&input.step, "DiscoverResources");
    run_step(deps, &input.job_id, &step, |job| async move {
        let identity = identity_of(deps, &job).await?;
        let id = identity.id.as_str();
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
