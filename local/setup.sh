#!/usr/bin/env bash
# Installs what the local stack and the tests need, without touching the
# system: a project venv (.local/venv) with the pinned moto server, AWS
# CLI and cargo-lambda, and (with --test-tools) the npm tools in node_modules, checkov in
# its own venv (.local/checks-venv) and schemathesis in its own
# (.local/schemathesis-venv). Checks that
# Terraform and its provider mirror are on the machine. Safe to run again:
# it only installs what is missing or changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# venv NAME REQUIREMENTS WHAT: (re)creates .local/NAME from
# local/REQUIREMENTS when it is missing or the pinned list changed.
venv() {
  local dir="$root/.local/$1" req="$root/local/$2"
  local stamp="$dir/.requirements.sha256" want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: creating the Python venv in .local/$1 ($3) ..."
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  fi
}

venv venv requirements.txt "moto, awscli, cargo-lambda"

if [ "${1:-}" = "--test-tools" ]; then
  if [ ! -x "$root/node_modules/.bin/asl-validator" ]; then
    echo "setup: installing asl-validator (npm) ..."
    (cd "$root" && npm ci --silent --no-audit --no-fund)
  fi
  venv checks-venv requirements-checks.txt checkov
  venv schemathesis-venv requirements-schemathesis.txt schemathesis
fi

if ! command -v terraform >/dev/null 2>&1; then
  echo "setup: terraform (1.10 or later) is not on PATH; install it, with a filesystem mirror of the hashicorp/aws provider (TF_PROVIDER_MIRROR)" >&2
  exit 1
fi
mirror=${TF_PROVIDER_MIRROR:-/opt/tf-plugins}
if [ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]; then
  echo "setup: no hashicorp/aws provider mirror at $mirror (set TF_PROVIDER_MIRROR)" >&2
  exit 1
fi
