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
case " $* " in
  *" processes "*|*"=processes "*)
    # The steps run as their binaries: build them (as local/test.sh does).
    cargo build --workspace --all-targets ;;
esac
if [ "${1:-}" = bench-cold-start ]; then
  # The benchmark starts the release bootstraps: build (or refresh) them.
  local/build-lambdas.sh
fi
if [ "${1:-}" = bench-discovery ] && [[ " $* " == *" --release "* ]]; then
  # Our client and the proxy, built with optimizations, as the function
  # ships; in the release target directory, so the tests' debug build stays.
  args=()
  for a in "$@"; do [ "$a" = --release ] || args+=("$a"); done
  CARGO_TARGET_DIR="$LAMBDA_TARGET_DIR" cargo build --release -p local-stack
  exec "$LAMBDA_TARGET_DIR/release/local-stack" "${args[@]}"
fi
# shellcheck disable=SC2046 # an empty flag must vanish
cargo build $(cargo_quiet build) -p local-stack
mark_built build
exec "$CARGO_TARGET_DIR/debug/local-stack" "${@:-demo}"
