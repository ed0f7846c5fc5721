#!/usr/bin/env bash
# Builds every function for AWS Lambda with cargo-lambda (release, x86_64 by
# default; pass --arm64 where the aarch64-unknown-linux-gnu standard library
# is installed). cargo-lambda and zig come from PyPI into the project venv.
# The zips land in $CARGO_TARGET_DIR/lambda/<function>/bootstrap.zip, which
# infra/platform takes as lambda_artifacts_dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=local/env.sh
. local/env.sh
local/setup.sh
venv="$root/.local/venv"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "build-lambdas: installing cargo-lambda and zig into .local/venv ..."
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r local/requirements-lambda.txt
fi
export PATH="$venv/bin:$PATH"
packages=()
for dir in functions/*/; do
  packages+=(--package "$(basename "$dir")")
done
cargo lambda build --release --output-format zip "${packages[@]}" "$@"
ls -1 "$CARGO_TARGET_DIR"/lambda/*/bootstrap.zip 2>/dev/null || true
