//! VerifyIdentity (CONNECTION_TEST): assume the customer's role with the
//! platform-issued ExternalId and check who we are (sts:GetCallerIdentity).
//! Only the account and ARN come back; the credentials stay in the adapter.

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
    let input: Input = input("VerifyIdentity", payload)?;
    let step = input
        .step
        .clone()
        .unwrap_or_else(|| "VerifyIdentity".into());
    run_step(deps, &input.job_id, &step, |job| async move {
        let params = JobParams::parse(job.job_type, &job.params, &Defaults::default())
            .map_err(|e| StepError::invalid(e.to_string()))?;
        let id = params
            .cloud_identity_id()
            .ok_or_else(|| StepError::invalid("the job has no cloud_identity_id"))?;
        let identity =
            deps.identities.get(id).await?.ok_or_else(|| {
                StepError::not_found(format!("cloud identity {id} does not exist"))
            })?;
        let caller = deps
            .verifier
            .verify(&identity, &session_name(&job.id))
            .await?;
        tracing::info!(job_id = %job.id, account = %caller.account, "identity verified");
        Ok(json!({"account": caller.account, "arn": caller.arn}))
    })
    .await
}
