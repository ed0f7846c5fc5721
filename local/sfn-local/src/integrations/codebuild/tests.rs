//! Tests of the CodeBuild integration: real `bash` builds in temporary
//! directories.

use std::sync::Arc;

use serde_json::json;

use super::{CodeBuildIntegration, CodeBuildProject, START_BUILD_SYNC};
use crate::clock::TokioClock;
use crate::integrations::{TaskContext, TaskIntegration};

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
            logs_dir: Some(dir.join("logs")),
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
async fn a_failed_build_is_task_failed_with_the_build_as_its_cause_and_its_log_kept() {
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
    // As on AWS, the Cause is the Build object as JSON, not the log.
    let cause: serde_json::Value = serde_json::from_str(&err.cause).expect("the Cause is JSON");
    let build = &cause["Build"];
    assert_eq!(build["BuildStatus"], "FAILED", "{cause}");
    let phases = build["Phases"].as_array().unwrap();
    let failed: Vec<_> = phases
        .iter()
        .filter(|p| p["PhaseStatus"] == "FAILED")
        .collect();
    assert_eq!(failed.len(), 1, "{cause}");
    assert_eq!(failed[0]["PhaseType"], "BUILD");
    assert_eq!(
        failed[0]["Contexts"][0],
        json!({"StatusCode": "COMMAND_EXECUTION_ERROR", "Message": "Error while executing command: false. Reason: exit status 1"})
    );
    assert!(
        !err.cause.contains("something the emulator rejected"),
        "{}",
        err.cause
    );
    // post_build ran after the failed build, as CodeBuild runs it.
    assert_eq!(phases.last().unwrap()["PhaseType"], "POST_BUILD");
    // The log is kept where Build.Logs says, whole.
    let link = build["Logs"]["DeepLink"].as_str().unwrap();
    let log = std::fs::read_to_string(link.trim_start_matches("file://")).unwrap();
    assert!(
        log.contains("Error: something the emulator rejected"),
        "{log}"
    );
    assert!(
        log.contains("post_build runs after a failed build, succeeding=0"),
        "{log}"
    );
    assert!(!log.contains("never"), "{log}");
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

// A CodeBuild container has only its image's, the project's and the
// request's variables: nothing of the engine's process leaks into a build.
#[tokio::test]
async fn a_build_sees_only_what_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let cb = project(
        dir.path(),
        r#"
version: 0.2
env:
  exported-variables: [SEEN]
phases:
  build:
    commands:
      - export SEEN="$(env | cut -d= -f1 | sort | tr '\n' ' ')"
"#,
    );
    let out = cb
        .run(START_BUILD_SYNC, json!({"ProjectName": "p"}), &ctx())
        .await
        .unwrap();
    let seen = out["Build"]["ExportedEnvironmentVariables"][0]["Value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        seen.contains("FROM_PROJECT") && seen.contains("PATH"),
        "{seen}"
    );
    // Set for this test process by cargo; a build must not see it.
    assert!(std::env::var("CARGO_PKG_NAME").is_ok());
    assert!(!seen.contains("CARGO_PKG_NAME"), "{seen}");
}
