#!/usr/bin/env bash
# Builds every function for AWS Lambda with cargo-lambda (the lambda-release
# profile of Cargo.toml, tuned for size; x86_64 by
# default; pass --arm64 where the aarch64-unknown-linux-gnu standard library
# is installed). cargo-lambda and zig come from PyPI into the project venv.
# The release build has a target directory of its own (LAMBDA_TARGET_DIR,
# set by local/env.sh: beside CARGO_TARGET_DIR): cargo-lambda's cross-linker
# settings would otherwise invalidate the debug builds the tests use. The
# zips land in $LAMBDA_TARGET_DIR/lambda/<function>/bootstrap.zip, which
# infra/platform takes as lambda_artifacts_dir (.../lambda).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=local/env.sh
. local/env.sh
local/setup.sh
venv="$root/.local/venv"
if ! "$venv/bin/python" -c "import ziglang" 2>/dev/null || [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "build-lambdas: installing cargo-lambda and zig into .local/venv ..."
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r local/requirements-lambda.txt
fi
export PATH="$venv/bin:$PATH"
export CARGO_TARGET_DIR="$LAMBDA_TARGET_DIR"
packages=()
for dir in functions/*/; do
  packages+=(--package "$(basename "$dir")")
done
cargo lambda build --profile lambda-release --output-format zip "${packages[@]}" "$@"
ls -1 "$CARGO_TARGET_DIR"/lambda/*/bootstrap.zip 2>/dev/null || true
