#!/usr/bin/env bash
# The API contract check: starts the local stack on free loopback ports,
# runs schemathesis (pinned, .local/schemathesis-venv) over
# shared/handlers/openapi.yaml against it with every check and every phase
# (examples, coverage, fuzzing, stateful) and a fixed seed, with the
# registry's credentials (local/schemathesis_hooks.py), and stops the stack
# it started, by its PID, whatever the outcome.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=local/env.sh
. local/env.sh
bin="$CARGO_TARGET_DIR/debug/local-stack"
cargo build --quiet -p local-stack
envfile=$(mktemp)
rm -f "$envfile"
"$bin" up --api-port 0 --sfn-port 0 --env-file "$envfile" >"$root/.local/schemathesis-stack.log" 2>&1 &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$envfile"' EXIT
for _ in $(seq 1 120); do
  [ -s "$envfile" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$root/.local/schemathesis-stack.log" >&2; exit 1; }
  sleep 1
done
[ -s "$envfile" ] || { echo "schemathesis: the local stack did not start in 120 s" >&2; exit 1; }
url=$(grep '^WORKER_JOBS_API_URL=' "$envfile" | cut -d= -f2-)
# The registry's admin token, from the stack's own Secrets Manager (the
# hooks register a Runner with it and call as that Runner).
admin=$(set -a; . "$envfile"; "$root/.local/venv/bin/aws" secretsmanager get-secret-value \
  --secret-id worker-jobs/registry-admin-token --query SecretString --output text)
WORKER_JOBS_API_URL="$url" WORKER_JOBS_ADMIN_TOKEN="$admin" \
SCHEMATHESIS_HOOKS="$root/local/schemathesis_hooks.py" \
"$root/.local/schemathesis-venv/bin/st" --config-file "$root/local/schemathesis.toml" \
  run "$root/shared/handlers/openapi.yaml" \
  --url "$url" --checks all --phases examples,coverage,fuzzing,stateful \
  --max-examples 25 --seed 20261201 --no-color
