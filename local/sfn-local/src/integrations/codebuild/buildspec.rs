//! Buildspecs (AWS CodeBuild "Build specification reference", version 0.2):
//! the parts the local runner honours (env variables, exported-variables,
//! the install/pre_build/build/post_build phases with their `finally`
//! blocks), the one-shell script they become, and the split of that
//! script's output back into phases and exported variables.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
pub(super) struct Buildspec {
    #[serde(default)]
    pub(super) env: BuildspecEnv,
    #[serde(default)]
    phases: BTreeMap<String, Phase>,
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct BuildspecEnv {
    #[serde(default)]
    pub(super) variables: BTreeMap<String, serde_yaml::Value>,
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

pub(super) fn yaml_scalar(v: &serde_yaml::Value) -> String {
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
pub(super) fn script(spec: &Buildspec, nonce: &str) -> String {
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
        // `__sfn_cmd` names the command that failed, as CodeBuild's phase
        // context does ("Error while executing command: …").
        let body = if phase.commands.is_empty() {
            "true".to_string()
        } else {
            phase
                .commands
                .iter()
                .enumerate()
                .map(|(i, c)| format!("__sfn_cmd={i} && {{ {c}\n}}"))
                .collect::<Vec<_>>()
                .join(" && ")
        };
        s.push_str(&format!(
            "if {body}; then __sfn_mark {label} SUCCEEDED; else __sfn_rc=$?; __sfn_ok=0; export CODEBUILD_BUILD_SUCCEEDING=0; __sfn_mark {label} \"FAILED:$__sfn_rc:$__sfn_cmd\"; fi\n"
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

pub(super) struct PhaseRecord {
    pub(super) label: String,
    /// CodeBuild's PhaseStatus: SUCCEEDED or FAILED.
    pub(super) status: &'static str,
    /// Why a failed phase failed, as CodeBuild's phase `Contexts` say it.
    pub(super) failure: Option<String>,
    pub(super) output: String,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
}

impl Buildspec {
    /// The text of command `index` of the phase labelled `label`.
    pub(super) fn command(&self, label: &str, index: usize) -> Option<&str> {
        let (key, _) = PHASES.iter().find(|(_, l)| *l == label)?;
        self.phases
            .get(*key)?
            .commands
            .get(index)
            .map(String::as_str)
    }
}

pub(super) fn parse_output(
    spec: &Buildspec,
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
                status: "IN_PROGRESS",
                failure: None,
                output: String::new(),
                start,
                end,
            });
        } else if let Some(mut p) = current.take() {
            if b == "SUCCEEDED" {
                p.status = "SUCCEEDED";
            } else {
                let mut f = b.trim_start_matches("FAILED:").splitn(2, ':');
                let code = f.next().unwrap_or("?");
                let command = f
                    .next()
                    .and_then(|i| i.parse().ok())
                    .and_then(|i| spec.command(&p.label, i))
                    .unwrap_or("?");
                p.status = "FAILED";
                p.failure = Some(format!(
                    "Error while executing command: {command}. Reason: exit status {code}"
                ));
            }
            phases.push(p);
        }
    }
    if let Some(mut p) = current.take() {
        // The shell ended inside a phase: killed, or a command called `exit`.
        p.status = "FAILED";
        p.failure = Some(
            "The build's shell ended during the phase (it was killed, or a command called exit)"
                .into(),
        );
        phases.push(p);
    }
    (phases, exported)
}
