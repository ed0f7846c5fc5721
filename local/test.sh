#!/usr/bin/env bash
# The README's second command (and CI's): formatting, lints, every test
# (each test starts and stops the servers it needs: moto, the local Step
# Functions engine, the HTTP API) and the state machine validator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=local/env.sh
. local/env.sh
local/setup.sh --test-tools

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
# shellcheck disable=SC2046 # an empty flag must vanish
cargo clippy --workspace --all-targets $(cargo_quiet check) -- -D warnings
mark_built check
step "asl-validator over statemachines/ and the engine's test definitions"
local/sfn-local/scripts/validate-asl.sh statemachines local/sfn-local/testdata
step "terraform validate (offline) over infra/"
infra/scripts/validate.sh
step "the platform stack (infra/platform) on a private moto: apply, checks, plan = no changes, destroy"
infra/scripts/try-platform-against-moto.sh
step "checkov over infra/ (every finding fixed, or skipped inline with its reason)"
.local/checks-venv/bin/checkov -d infra --framework terraform --quiet --compact --skip-download
step "cargo build --workspace --all-targets (the function binaries too: tests/tests/lambda_processes.rs runs them as Lambda processes)"
# One build of every target resolves the dependencies' features as the
# tests' build does, so nextest then finds everything built.
cargo build --quiet --workspace --all-targets
step "cargo nextest (unit, engine, API and end-to-end tests)"
cargo nextest run --workspace --no-fail-fast "$@"

step "schemathesis over the OpenAPI document against the local stack (every check and phase)"
local/schemathesis.sh
