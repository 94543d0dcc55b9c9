#!/usr/bin/env bash
# Runs the whole client-side e2e suite against a node:
#   1. e2e-viem.mjs   2. e2e-ethers.mjs   3. forge script script/Deploy.s.sol --broadcast
#
#   scripts/e2e-all.sh            against an already running node at $IR3_HTTP / $IR3_WS
#                                 (defaults http://127.0.0.1:8545, ws://127.0.0.1:8545)
#   scripts/e2e-all.sh --anvil    first starts the npm Anvil (chain id 1337) on
#                                 127.0.0.1:${ANVIL_PORT:-18545}, and stops it at the end
#
# Runs setup.sh first (npm ci if needed, forge build). Works from any cwd.
# Prints "N passed, N failed" at the end; exits non-zero when any step failed.
set -euo pipefail

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONTRACTS_DIR="$(cd "$SCRIPTS_DIR/../contracts" && pwd)"
PK0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80

eval "$("$SCRIPTS_DIR/setup.sh")" # sets FORGE CAST ANVIL SOLC_SHIM ARTIFACTS

ANVIL_PID=
cleanup() {
  if [[ -n "$ANVIL_PID" ]]; then
    kill "$ANVIL_PID" 2>/dev/null || true
    wait "$ANVIL_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [[ "${1:-}" == "--anvil" ]]; then
  port="${ANVIL_PORT:-18545}"
  log="$(mktemp -t ir3-anvil.XXXXXX.log)"
  "$ANVIL" --host 127.0.0.1 --port "$port" --chain-id 1337 >"$log" 2>&1 &
  ANVIL_PID=$!
  export IR3_HTTP="http://127.0.0.1:$port" IR3_WS="ws://127.0.0.1:$port"
  up=0
  for _ in $(seq 1 50); do
    if ! kill -0 "$ANVIL_PID" 2>/dev/null; then
      echo "e2e-all: anvil exited at startup:" >&2
      cat "$log" >&2
      ANVIL_PID=
      exit 1
    fi
    if "$CAST" chain-id --rpc-url "$IR3_HTTP" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
  done
  if [[ $up -ne 1 ]]; then
    echo "e2e-all: anvil did not answer on $IR3_HTTP within 10 s" >&2
    exit 1
  fi
  echo "e2e-all: anvil pid $ANVIL_PID on $IR3_HTTP (log $log)" >&2
fi

export IR3_HTTP="${IR3_HTTP:-http://127.0.0.1:8545}"
export IR3_WS="${IR3_WS:-ws://127.0.0.1:8545}"

passed=0
failed=0
run() {
  local name=$1
  shift
  echo "e2e-all: --- $name" >&2
  if timeout 180 "$@"; then
    passed=$((passed + 1))
    echo "e2e-all: ok   $name" >&2
  else
    failed=$((failed + 1))
    echo "e2e-all: FAIL $name" >&2
  fi
}

run viem node "$SCRIPTS_DIR/e2e-viem.mjs"
run ethers node "$SCRIPTS_DIR/e2e-ethers.mjs"
run forge-script bash -c 'cd "$0" && "$1" script script/Deploy.s.sol --rpc-url "$IR3_HTTP" --broadcast --private-key "$2" --use "$3" >&2' \
  "$CONTRACTS_DIR" "$FORGE" "$PK0" "$SOLC_SHIM"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
