//! What the Terraform build (`codebuild:startBuild.sync`) passes on to the
//! step after it: its id, times and exported variables (the Terraform
//! outputs the buildspec exports as `TF_OUT_*`), as the Task's
//! `ResultSelector` picks them from `$.Build`; and recording the build as a
//! step of the job, since it is not a Lambda function and cannot record
//! itself.

use jobs_domain::StepError;
use jobs_domain::terraform_build::{BuildInfo, PlanSummary};
use jobs_domain::worker::WorkerOutputs;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::job_service::{JobService, Write};

/// The Terraform Task's `ResultSelector` output.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct BuildFacts {
    #[serde(default)]
    pub build_id: Option<String>,
    /// Epoch milliseconds (CodeBuild's `StartTime` / `EndTime`).
    #[serde(default)]
    pub started_ms: Option<f64>,
    #[serde(default)]
    pub ended_ms: Option<f64>,
    #[serde(default)]
    pub exported: Vec<Exported>,
    /// Where the build's output is (CodeBuild's `Build.Logs`).
    #[serde(default)]
    pub logs: Option<BuildLogs>,
}

/// CodeBuild's `Build.Logs`: the CloudWatch Logs group and stream.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct BuildLogs {
    #[serde(rename = "GroupName", default)]
    pub group_name: Option<String>,
    #[serde(rename = "StreamName", default)]
    pub stream_name: Option<String>,
}

/// One of CodeBuild's `ExportedEnvironmentVariables`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Exported {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value")]
    pub value: String,
}

impl BuildFacts {
    fn get(&self, name: &str) -> Option<&str> {
        self.exported
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The build as its step shows it: id, log, and the plan it exported
    /// (`TF_PLAN_ADD`, `TF_PLAN_CHANGE`, `TF_PLAN_DESTROY`).
    pub fn info(&self) -> Option<BuildInfo> {
        let logs = self.logs.clone().unwrap_or_default();
        Some(BuildInfo {
            id: self.build_id.clone()?,
            log_group: logs.group_name,
            log_stream: logs.stream_name,
            plan: PlanSummary::from_counts(
                self.get("TF_PLAN_ADD"),
                self.get("TF_PLAN_CHANGE"),
                self.get("TF_PLAN_DESTROY"),
            ),
        })
    }

    /// The worker's Terraform outputs; every one must have been exported.
    pub fn outputs(&self) -> Result<WorkerOutputs, StepError> {
        let need = |n: &str| {
            self.get(n).map(str::to_string).ok_or_else(|| {
                StepError::internal(format!("the Terraform build did not export {n}"))
            })
        };
        Ok(WorkerOutputs {
            cluster_arn: need("TF_OUT_CLUSTER_ARN")?,
            service_name: need("TF_OUT_SERVICE_NAME")?,
            secret_arn: need("TF_OUT_SECRET_ARN")?,
            task_definition_arn: need("TF_OUT_TASK_DEFINITION_ARN")?,
            log_group_name: need("TF_OUT_LOG_GROUP_NAME")?,
        })
    }
}

/// Records the Terraform build as step `step` of the job, with its own
/// times (now, where the build did not report them).
pub async fn record_build(
    jobs: &JobService,
    job_id: &str,
    step: &str,
    facts: &BuildFacts,
) -> Result<(), StepError> {
    let to_time =
        |ms: Option<f64>| ms.and_then(|m| chrono::DateTime::from_timestamp_millis(m as i64));
    let now = jobs.now();
    let started = to_time(facts.started_ms).unwrap_or(now);
    let ended = to_time(facts.ended_ms).unwrap_or(now);
    let info = facts.info();
    jobs.modify(job_id, |job| {
        job.record_step(step, started, ended, true);
        if let Some(info) = &info {
            job.set_build(step, info.clone(), now);
        }
        Ok(Write::Yes)
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, &str)]) -> BuildFacts {
        BuildFacts {
            exported: pairs
                .iter()
                .map(|(n, v)| Exported {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            ..BuildFacts::default()
        }
    }

    #[test]
    fn every_output_must_be_exported_and_non_empty() {
        let all = [
            ("TF_OUT_CLUSTER_ARN", "c"),
            ("TF_OUT_SERVICE_NAME", "s"),
            ("TF_OUT_SECRET_ARN", "sec"),
            ("TF_OUT_TASK_DEFINITION_ARN", "td"),
            ("TF_OUT_LOG_GROUP_NAME", "lg"),
        ];
        assert_eq!(facts(&all).outputs().unwrap().secret_arn, "sec");
        let mut missing = all.to_vec();
        missing[2].1 = "";
        let e = facts(&missing).outputs().unwrap_err();
        assert!(e.message.contains("TF_OUT_SECRET_ARN"), "{e}");
    }
}
