//! Runs the Terraform step's script outside a job: a drift check (`plan`)
//! of a deployed worker, with the same configuration, backend and
//! environment as its build.

use std::process::Stdio;

use crate::aws_env::child_env;
use crate::stack::{CONFIG_BUCKET, LocalStack};
use crate::{LocalError, Result, paths};

/// `terraform plan` of worker `name`: `Ok(true)` when its stack matches
/// its configuration, `Ok(false)` when Terraform would change something;
/// the output comes with both.
pub async fn plan_is_clean(stack: &LocalStack, name: &str) -> Result<(bool, String)> {
    let worker = stack
        .workers
        .get(name)
        .await?
        .ok_or_else(|| LocalError::Setup(format!("no worker {name}")))?;
    let key = worker
        .config_key
        .ok_or_else(|| LocalError::Setup(format!("worker {name} has no configuration")))?;
    let root = paths::root();
    let exports =
        std::env::temp_dir().join(format!("plan-{name}-{}.env", uuid::Uuid::new_v4().simple()));
    let path = format!(
        "{}:{}",
        paths::venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("sh")
        .arg(root.join("infra/buildspec/terraform-run.sh"))
        .arg("run")
        .arg(&exports)
        .envs(child_env(&stack.aws_endpoint))
        .env("PATH", path)
        .env("TF_PROVIDER_MIRROR", paths::provider_mirror()?)
        .env("TF_ACTION", "plan")
        .env("TF_CONFIG_S3_URI", format!("s3://{CONFIG_BUCKET}/{key}"))
        .env("WORKER_NAME", name)
        .env("CODEBUILD_SRC_DIR", &root)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| LocalError::Setup(format!("running terraform plan: {e}")))?;
    let _ = std::fs::remove_file(&exports);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok((true, text)),
        Some(3) => Ok((false, text)),
        _ => Err(LocalError::Setup(format!("terraform plan failed:\n{text}"))),
    }
}
