//! VerifyIdentity (CONNECTION_TEST): assume the customer's role with the
//! platform-issued ExternalId and check who we are (sts:GetCallerIdentity).
//! Only the account and ARN come back; the credentials stay in the adapter.

use jobs_domain::StepError;
use jobs_domain::identity::session_name;
use serde_json::{Value, json};

use super::{JobRef, identity_of, input, run_step, step_name};
use crate::deps::StepDeps;

pub async fn handle(deps: &StepDeps, payload: Value) -> Result<Value, StepError> {
    let input: JobRef = input("VerifyIdentity", payload)?;
    let step = step_name(&input.step, "VerifyIdentity");
    run_step(deps, &input.job_id, &step, |job| async move {
        let identity = identity_of(deps, &job).await?;
        let caller = deps
            .verifier
            .verify(&identity, &session_name(&job.id))
            .await?;
        tracing::info!(job_id = %job.id, account = %caller.account, "identity verified");
        Ok(json!({"account": caller.account, "arn": caller.arn}))
    })
    .await
}
