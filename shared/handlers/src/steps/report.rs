//! ReportSuccess and ReportFailure: the last word on a job. Both are
//! idempotent: a job already in the state they would set is left alone.
//! ReportFailure turns whatever Step Functions caught (`{Error, Cause}`)
//! into an error code and a message a person can act on.

use jobs_domain::job::{JobError, JobStatus, StepStatus};
use jobs_domain::{ErrorKind, StepError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contract::{Step, step_name};
use crate::deps::StepDeps;
use crate::job_service::Write;

/// The longest error message kept on a job.
const MAX_MESSAGE: usize = 4000;

pub struct ReportSuccess;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuccessInput {
    pub job_id: String,
    #[serde(default)]
    pub step: Option<String>,
    /// The job's small result (ids and counts, never blobs).
    #[serde(default)]
    pub result: Value,
}

/// What both report steps answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Reported {
    pub job_id: String,
    pub status: String,
    /// ReportFailure: the error code stored on the job.
    pub code: Option<String>,
}

impl Step for ReportSuccess {
    const FUNCTION: &'static str = "worker-jobs-report-success";
    type Input = SuccessInput;
    type Output = Reported;

    async fn handle(deps: &StepDeps, input: SuccessInput) -> Result<Reported, StepError> {
        let step = step_name(&input.step, "ReportSuccess");
        let now = deps.jobs.now();
        let job = deps
            .jobs
            .modify(&input.job_id, |job| match job.status {
                JobStatus::Running => {
                    job.start_step(&step, now);
                    job.end_step(&step, true, now);
                    job.status = JobStatus::Success;
                    job.result = Some(input.result.clone());
                    Ok(Write::Yes)
                }
                JobStatus::Success => Ok(Write::No),
                other => Err(StepError::internal(format!(
                    "job {} is {other}; it cannot succeed now",
                    job.id
                ))),
            })
            .await?;
        tracing::info!(job_id = %job.id, job_type = %job.job_type, "job succeeded");
        Ok(Reported {
            job_id: job.id,
            status: job.status.as_str().into(),
            code: None,
        })
    }
}

/// What a Catch put at `$.error`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Caught {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

pub struct ReportFailure;

/// ReportFailure gets the whole state (`$`): the job id, the caught error
/// and, for steps that are not Lambda functions, which step failed. Other
/// fields of the state are ignored.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FailureInput {
    pub job_id: String,
    #[serde(default)]
    pub error: Caught,
    #[serde(default)]
    pub failed_step: Option<String>,
}

impl Step for ReportFailure {
    const FUNCTION: &'static str = "worker-jobs-report-failure";
    type Input = FailureInput;
    type Output = Reported;

    async fn handle(deps: &StepDeps, input: FailureInput) -> Result<Reported, StepError> {
        let described = describe(
            &input.error.error,
            &input.error.cause,
            input.failed_step.as_deref(),
        );
        let now = deps.jobs.now();
        let job = deps
            .jobs
            .modify(&input.job_id, |job| {
                if job.status.is_terminal() {
                    return Ok(Write::No);
                }
                if let Some(step) = &input.failed_step {
                    if !job.steps.iter().any(|s| &s.name == step) {
                        job.start_step(step, now);
                    }
                    job.end_step(step, false, now);
                }
                job.fail_running_steps(now);
                job.status = JobStatus::Failed;
                job.error = Some(described.clone());
                Ok(Write::Yes)
            })
            .await?;
        let failed_steps: Vec<&str> = job
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .map(|s| s.name.as_str())
            .collect();
        tracing::warn!(job_id = %job.id, code = %described.code, steps = ?failed_steps, "job failed");
        Ok(Reported {
            job_id: job.id.clone(),
            status: job.status.as_str().into(),
            code: job.error.map(|e| e.code),
        })
    }
}

/// The code and message for a caught error.
pub fn describe(error: &str, cause: &str, failed_step: Option<&str>) -> JobError {
    // A Lambda function error: Cause is {"errorType", "errorMessage"}.
    let lambda_message = serde_json::from_str::<Value>(cause).ok().and_then(|v| {
        v.get("errorMessage")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(kind) = ErrorKind::from_error_type(error) {
        return JobError {
            code: kind.code().into(),
            message: clip(lambda_message.as_deref().unwrap_or(cause)),
        };
    }
    let step = failed_step.unwrap_or("a step");
    match error {
        "States.TaskFailed" if failed_step.is_some_and(|s| s.starts_with("Terraform")) => {
            JobError {
                code: ErrorKind::Terraform.code().into(),
                message: clip(&format!("{step} failed: {}", terraform_summary(cause))),
            }
        }
        "States.Timeout" | "States.HeartbeatTimeout" => JobError {
            code: "TIMEOUT".into(),
            message: clip(&format!("{step} did not finish in time: {cause}")),
        },
        e if e.starts_with("Lambda.") => JobError {
            code: "STEP_CRASHED".into(),
            message: clip(&format!(
                "{step} crashed or could not be invoked ({e}): {}",
                lambda_message.as_deref().unwrap_or(cause)
            )),
        },
        "" => JobError {
            code: "UNKNOWN".into(),
            message: "the job failed without an error description".into(),
        },
        e => JobError {
            code: "STEP_FAILED".into(),
            message: clip(&format!(
                "{step} failed with {e}: {}",
                lambda_message.as_deref().unwrap_or(cause)
            )),
        },
    }
}

/// Terraform's diagnostics (`Error: …` blocks) from a build log, without
/// the box-drawing margin; the log's tail if there are none.
pub fn terraform_summary(log: &str) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for raw in log.lines() {
        let line = raw.trim_start_matches(['│', '╷', '╵', ' ']).trim_end();
        if line.starts_with("Error:") {
            if let Some(b) = current.take() {
                blocks.push(b.join("\n"));
            }
            current = Some(vec![line.to_string()]);
        } else if let Some(b) = current.as_mut() {
            if raw.trim_start().starts_with('╵') {
                blocks.push(b.join("\n"));
                current = None;
            } else if !line.is_empty() && b.len() < 12 {
                b.push(line.to_string());
            }
        }
    }
    if let Some(b) = current {
        blocks.push(b.join("\n"));
    }
    if blocks.is_empty() {
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(8)
            .collect();
        return tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    }
    blocks.join("\n\n")
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_errors_keep_their_kind_and_message() {
        let e = describe(
            "Fatal.AccessDenied",
            r#"{"errorType":"Fatal.AccessDenied","errorMessage":"fix the trust policy"}"#,
            None,
        );
        assert_eq!(e.code, "ACCESS_DENIED");
        assert_eq!(e.message, "fix the trust policy");
    }

    #[test]
    fn terraform_failures_are_summarised() {
        let log = "Initializing...\nmodule.runner.aws_iam_role.exec: Creating...\n╷\n│ Error: creating Security Group (w-1): InvalidVpcID.NotFound: The vpc ID 'vpc-123' does not exist\n│ \n│   with module.runner.aws_security_group.this,\n│   on modules/fargate-runner/main.tf line 80:\n╵\nsome trailing noise\n";
        let e = describe("States.TaskFailed", log, Some("TerraformApply"));
        assert_eq!(e.code, "TERRAFORM_FAILED");
        assert!(e.message.contains("InvalidVpcID.NotFound"), "{}", e.message);
        assert!(
            e.message
                .contains("with module.runner.aws_security_group.this"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("Initializing"), "{}", e.message);
    }

    #[test]
    fn other_errors() {
        assert_eq!(
            describe("States.Timeout", "x", Some("RegisterWorker")).code,
            "TIMEOUT"
        );
        assert_eq!(
            describe("Lambda.Unknown", "boom", None).code,
            "STEP_CRASHED"
        );
        assert_eq!(describe("Custom", "c", None).code, "STEP_FAILED");
    }
}
