#!/usr/bin/env bash
# Idempotent setup for the ir3 end-to-end client side.
#   1. `npm ci` in scripts/ when node_modules is missing or older than package-lock.json
#   2. `forge build` of contracts/ with the solc-js shim (no solc download needed)
#   3. prints where forge / cast / anvil / solc-shim are
# Works from any current directory. Env: SKIP_BUILD=1 skips step 2.
set -euo pipefail

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPTS_DIR/.." && pwd)"
CONTRACTS_DIR="$REPO_DIR/contracts"
NM="$SCRIPTS_DIR/node_modules"
STAMP="$NM/.ir3-npm-ci-stamp"

need_ci=0
if [[ ! -d "$NM" || ! -f "$STAMP" ]]; then
  need_ci=1
elif [[ "$SCRIPTS_DIR/package-lock.json" -nt "$STAMP" ]]; then
  need_ci=1
fi

if [[ $need_ci -eq 1 ]]; then
  echo "setup: npm ci in $SCRIPTS_DIR" >&2
  (cd "$SCRIPTS_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$STAMP"
else
  echo "setup: node_modules up to date" >&2
fi

FORGE="$NM/@foundry-rs/forge-linux-amd64/bin/forge"
CAST="$NM/@foundry-rs/cast-linux-amd64/bin/cast"
ANVIL="$NM/@foundry-rs/anvil-linux-amd64/bin/anvil"
SHIM="$SCRIPTS_DIR/solc-shim"

for b in "$FORGE" "$CAST" "$ANVIL"; do
  if [[ ! -x "$b" ]]; then
    echo "setup: missing binary $b (did npm ci fail?)" >&2
    exit 1
  fi
done
chmod +x "$SHIM"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  echo "setup: forge build in $CONTRACTS_DIR" >&2
  # forge resolves `--use` relative to cwd, so always pass the absolute path.
  (cd "$CONTRACTS_DIR" && "$FORGE" build --use "$SHIM" >&2)
  for a in Token Counter GasHungry; do
    if [[ ! -f "$CONTRACTS_DIR/out/$a.sol/$a.json" ]]; then
      echo "setup: artifact $CONTRACTS_DIR/out/$a.sol/$a.json missing after build" >&2
      exit 1
    fi
  done
fi

printf 'FORGE=%q\n' "$FORGE"
printf 'CAST=%q\n' "$CAST"
printf 'ANVIL=%q\n' "$ANVIL"
printf 'SOLC_SHIM=%q\n' "$SHIM"
printf 'ARTIFACTS=%q\n' "$CONTRACTS_DIR/out"
