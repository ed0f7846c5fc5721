//! The integration itself: configured projects, the `startBuild.sync`
//! request (ProjectName, PLAINTEXT `EnvironmentVariablesOverride`), the
//! build's environment with CodeBuild's precedence and `CODEBUILD_*`
//! variables, and the result as AWS gives it: the `Build` object, or, for a
//! failed build, `States.TaskFailed` whose Cause is that object as JSON
//! (with the failed phase's `Contexts`), never the build's log. The log is
//! written where the project's `logs_dir` says and named in `Build.Logs`,
//! as CloudWatch Logs is on AWS. See SEMANTICS.md, "CodeBuild".

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::buildspec::{Buildspec, parse_output, script, yaml_scalar};
use super::runner::run_script;
use crate::clock::Clock;
use crate::error::{StatesError, names};
use crate::integrations::{TaskContext, TaskIntegration};
use crate::limits::{MAX_CAUSE_CHARS, tail};

/// What a build inherits from this process: a shell's basics (where its
/// tools are, a home, temporary files, locale and CA certificates). The
/// project and the request give everything else.
const BUILD_BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "USER",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

pub const START_BUILD_SYNC: &str = "arn:aws:states:::codebuild:startBuild.sync";

/// A CodeBuild project as the local engine runs it.
#[derive(Debug, Clone)]
pub struct CodeBuildProject {
    pub name: String,
    /// The buildspec file.
    pub buildspec: PathBuf,
    /// The source directory (`CODEBUILD_SRC_DIR`, the working directory).
    pub source_dir: PathBuf,
    /// The project's environment variables (below request overrides).
    pub environment: Vec<(String, String)>,
    /// Where build logs are written (`<logs_dir>/<build uuid>.log`); none
    /// kept when unset.
    pub logs_dir: Option<PathBuf>,
}

/// Where a build's output goes as it is printed, line by line: CloudWatch
/// Logs on AWS (group `/aws/codebuild/<project>`, stream the build's uuid,
/// as `Build.Logs` names them).
#[async_trait]
pub trait BuildLogSink: Send + Sync {
    async fn append(&self, group: &str, stream: &str, lines: Vec<String>);
}

/// Runs `startBuild.sync` tasks for configured projects.
pub struct CodeBuildIntegration {
    projects: HashMap<String, CodeBuildProject>,
    log_sink: Option<Arc<dyn BuildLogSink>>,
    counter: AtomicU64,
    region: String,
    account: String,
    clock: Arc<dyn Clock>,
}

impl CodeBuildIntegration {
    pub fn new(
        projects: Vec<CodeBuildProject>,
        region: &str,
        account: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CodeBuildIntegration {
            projects: projects.into_iter().map(|p| (p.name.clone(), p)).collect(),
            log_sink: None,
            counter: AtomicU64::new(0),
            region: region.to_string(),
            account: account.to_string(),
            clock,
        }
    }
}

impl CodeBuildIntegration {
    /// Sends every build's output to `sink` as it is printed.
    pub fn with_log_sink(mut self, sink: Arc<dyn BuildLogSink>) -> Self {
        self.log_sink = Some(sink);
        self
    }
}

/// Forwards a build's lines to the sink in batches (at most 200 lines or
/// 300 ms apart), without the engine's phase markers.
fn forward_lines(
    sink: Arc<dyn BuildLogSink>,
    group: String,
    stream: String,
    marker: String,
) -> (
    tokio::sync::mpsc::UnboundedSender<String>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        loop {
            let next = tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv()).await;
            let closed = matches!(next, Ok(None));
            let quiet = next.is_err();
            if let Ok(Some(line)) = next
                && !line.starts_with(&marker)
                && !(line.is_empty() && batch.is_empty())
            {
                batch.push(line);
            }
            if !batch.is_empty() && (closed || quiet || batch.len() >= 200) {
                sink.append(&group, &stream, std::mem::take(&mut batch))
                    .await;
            }
            if closed {
                break;
            }
        }
    });
    (tx, task)
}

#[async_trait]
impl TaskIntegration for CodeBuildIntegration {
    fn accepts(&self, resource: &str) -> bool {
        resource == START_BUILD_SYNC
    }

    async fn run(
        &self,
        _resource: &str,
        parameters: Value,
        ctx: &TaskContext,
    ) -> Result<Value, StatesError> {
        let project_name = parameters
            .get("ProjectName")
            .and_then(Value::as_str)
            .ok_or_else(|| StatesError::runtime("codebuild:startBuild.sync needs a ProjectName"))?;
        let project = self.projects.get(project_name).ok_or_else(|| {
            StatesError::new(
                "CodeBuild.ResourceNotFoundException",
                format!("Project cannot be found: {project_name} (sfn-local has no buildspec configured for it)"),
            )
        })?;
        let mut overrides = Vec::new();
        if let Some(list) = parameters.get("EnvironmentVariablesOverride") {
            let Some(list) = list.as_array() else {
                return Err(StatesError::runtime(
                    "EnvironmentVariablesOverride must be an array of {Name, Value, Type}",
                ));
            };
            for item in list {
                let name = item.get("Name").and_then(Value::as_str);
                let value = item.get("Value").and_then(Value::as_str);
                let kind = item
                    .get("Type")
                    .and_then(Value::as_str)
                    .unwrap_or("PLAINTEXT");
                match (name, value) {
                    (Some(n), Some(v)) if kind == "PLAINTEXT" => {
                        overrides.push((n.to_string(), v.to_string()))
                    }
                    (Some(n), Some(_)) => {
                        return Err(StatesError::runtime(format!(
                            "sfn-local supports PLAINTEXT environment overrides only; {n} has Type {kind}"
                        )));
                    }
                    _ => {
                        return Err(StatesError::runtime(
                            "each EnvironmentVariablesOverride entry needs string Name and Value",
                        ));
                    }
                }
            }
        }
        let spec_text = tokio::fs::read_to_string(&project.buildspec)
            .await
            .map_err(|e| {
                StatesError::new(
                    names::TASK_FAILED,
                    format!(
                        "cannot read the buildspec {}: {e}",
                        project.buildspec.display()
                    ),
                )
            })?;
        let spec: Buildspec = serde_yaml::from_str(&spec_text).map_err(|e| {
            StatesError::new(
                names::TASK_FAILED,
                format!(
                    "YAML_FILE_ERROR: the buildspec {} is invalid: {e}",
                    project.buildspec.display()
                ),
            )
        })?;

        let number = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let build_uuid = uuid::Uuid::new_v4();
        let build_id = format!("{project_name}:{build_uuid}");
        let build_arn = format!(
            "arn:aws:codebuild:{}:{}:build/{build_id}",
            self.region, self.account
        );
        // As in a CodeBuild container, the build sees only what it is given:
        // the basics of a shell (from this process), then, in CodeBuild's
        // precedence, buildspec variables, project variables, start-build
        // overrides. Nothing else of this process's environment leaks in.
        let mut env: BTreeMap<String, String> = BUILD_BASE_ENV
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        env.extend(
            spec.env
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), yaml_scalar(v))),
        );
        env.extend(project.environment.iter().cloned());
        env.extend(overrides.iter().cloned());
        env.insert(
            "CODEBUILD_SRC_DIR".into(),
            project.source_dir.display().to_string(),
        );
        env.insert("CODEBUILD_BUILD_ID".into(), build_id.clone());
        env.insert("CODEBUILD_BUILD_ARN".into(), build_arn.clone());
        env.insert("CODEBUILD_BUILD_NUMBER".into(), number.to_string());
        // The build's log stream, as CodeBuild names it.
        env.insert("CODEBUILD_LOG_PATH".into(), build_uuid.to_string());
        env.insert(
            "CODEBUILD_INITIATOR".into(),
            format!("states/{}", ctx.execution_name),
        );

        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let start = self.clock.now();
        let log_group = format!("/aws/codebuild/{project_name}");
        let forwarding = self.log_sink.clone().map(|sink| {
            forward_lines(
                sink,
                log_group.clone(),
                build_uuid.to_string(),
                format!("::{nonce}::"),
            )
        });
        let (lines, forwarder) = match forwarding {
            Some((tx, task)) => (Some(tx), Some(task)),
            None => (None, None),
        };
        let raw = run_script(script(&spec, &nonce), &project.source_dir, &env, lines).await;
        if let Some(task) = forwarder {
            let _ = task.await;
        }
        let raw = raw?;
        let end = self.clock.now();
        let output = String::from_utf8_lossy(&raw).into_owned();
        for line in output.lines() {
            tracing::debug!(target: "sfn_local::codebuild", build = %build_id, "{line}");
        }

        let (phases, exported) = parse_output(&spec, &output, &nonce, start, end);
        let logs = match &project.logs_dir {
            Some(dir) => keep_log(dir, &build_uuid.to_string(), &raw).await,
            None => None,
        };
        let failed = phases.iter().any(|p| p.status != "SUCCEEDED");
        let status = if failed { "FAILED" } else { "SUCCEEDED" };
        let to_ms = |t: &DateTime<Utc>| t.timestamp_millis();
        let build = json!({
            "Build": {
                "Id": build_id,
                "Arn": build_arn,
                "BuildNumber": number,
                "ProjectName": project_name,
                "BuildStatus": status,
                "BuildComplete": true,
                "CurrentPhase": "COMPLETED",
                "StartTime": to_ms(&start),
                "EndTime": to_ms(&end),
                "Initiator": format!("states/{}", ctx.execution_name),
                "Phases": phases.iter().map(|p| json!({
                    "PhaseType": p.label,
                    "PhaseStatus": p.status,
                    "StartTime": to_ms(&p.start),
                    "EndTime": to_ms(&p.end),
                    "DurationInSeconds": (p.end - p.start).num_seconds(),
                    "Contexts": p.failure.iter().map(|m| json!({
                        "StatusCode": "COMMAND_EXECUTION_ERROR",
                        "Message": m,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "Logs": {
                    "GroupName": log_group,
                    "StreamName": build_uuid.to_string(),
                    "DeepLink": logs.as_ref().map(|path| format!("file://{}", path.display())),
                },
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "EnvironmentVariables": overrides.iter().map(|(n, v)| json!({"Name": n, "Value": v, "Type": "PLAINTEXT"})).collect::<Vec<_>>(),
                },
                "ExportedEnvironmentVariables": exported.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
            }
        });
        if failed {
            // As on AWS: the Cause is the Build object, not the log.
            let cause = serde_json::to_string(&build).unwrap_or_default();
            return Err(StatesError::new(
                names::TASK_FAILED,
                tail(&cause, MAX_CAUSE_CHARS),
            ));
        }
        Ok(build)
    }
}

/// Writes a build's log to `<dir>/<stream>.log`; `None` (and a warning)
/// when it cannot.
async fn keep_log(dir: &Path, stream: &str, raw: &[u8]) -> Option<PathBuf> {
    let path = dir.join(format!("{stream}.log"));
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&path, raw).await
    }
    .await;
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!(target: "sfn_local::codebuild", "cannot keep the build log at {}: {e}", path.display());
            None
        }
    }
}
