//! moto in server mode on a free loopback port (`local/moto_server.py`: moto
//! with atomic DynamoDB conditional writes): a fresh emulator per stack (all
//! its state is in memory), stopped by its PID when dropped.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::paths::venv_bin;
use crate::{LocalError, Result};

pub struct MotoServer {
    child: Option<Child>,
    pub port: u16,
}

/// A free port on 127.0.0.1 (bound and released; the emulator binds it next).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| LocalError::Setup(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LocalError::Setup(e.to_string()))
}

impl MotoServer {
    /// Starts moto and waits until it answers.
    pub async fn start() -> Result<MotoServer> {
        // moto_server, with DynamoDB's conditional writes made atomic (see
        // the script's header).
        let bin = venv_bin("python3")?;
        let script = crate::paths::root().join("local/moto_server.py");
        let port = free_port()?;
        let child = Command::new(&bin)
            .arg(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_ECS_SERVICE_RUNNING", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LocalError::Moto(format!("cannot start {}: {e}", bin.display())))?;
        let server = MotoServer {
            child: Some(child),
            port,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client
                .get(format!("{}/moto-api/", server.endpoint()))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(LocalError::Moto(format!(
                    "moto did not answer on port {port} within 60 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(port, "moto started");
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Stops the emulator and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
