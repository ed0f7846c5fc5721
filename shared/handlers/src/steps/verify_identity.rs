//! VerifyIdentity (CONNECTION_TEST): assume the customer's role with the
//! platform-issued ExternalId and check who we are (sts:GetCallerIdentity).
//! Only the account and ARN come back; the credentials stay in the adapter.

use jobs_domain::StepError;
use jobs_domain::identity::session_name;
use schemars::JsonSchema;
use serde::Serialize;

use super::contract::{JobRef, Step, step_name};
use super::lookup::identity_of;
use crate::deps::{Port, StepDeps};

pub struct VerifyIdentity;

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub account: String,
    pub arn: String,
}

impl Step for VerifyIdentity {
    const FUNCTION: &'static str = "worker-jobs-verify-identity";
    const USES: &'static [Port] = &[Port::Identities, Port::Verifier];
    type Input = JobRef;
    type Output = Output;

    async fn handle(deps: &StepDeps, input: JobRef) -> Result<Output, StepError> {
        let step = step_name(&input.step, "VerifyIdentity");
        deps.jobs
            .run_step(&input.job_id, &step, |job| async move {
                let identity = identity_of(deps, &job).await?;
                let caller = deps
                    .verifier()?
                    .verify(&identity, &session_name(&job.id))
                    .await?;
                tracing::info!(job_id = %job.id, account = %caller.account, "identity verified");
                Ok(Output {
                    account: caller.account,
                    arn: caller.arn,
                })
            })
            .await
    }
}
