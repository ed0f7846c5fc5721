//! ReportSuccess and ReportFailure: the last word on a job. Both are
//! idempotent: a job already in the state they would set is left alone.
//! ReportFailure turns whatever Step Functions caught (`{Error, Cause}`)
//! into an error code and a message a person can act on.

use jobs_domain::error::WireMessage;
use jobs_domain::job::{Job, JobError, JobStatus, StepStatus};
use jobs_domain::secret::redact;
use jobs_domain::terraform_build::{TerraformResult, summarize};
use jobs_domain::worker::terraform_result_key;
use jobs_domain::{ErrorKind, StepError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contract::{Step, step_name};
use crate::deps::{Port, StepDeps};
use crate::job_service::{Write, worker_of};

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
    const USES: &'static [Port] = &[];
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
    const USES: &'static [Port] = &[Port::Artifacts];
    type Input = FailureInput;
    type Output = Reported;

    async fn handle(deps: &StepDeps, input: FailureInput) -> Result<Reported, StepError> {
        let failed_step = input.failed_step.as_deref();
        let build = match deps.jobs.get(&input.job_id).await? {
            Some(job) => build_result(deps, &job, failed_step).await,
            None => None,
        };
        let described = describe(
            &input.error.error,
            &input.error.cause,
            failed_step,
            build.as_ref(),
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
                    if let Some(info) = build.as_ref().and_then(TerraformResult::build) {
                        job.set_build(step, info, now);
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

/// The result a job's Terraform build wrote, when `failed_step` is a
/// Terraform build and the object is there (a build killed outright
/// writes none; then the Cause is all there is).
pub async fn build_result(
    deps: &StepDeps,
    job: &Job,
    failed_step: Option<&str>,
) -> Option<TerraformResult> {
    if !failed_step.is_some_and(is_terraform_step) {
        return None;
    }
    let key = terraform_result_key(worker_of(job)?, &job.id);
    let artifacts = deps
        .artifacts()
        .inspect_err(|e| tracing::warn!(job_id = %job.id, "cannot read the build's result: {e}"))
        .ok()?;
    match artifacts.get(&key).await {
        Ok(Some(bytes)) => TerraformResult::parse(&bytes),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(job_id = %job.id, "cannot read the build's result {key}: {e}");
            None
        }
    }
}

fn is_terraform_step(step: &str) -> bool {
    step.starts_with("Terraform")
}

/// The code and message for a caught error; `build` is what a failed
/// Terraform build reported (see [`build_result`]).
pub fn describe(
    error: &str,
    cause: &str,
    failed_step: Option<&str>,
    build: Option<&TerraformResult>,
) -> JobError {
    // A Lambda function error: Cause is {"errorType", "errorMessage"}.
    let lambda_message = serde_json::from_str::<Value>(cause).ok().and_then(|v| {
        v.get("errorMessage")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(kind) = ErrorKind::from_error_type(error) {
        let wire = WireMessage::parse(lambda_message.as_deref().unwrap_or(cause));
        return JobError {
            code: wire.code.unwrap_or_else(|| kind.code().into()),
            message: clip(&wire.message),
            hint: wire.hint,
        };
    }
    let step = failed_step.unwrap_or("a step");
    match error {
        "States.TaskFailed" if failed_step.is_some_and(is_terraform_step) => JobError {
            hint: None,
            code: ErrorKind::Terraform.code().into(),
            // Build output is text a person wrote scripts for: whatever
            // looks like a secret in it stays out of the job record.
            message: clip(&redact(&format!(
                "{step} failed: {}",
                summarize(build, cause)
            ))),
        },
        "States.Timeout" | "States.HeartbeatTimeout" => JobError {
            hint: None,
            code: "TIMEOUT".into(),
            message: clip(&format!("{step} did not finish in time: {cause}")),
        },
        e if e.starts_with("Lambda.") => JobError {
            hint: None,
            code: "STEP_CRASHED".into(),
            message: clip(&format!(
                "{step} crashed or could not be invoked ({e}): {}",
                lambda_message.as_deref().unwrap_or(cause)
            )),
        },
        "" => JobError {
            hint: None,
            code: "UNKNOWN".into(),
            message: "the job failed without an error description".into(),
        },
        e => JobError {
            hint: None,
            code: "STEP_FAILED".into(),
            message: clip(&format!(
                "{step} failed with {e}: {}",
                lambda_message.as_deref().unwrap_or(cause)
            )),
        },
    }
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
    use serde_json::json;

    #[test]
    fn a_classified_cloud_error_keeps_its_code_and_hint() {
        let e = StepError::new(
            ErrorKind::AccessDenied,
            "Microsoft Entra ID refused the app's sign-in",
        )
        .with_remedy("AADSTS7000222", "Create a new client secret.");
        let cause =
            json!({"errorType": e.error_type(), "errorMessage": e.wire_message()}).to_string();
        let d = describe(e.error_type(), &cause, Some("VerifyIdentity"), None);
        assert_eq!(d.code, "AADSTS7000222");
        assert_eq!(d.message, "Microsoft Entra ID refused the app's sign-in");
        assert_eq!(d.hint.as_deref(), Some("Create a new client secret."));
    }

    #[test]
    fn lambda_errors_keep_their_kind_and_message() {
        let e = describe(
            "Fatal.AccessDenied",
            r#"{"errorType":"Fatal.AccessDenied","errorMessage":"fix the trust policy"}"#,
            None,
            None,
        );
        assert_eq!(e.code, "ACCESS_DENIED");
        assert_eq!(e.message, "fix the trust policy");
    }

    #[test]
    fn terraform_failures_name_the_step_and_terraform_s_error() {
        let build = TerraformResult {
            action: "apply".into(),
            exit_status: 1,
            errors: "│ Error: creating Security Group (w-1): InvalidVpcID.NotFound\n╵\n".into(),
            tail: String::new(),
            ..TerraformResult::default()
        };
        let e = describe(
            "States.TaskFailed",
            r#"{"Build":{}}"#,
            Some("TerraformApply"),
            Some(&build),
        );
        assert_eq!(e.code, "TERRAFORM_FAILED");
        assert_eq!(
            e.message,
            "TerraformApply failed: apply exited with status 1:\nError: creating Security Group (w-1): InvalidVpcID.NotFound"
        );
        let leaky = TerraformResult {
            exit_status: 1,
            errors: "│ Error: bad header: Authorization token=wjrt_abc123DEF\n╵\n".into(),
            ..TerraformResult::default()
        };
        let e = describe(
            "States.TaskFailed",
            "",
            Some("TerraformApply"),
            Some(&leaky),
        );
        assert!(!e.message.contains("wjrt_abc123DEF"), "{}", e.message);
        assert!(e.message.contains("Error: bad header"), "{}", e.message);
        let killed = describe(
            "States.TaskFailed",
            r#"{"Build":{"Id":"b:1","BuildStatus":"FAILED"}}"#,
            Some("TerraformDestroy"),
            None,
        );
        assert_eq!(
            killed.message,
            "TerraformDestroy failed: build b:1 ended FAILED"
        );
    }

    #[test]
    fn other_errors() {
        assert_eq!(
            describe("States.Timeout", "x", Some("RegisterWorker"), None).code,
            "TIMEOUT"
        );
        assert_eq!(
            describe("Lambda.Unknown", "boom", None, None).code,
            "STEP_CRASHED"
        );
        assert_eq!(describe("Custom", "c", None, None).code, "STEP_FAILED");
    }
}
