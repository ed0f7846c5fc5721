//! The build process: the buildspec's script runs in `bash` in its own
//! process group. Dropping the build (a task timeout, StopExecution) asks it
//! to stop the way an operator's Ctrl-C does and kills it only after a grace
//! period; nothing of a build outlives the runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use crate::error::{StatesError, names};

/// Runs `script` with `bash -c` in `dir` with `env` (and nothing else of
/// this process's environment) and answers everything
/// it printed on stdout (the script sends stderr there too). Each line is
/// also sent to `lines` as it comes, for a live log.
pub(super) async fn run_script(
    script: String,
    dir: &Path,
    env: &BTreeMap<String, String>,
    lines: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) -> Result<Vec<u8>, StatesError> {
    let mut child = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| StatesError::new(names::TASK_FAILED, format!("cannot start bash: {e}")))?;
    let stdout = child
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
            let mut out = tokio::io::BufReader::new(stdout);
            loop {
                let start = raw.len();
                match out.read_until(b'\n', &mut raw).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(tx) = &lines {
                            let line = String::from_utf8_lossy(&raw[start..]);
                            let _ = tx.send(line.trim_end_matches(['\n', '\r']).to_string());
                        }
                    }
                }
            }
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
    Ok(raw)
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
