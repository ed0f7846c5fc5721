#!/usr/bin/env bash
# The README's first command: the whole system on loopback, running the demo
# jobs through its HTTP API (CONNECTION_TEST, DEPLOY_WORKER, DESTROY_WORKER),
# then stopping everything it started. `local/demo.sh up` keeps it running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=local/env.sh
. local/env.sh
local/setup.sh
cargo build --quiet -p local-stack
exec "$CARGO_TARGET_DIR/debug/local-stack" "${@:-demo}"
