#!/usr/bin/env bash
# Installs what the local stack and the tests need, without touching the
# system: a project venv (.local/venv) with the pinned moto server and AWS
# CLI, and (with --test-tools) the npm tools in node_modules, checkov in
# its own venv (.local/checks-venv) and schemathesis in its own
# (.local/schemathesis-venv). Checks that
# Terraform and its provider mirror are on the machine. Safe to run again:
# it only installs what is missing or changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.local/venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$root/local/requirements.txt" | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating the Python venv in .local/venv (moto, awscli) ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/local/requirements.txt"
  echo "$want" >"$stamp"
fi

if [ "${1:-}" = "--test-tools" ]; then
  if [ ! -x "$root/node_modules/.bin/asl-validator" ]; then
    echo "setup: installing asl-validator (npm) ..."
    (cd "$root" && npm ci --silent --no-audit --no-fund)
  fi
  checks="$root/.local/checks-venv"
  checks_stamp="$checks/.requirements.sha256"
  checks_want=$(sha256sum "$root/local/requirements-checks.txt" | cut -d' ' -f1)
  if [ ! -x "$checks/bin/checkov" ] || [ "$(cat "$checks_stamp" 2>/dev/null)" != "$checks_want" ]; then
    echo "setup: creating the checks venv in .local/checks-venv (checkov) ..."
    python3 -m venv "$checks"
    "$checks/bin/pip" install --quiet --disable-pip-version-check -r "$root/local/requirements-checks.txt"
    echo "$checks_want" >"$checks_stamp"
  fi
  st="$root/.local/schemathesis-venv"
  st_stamp="$st/.requirements.sha256"
  st_want=$(sha256sum "$root/local/requirements-schemathesis.txt" | cut -d' ' -f1)
  if [ ! -x "$st/bin/st" ] || [ "$(cat "$st_stamp" 2>/dev/null)" != "$st_want" ]; then
    echo "setup: creating the schemathesis venv in .local/schemathesis-venv ..."
    python3 -m venv "$st"
    "$st/bin/pip" install --quiet --disable-pip-version-check -r "$root/local/requirements-schemathesis.txt"
    echo "$st_want" >"$st_stamp"
  fi
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
