# Sourced by the scripts: the settings every command here runs with.
# Region, dummy credentials and no instance-metadata probing, so that no SDK
# ever looks for real AWS; a target directory outside the clone, so that a
# fresh clone rebuilds only the workspace's own crates.
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1
# The clone these commands run in. Binaries in the shared target directory
# may have been built from another clone (at another path) and found fresh;
# this tells them where the repository is.
WORKER_JOBS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export WORKER_JOBS_ROOT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/worker-jobs/target}
# The release builds for Lambda (local/build-lambdas.sh) keep their own.
LAMBDA_TARGET_DIR=${LAMBDA_TARGET_DIR:-$(dirname "$CARGO_TARGET_DIR")/lambda-target}
export LAMBDA_TARGET_DIR
export TF_PROVIDER_MIRROR=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
unset AWS_PROFILE AWS_SESSION_TOKEN

# The first build compiles the AWS SDKs for Rust (several minutes): show
# cargo's progress then, and stay quiet on later runs. `cargo_quiet` is the
# flag to pass; `mark_built` records that a build of this kind succeeded.
cargo_quiet() {
  if [ -e "$CARGO_TARGET_DIR/.worker-jobs-$1" ]; then
    echo --quiet
  else
    echo "First build ($1): compiling the dependencies, the AWS SDKs for Rust among them, takes several minutes; cargo shows its progress below. Later runs rebuild only this workspace." >&2
  fi
}
mark_built() {
  mkdir -p "$CARGO_TARGET_DIR" && touch "$CARGO_TARGET_DIR/.worker-jobs-$1"
}
