//! Where things are: the repository root, the project venv, the provider
//! mirror.

use std::path::{Path, PathBuf};

use crate::{LocalError, Result};

/// The repository root: `WORKER_JOBS_ROOT`, or two levels above this crate
/// (`local/stack/`).
pub fn root() -> PathBuf {
    std::env::var_os("WORKER_JOBS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
}

/// The project's Python venv (moto, awscli), made by `local/setup.sh`.
pub fn venv() -> PathBuf {
    std::env::var_os("WORKER_JOBS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".local/venv"))
}

/// Where the local engine keeps Terraform build logs (named by each
/// failed or finished build's `Build.Logs.DeepLink`).
pub fn build_logs() -> PathBuf {
    root().join(".local/build-logs")
}

/// A program from the venv, with a message saying how to get it if absent.
pub fn venv_bin(name: &str) -> Result<PathBuf> {
    let p = venv().join("bin").join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(LocalError::Setup(format!(
            "{} is missing: run local/setup.sh (the README's commands do) to create the project venv with moto and the AWS CLI",
            p.display()
        )))
    }
}

/// The unpacked Terraform provider mirror shipped on the machine image.
pub fn provider_mirror() -> Result<PathBuf> {
    let candidates = std::env::var_os("TF_PROVIDER_MIRROR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/opt/tf-plugins")]);
    for c in candidates {
        if c.join("registry.terraform.io/hashicorp/aws").is_dir() {
            return Ok(c);
        }
    }
    Err(LocalError::Setup(
        "no Terraform provider mirror with hashicorp/aws found (set TF_PROVIDER_MIRROR to its directory)".into(),
    ))
}
