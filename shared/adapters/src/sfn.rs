//! Starts job executions with the real Step Functions API (AWS, or the
//! local engine through `AWS_ENDPOINT_URL`).

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use jobs_domain::StepError;
use jobs_domain::ports::{ExecutionStarter, PortResult};
use serde_json::Value;

use crate::aws::{classify, error_code};

pub struct SfnExecutionStarter {
    client: Client,
    /// State machine ARNs are this prefix followed by the machine name
    /// (e.g. `arn:aws:states:eu-west-1:123456789012:stateMachine:worker-jobs-`).
    arn_prefix: String,
}

impl SfnExecutionStarter {
    pub fn new(client: Client, arn_prefix: impl Into<String>) -> Self {
        SfnExecutionStarter {
            client,
            arn_prefix: arn_prefix.into(),
        }
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        format!("{}{name}", self.arn_prefix)
    }
}

#[async_trait]
impl ExecutionStarter for SfnExecutionStarter {
    async fn start(&self, state_machine: &str, job_id: &str, input: &Value) -> PortResult<String> {
        let arn = self.state_machine_arn(state_machine);
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&arn)
            .name(job_id)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.execution_arn),
            // Same name, execution already finished: it ran; answer its ARN.
            Err(e) if error_code(&e) == Some("ExecutionAlreadyExists") => {
                let machine = arn
                    .rsplit_once(":stateMachine:")
                    .map(|(p, n)| (p.to_string(), n.to_string()));
                match machine {
                    Some((prefix, name)) => Ok(format!("{prefix}:execution:{name}:{job_id}")),
                    None => Err(StepError::internal(format!(
                        "unexpected state machine ARN {arn}"
                    ))),
                }
            }
            Err(e) => Err(classify(
                &format!("starting {state_machine} for job {job_id}"),
                e,
            )),
        }
    }
}
