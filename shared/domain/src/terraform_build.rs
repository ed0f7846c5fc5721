//! What a Terraform build reports, from sources that exist on AWS as well
//! as locally (`infra/buildspec/terraform-run.sh` writes them beside the
//! job's configuration): its progress while it runs (build id, where its
//! log is, the plan's summary once planned) and its result when it ends
//! (exit status, Terraform's `Error:` diagnostics, the output's tail). And
//! what a person reads when a build failed: the result, or, when a build
//! died before writing it, the Cause Step Functions gives a failed
//! `codebuild:startBuild.sync` task, which is the `Build` object as JSON
//! (its failed phase's context and where its log is), never the log itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `terraform plan` would do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub add: u32,
    pub change: u32,
    pub destroy: u32,
}

impl PlanSummary {
    /// From the three numbers the build exports (`TF_PLAN_ADD`, …); `None`
    /// unless all three are there.
    pub fn from_counts(
        add: Option<&str>,
        change: Option<&str>,
        destroy: Option<&str>,
    ) -> Option<PlanSummary> {
        Some(PlanSummary {
            add: add?.trim().parse().ok()?,
            change: change?.trim().parse().ok()?,
            destroy: destroy?.trim().parse().ok()?,
        })
    }
}

/// A Terraform build as a job's step shows it: the build, where its log
/// is, and its plan once planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// CodeBuild's build id (`project:uuid`).
    pub id: String,
    /// The CloudWatch Logs group and stream of its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
}

impl BuildInfo {
    /// Parses the progress object a running build writes; `None` when it is
    /// not one.
    pub fn parse_progress(bytes: &[u8]) -> Option<BuildInfo> {
        let info: BuildInfo = serde_json::from_str(&String::from_utf8_lossy(bytes)).ok()?;
        (!info.id.is_empty()).then_some(info)
    }
}

/// The result object a Terraform build writes (`TF_RESULT_S3_URI`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TerraformResult {
    /// apply, destroy or plan.
    #[serde(default)]
    pub action: String,
    /// The build's exit status (0 = success).
    pub exit_status: i32,
    /// Terraform's diagnostics (`Error:` blocks), as printed.
    #[serde(default)]
    pub errors: String,
    /// The last lines the build printed.
    #[serde(default)]
    pub tail: String,
    /// The build, its log and its plan, as its progress reported them.
    #[serde(default)]
    pub build_id: String,
    #[serde(default)]
    pub log_group: Option<String>,
    #[serde(default)]
    pub log_stream: Option<String>,
    #[serde(default)]
    pub plan: Option<PlanSummary>,
}

impl TerraformResult {
    /// The build as a step shows it; `None` when the result names none.
    pub fn build(&self) -> Option<BuildInfo> {
        (!self.build_id.is_empty()).then(|| BuildInfo {
            id: self.build_id.clone(),
            log_group: self.log_group.clone().filter(|g| !g.is_empty()),
            log_stream: self.log_stream.clone().filter(|s| !s.is_empty()),
            plan: self.plan,
        })
    }

    /// Parses the object; `None` when it is not one (a person then gets
    /// the Cause's reading instead).
    pub fn parse(bytes: &[u8]) -> Option<TerraformResult> {
        serde_json::from_str(&String::from_utf8_lossy(bytes)).ok()
    }
}

/// The summary of a failed build: Terraform's own errors when the build
/// wrote its result, else what the task's Cause says.
pub fn summarize(result: Option<&TerraformResult>, cause: &str) -> String {
    if let Some(r) = result.filter(|r| r.exit_status != 0) {
        let action = if r.action.is_empty() {
            "terraform"
        } else {
            r.action.as_str()
        };
        let detail = if r.errors.trim().is_empty() {
            diagnostics(&r.tail)
        } else {
            diagnostics(&r.errors)
        };
        return format!("{action} exited with status {}:\n{detail}", r.exit_status);
    }
    let build = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| v.get("Build").cloned());
    match build {
        Some(build) => build_summary(&build),
        // Not a Build object (an older engine, a hand-made Cause): read it
        // as text.
        None => diagnostics(cause),
    }
}

/// "build ID failed in phase BUILD: Error while executing command: …;
/// log: LINK", from a `{"Build": {…}}` Cause.
fn build_summary(build: &Value) -> String {
    let id = build.get("Id").and_then(Value::as_str).unwrap_or("?");
    let failed = build
        .get("Phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| {
            p.get("PhaseStatus")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "SUCCEEDED")
        });
    let status = build
        .get("BuildStatus")
        .and_then(Value::as_str)
        .unwrap_or("FAILED");
    let mut out = format!("build {id} ended {status}");
    if let Some(p) = failed {
        let phase = p.get("PhaseType").and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!(" in phase {phase}"));
        let messages: Vec<&str> = p
            .get("Contexts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("Message").and_then(Value::as_str))
            .filter(|m| !m.is_empty())
            .collect();
        if !messages.is_empty() {
            out.push_str(": ");
            out.push_str(&messages.join("; "));
        }
    }
    if let Some(link) = build
        .get("Logs")
        .and_then(|l| l.get("DeepLink"))
        .and_then(Value::as_str)
    {
        out.push_str(&format!(" (its log: {link})"));
    }
    out
}

/// Terraform's diagnostics (`Error: …` blocks) from its output, without
/// the box-drawing margin; the output's last lines if there are none.
pub fn diagnostics(log: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TF_OUTPUT: &str = "Initializing...\nmodule.runner.aws_iam_role.exec: Creating...\n╷\n│ Error: creating Security Group (w-1): InvalidVpcID.NotFound: The vpc ID 'vpc-123' does not exist\n│ \n│   with module.runner.aws_security_group.this,\n│   on modules/fargate-runner/main.tf line 80:\n╵\nsome trailing noise\n";

    #[test]
    fn terraform_errors_come_from_the_result_object() {
        let result = TerraformResult::parse(
            serde_json::json!({"action": "apply", "exit_status": 1, "errors": TF_OUTPUT, "tail": "x"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let s = summarize(Some(&result), r#"{"Build":{"Id":"p:1"}}"#);
        assert!(s.starts_with("apply exited with status 1:"), "{s}");
        assert!(s.contains("InvalidVpcID.NotFound"), "{s}");
        assert!(
            s.contains("with module.runner.aws_security_group.this"),
            "{s}"
        );
        assert!(!s.contains("Initializing"), "{s}");
        assert!(!s.contains("trailing noise"), "{s}");
    }

    #[test]
    fn without_diagnostics_the_tail_is_the_summary() {
        let result = TerraformResult {
            action: "destroy".into(),
            exit_status: 2,
            errors: String::new(),
            tail: "a\nterraform-run: TF_CONFIG_S3_URI must be s3://bucket/key (got '')\n".into(),
            ..TerraformResult::default()
        };
        let s = summarize(Some(&result), "");
        assert!(s.starts_with("destroy exited with status 2:"), "{s}");
        assert!(s.contains("TF_CONFIG_S3_URI must be"), "{s}");
    }

    #[test]
    fn a_build_that_wrote_nothing_is_read_from_the_build_object() {
        let cause = serde_json::json!({"Build": {
            "Id": "worker-jobs-terraform:abc",
            "BuildStatus": "FAILED",
            "Phases": [
                {"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED", "Contexts": []},
                {"PhaseType": "BUILD", "PhaseStatus": "FAILED", "Contexts": [
                    {"StatusCode": "COMMAND_EXECUTION_ERROR", "Message": "Error while executing command: sh run.sh. Reason: exit status 137"}
                ]}
            ],
            "Logs": {"DeepLink": "https://console.aws.amazon.com/cloudwatch/home#logEvent:group=/aws/codebuild/p"}
        }})
        .to_string();
        // A success report (exit 0) left by an earlier build does not count.
        let stale = TerraformResult {
            exit_status: 0,
            ..TerraformResult::default()
        };
        let s = summarize(Some(&stale), &cause);
        assert_eq!(
            s,
            "build worker-jobs-terraform:abc ended FAILED in phase BUILD: Error while executing command: sh run.sh. Reason: exit status 137 (its log: https://console.aws.amazon.com/cloudwatch/home#logEvent:group=/aws/codebuild/p)"
        );
    }

    #[test]
    fn a_cause_that_is_text_is_read_for_diagnostics() {
        assert!(summarize(None, TF_OUTPUT).starts_with("Error: creating Security Group"));
        assert_eq!(TerraformResult::parse(b"not json"), None);
    }
}
