//! DiscoverResources (CONNECTION_TEST, FETCH_RESOURCES): discover the
//! customer's resources and cache them on the cloud identity. The
//! inventory is written here, by the step that produces it; only counts
//! travel on in the state payload.

use jobs_domain::StepError;
use jobs_domain::identity::session_name;
use schemars::JsonSchema;
use serde::Serialize;

use super::contract::{JobRef, Step, step_name};
use super::lookup::identity_of;
use crate::deps::{Port, StepDeps};

pub struct DiscoverResources;

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub cloud_identity_id: String,
    pub account: String,
    pub regions: Vec<String>,
    pub counts: Counts,
    /// (type, region) pairs that did not come back `ok`.
    pub problems: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Counts {
    pub vpcs: usize,
    pub subnets: usize,
    pub security_groups: usize,
    pub hosted_zones: usize,
    pub iam_users: usize,
}

impl Step for DiscoverResources {
    const FUNCTION: &'static str = "worker-jobs-discover-resources";
    const USES: &'static [Port] = &[Port::Identities, Port::Discovery];
    type Input = JobRef;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: JobRef) -> Result<Output, StepError> {
        let step = step_name(&input.step, "DiscoverResources");
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let identity = identity_of(deps, &job).await?;
                let id = identity.id.as_str();
                let inventory = deps.discovery()?.discover(&identity, &session_name(&job.id)).await?;
                deps.identities()?
                    .save_inventory(&job.owner, id, &inventory)
                    .await?;
                let summary = inventory.summary();
                tracing::info!(job_id = %job.id, identity = %id, resources = summary.total(), problems = summary.problems.len(), "resources discovered");
                Ok(Output {
                    cloud_identity_id: id.to_string(),
                    account: inventory.account_id,
                    regions: inventory.regions,
                    counts: Counts {
                        vpcs: summary.vpcs,
                        subnets: summary.subnets,
                        security_groups: summary.security_groups,
                        hosted_zones: summary.hosted_zones,
                        iam_users: summary.iam_users,
                    },
                    problems: summary.problems.len(),
                })
            })
            .await
    }
}
