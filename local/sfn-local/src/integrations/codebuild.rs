//! The CodeBuild integration `arn:aws:states:::codebuild:startBuild.sync`,
//! run as a local process: the named project's buildspec phases (install,
//! pre_build, build, post_build) run in one shell, in order, with the
//! project's environment and the request's `EnvironmentVariablesOverride`;
//! the result is Build-shaped (`{"Build": {…}}`) with the buildspec's
//! exported variables. A failed phase fails the task with
//! `States.TaskFailed` and that phase's output as the cause.
//!
//! Which buildspec belongs to which project name is configuration
//! ([`CodeBuildProject`]), the counterpart of the CodeBuild project that
//! points at the same buildspec in AWS.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{TaskContext, TaskIntegration};
use crate::clock::Clock;
use crate::error::{StatesError, names};
use crate::limits::{MAX_CAUSE_CHARS, tail};

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
}

/// Runs `startBuild.sync` tasks for configured projects.
pub struct CodeBuildIntegration {
    projects: HashMap<String, CodeBuildProject>,
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
            counter: AtomicU64::new(0),
            region: region.to_string(),
            account: account.to_string(),
            clock,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct Buildspec {
    #[serde(default)]
    env: BuildspecEnv,
    #[serde(default)]
    phases: BTreeMap<String, Phase>,
}

#[derive(Debug, Deserialize, Default)]
struct BuildspecEnv {
    #[serde(default)]
    variables: BTreeMap<String, serde_yaml::Value>,
    #[serde(default, rename = "exported-variables")]
    exported_variables: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
struct Phase {
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    finally: Vec<String>,
}

const PHASES: [(&str, &str); 4] = [
    ("install", "INSTALL"),
    ("pre_build", "PRE_BUILD"),
    ("build", "BUILD"),
    ("post_build", "POST_BUILD"),
];

fn yaml_scalar(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

/// Writes the script that runs the phases in one shell (buildspec version
/// 0.2 keeps shell state across commands), printing a marker with `nonce`
/// at each phase boundary so that the output can be split per phase.
fn script(spec: &Buildspec, nonce: &str) -> String {
    let mut s = String::new();
    s.push_str("exec 2>&1\n");
    s.push_str(&format!(
        "__sfn_mark() {{ printf '\\n::{nonce}::%s::%s\\n' \"$1\" \"$2\"; }}\n"
    ));
    s.push_str("__sfn_ok=1\n__sfn_build_ran=0\nexport CODEBUILD_BUILD_SUCCEEDING=1\n");
    for (key, label) in PHASES {
        let Some(phase) = spec.phases.get(key) else {
            continue;
        };
        let guard = if key == "post_build" {
            "[ \"$__sfn_build_ran\" = 1 ] || [ \"$__sfn_ok\" = 1 ]"
        } else {
            "[ \"$__sfn_ok\" = 1 ]"
        };
        s.push_str(&format!("if {guard}; then\n"));
        if key == "build" {
            s.push_str("__sfn_build_ran=1\n");
        }
        s.push_str(&format!("__sfn_mark {label} START\n"));
        let body = if phase.commands.is_empty() {
            "true".to_string()
        } else {
            phase
                .commands
                .iter()
                .map(|c| format!("{{ {c}\n}}"))
                .collect::<Vec<_>>()
                .join(" && ")
        };
        s.push_str(&format!(
            "if {body}; then __sfn_mark {label} SUCCEEDED; else __sfn_rc=$?; __sfn_ok=0; export CODEBUILD_BUILD_SUCCEEDING=0; __sfn_mark {label} \"FAILED:$__sfn_rc\"; fi\n"
        ));
        for c in &phase.finally {
            s.push_str(&format!("{{ {c}\n}} || true\n"));
        }
        s.push_str("fi\n");
    }
    for name in &spec.env.exported_variables {
        s.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then printf '\\n::{nonce}::EXPORT::%s::%s\\n' '{name}' \"$(printf %s \"${{{name}}}\" | base64 | tr -d '\\n')\"; fi\n"
        ));
    }
    s.push_str("exit 0\n");
    s
}

struct PhaseRecord {
    label: String,
    status: String,
    output: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
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
        // Precedence as in CodeBuild: start-build overrides, then project,
        // then buildspec variables.
        let mut env: BTreeMap<String, String> = spec
            .env
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), yaml_scalar(v)))
            .collect();
        env.extend(project.environment.iter().cloned());
        env.extend(overrides.iter().cloned());
        env.insert(
            "CODEBUILD_SRC_DIR".into(),
            project.source_dir.display().to_string(),
        );
        env.insert("CODEBUILD_BUILD_ID".into(), build_id.clone());
        env.insert("CODEBUILD_BUILD_ARN".into(), build_arn.clone());
        env.insert("CODEBUILD_BUILD_NUMBER".into(), number.to_string());
        env.insert(
            "CODEBUILD_INITIATOR".into(),
            format!("states/{}", ctx.execution_name),
        );

        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let start = self.clock.now();
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(script(&spec, &nonce))
            .current_dir(&project.source_dir)
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| StatesError::new(names::TASK_FAILED, format!("cannot start bash: {e}")))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| StatesError::runtime("no stdout"))?;
        // The build runs in its own task, which owns the process: if this
        // task is dropped (a timeout, StopExecution), the build is asked to
        // stop (SIGINT to its process group, as an operator's Ctrl-C: tools
        // such as Terraform then finish the call in flight, save their state
        // and release their locks) while its output is still read, and is
        // killed only after a grace period.
        let stop = CancellationToken::new();
        let stopping = stop.clone();
        let group = child.id();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // If this task is dropped before the build ends (the runtime
            // shuts down), nothing of the build may keep running.
            let mut orphan_guard = KillGroupOnDrop(group);
            let reader = async {
                let mut raw = Vec::new();
                let _ = stdout.read_to_end(&mut raw).await;
                raw
            };
            let stopper = async {
                stopping.cancelled().await;
                signal_group(group, Signal::SIGINT);
                tokio::time::sleep(STOP_GRACE).await;
                signal_group(group, Signal::SIGKILL);
                std::future::pending::<()>().await;
            };
            let raw = tokio::select! {
                raw = reader => raw,
                _ = stopper => Vec::new(),
            };
            let _ = child.wait().await;
            orphan_guard.0 = None;
            let _ = done_tx.send(raw);
        });
        let guard = stop.drop_guard();
        let raw = done_rx.await.map_err(|_| {
            StatesError::new(
                names::TASK_FAILED,
                "the build's runner task ended without a result",
            )
        })?;
        guard.disarm();
        let end = self.clock.now();
        let output = String::from_utf8_lossy(&raw).into_owned();
        for line in output.lines() {
            tracing::debug!(target: "sfn_local::codebuild", build = %build_id, "{line}");
        }

        let (phases, exported) = parse_output(&output, &nonce, start, end);
        let failed = phases.iter().find(|p| p.status != "SUCCEEDED");
        let status = if failed.is_some() {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        if let Some(p) = failed {
            let cause = format!(
                "Build {build_id} failed in phase {} ({}):\n{}",
                p.label,
                p.status,
                tail(p.output.trim(), MAX_CAUSE_CHARS - 200)
            );
            return Err(StatesError::new(names::TASK_FAILED, cause));
        }
        let to_ms = |t: &DateTime<Utc>| t.timestamp_millis();
        Ok(json!({
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
                })).collect::<Vec<_>>(),
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "EnvironmentVariables": overrides.iter().map(|(n, v)| json!({"Name": n, "Value": v, "Type": "PLAINTEXT"})).collect::<Vec<_>>(),
                },
                "ExportedEnvironmentVariables": exported.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
            }
        }))
    }
}

/// How long a stopped build may take to wind down before it is killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(90);

/// Kills a build's process group when dropped, unless emptied first.
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        signal_group(self.0, Signal::SIGKILL);
    }
}

/// Sends a signal to a build's whole process group (the build's shell is
/// the group's leader, so its group id is its process id).
fn signal_group(group: Option<u32>, signal: Signal) {
    if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

fn parse_output(
    output: &str,
    nonce: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (Vec<PhaseRecord>, Vec<(String, String)>) {
    let marker = format!("::{nonce}::");
    let mut phases: Vec<PhaseRecord> = Vec::new();
    let mut exported = Vec::new();
    let mut current: Option<PhaseRecord> = None;
    for line in output.lines() {
        let Some(rest) = line.strip_prefix(&marker) else {
            if let Some(p) = current.as_mut() {
                p.output.push_str(line);
                p.output.push('\n');
            }
            continue;
        };
        let mut parts = rest.splitn(3, "::");
        let (a, b) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if a == "EXPORT" {
            let value = parts.next().unwrap_or("");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
                .unwrap_or_default();
            exported.push((b.to_string(), decoded));
        } else if b == "START" {
            current = Some(PhaseRecord {
                label: a.to_string(),
                status: "IN_PROGRESS".into(),
                output: String::new(),
                start,
                end,
            });
        } else if let Some(mut p) = current.take() {
            p.status = if b == "SUCCEEDED" {
                "SUCCEEDED".into()
            } else {
                format!("FAILED (exit status {})", b.trim_start_matches("FAILED:"))
            };
            phases.push(p);
        }
    }
    if let Some(mut p) = current.take() {
        // The shell ended inside a phase (e.g. a command called `exit`).
        p.status = "FAILED (the shell exited during the phase)".into();
        phases.push(p);
    }
    (phases, exported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;

    fn project(dir: &std::path::Path, spec: &str) -> CodeBuildIntegration {
        let buildspec = dir.join("buildspec.yml");
        std::fs::write(&buildspec, spec).unwrap();
        CodeBuildIntegration::new(
            vec![CodeBuildProject {
                name: "p".into(),
                buildspec,
                source_dir: dir.to_path_buf(),
                environment: vec![
                    ("FROM_PROJECT".into(), "project".into()),
                    ("BOTH".into(), "project".into()),
                ],
            }],
            "us-east-1",
            "123456789012",
            Arc::new(TokioClock::new()),
        )
    }

    fn ctx() -> TaskContext {
        TaskContext {
            execution_arn: "arn".into(),
            execution_name: "exec".into(),
            state_name: "Build".into(),
        }
    }

    // AWS CodeBuild "Build specification reference": phases run in order in
    // one shell (version 0.2), env precedence start-build > project >
    // buildspec, exported-variables are returned with the build.
    #[tokio::test]
    async fn phases_run_in_one_shell_and_export_variables() {
        let dir = tempfile::tempdir().unwrap();
        let cb = project(
            dir.path(),
            r#"
version: 0.2
env:
  variables:
    FROM_SPEC: spec
    BOTH: spec
  exported-variables: [RESULT, MISSING]
phases:
  install:
    commands:
      - export STEP=installed
      - cd "$CODEBUILD_SRC_DIR" && mkdir -p sub && cd sub
  build:
    commands:
      - export RESULT="$STEP/$FROM_SPEC/$FROM_PROJECT/$BOTH/$OVERRIDE/$(basename "$PWD")"
"#,
        );
        let out = cb
            .run(
                START_BUILD_SYNC,
                json!({"ProjectName": "p", "EnvironmentVariablesOverride": [
                    {"Name": "OVERRIDE", "Value": "req", "Type": "PLAINTEXT"},
                    {"Name": "BOTH", "Value": "req"}]}),
                &ctx(),
            )
            .await
            .unwrap();
        let build = &out["Build"];
        assert_eq!(build["BuildStatus"], "SUCCEEDED");
        assert_eq!(
            build["ExportedEnvironmentVariables"],
            json!([{"Name": "RESULT", "Value": "installed/spec/project/req/req/sub"}])
        );
        let phases: Vec<&str> = build["Phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["PhaseType"].as_str().unwrap())
            .collect();
        assert_eq!(phases, ["INSTALL", "BUILD"]);
    }

    #[tokio::test]
    async fn a_failed_phase_is_task_failed_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let cb = project(
            dir.path(),
            r#"
version: 0.2
phases:
  pre_build:
    commands:
      - echo preparing
  build:
    commands:
      - 'echo "Error: something the emulator rejected" >&2'
      - false
      - echo never
  post_build:
    commands:
      - echo "post_build runs after a failed build, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"#,
        );
        let err = cb
            .run(START_BUILD_SYNC, json!({"ProjectName": "p"}), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.error, "States.TaskFailed");
        assert!(err.cause.contains("phase BUILD"), "{}", err.cause);
        assert!(
            err.cause.contains("Error: something the emulator rejected"),
            "{}",
            err.cause
        );
        assert!(!err.cause.contains("never"), "{}", err.cause);
        assert!(
            !err.cause.contains("preparing"),
            "only the failed phase's output: {}",
            err.cause
        );
    }

    // A dropped task (timeout, StopExecution) interrupts the build's own
    // process group, the way Ctrl-C does, so that tools can clean up.
    #[tokio::test]
    async fn a_dropped_build_is_interrupted_gracefully() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("interrupted");
        let cb = project(
            dir.path(),
            &format!(
                "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        trap 'echo cleaned-up > {}; exit 1' INT\n        sleep 30 &\n        wait\n",
                mark.display()
            ),
        );
        let task_ctx = ctx();
        let run = cb.run(START_BUILD_SYNC, json!({"ProjectName": "p"}), &task_ctx);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(500), run)
                .await
                .is_err(),
            "still building"
        );
        for _ in 0..50 {
            if mark.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(std::fs::read_to_string(&mark).unwrap().trim(), "cleaned-up");
    }

    #[tokio::test]
    async fn unknown_projects_and_secret_overrides_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cb = project(dir.path(), "version: 0.2\nphases: {}\n");
        let err = cb
            .run(START_BUILD_SYNC, json!({"ProjectName": "nope"}), &ctx())
            .await
            .unwrap_err();
        assert_eq!(err.error, "CodeBuild.ResourceNotFoundException");
        let err = cb
            .run(
                START_BUILD_SYNC,
                json!({"ProjectName": "p", "EnvironmentVariablesOverride": [{"Name": "S", "Value": "x", "Type": "SECRETS_MANAGER"}]}),
                &ctx(),
            )
            .await
            .unwrap_err();
        assert!(err.cause.contains("PLAINTEXT"), "{}", err.cause);
    }
}
