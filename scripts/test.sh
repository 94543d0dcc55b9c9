#!/usr/bin/env bash
# The one command that runs every test on a fresh machine (README: "Run the tests").
#   1. installs the real clients the tests drive (forge, cast, anvil, viem, ethers, solc-js)
#      from npm with the lockfile, and builds the Solidity contracts with them;
#   2. installs iproute2 when missing (the partition test creates network namespaces);
#   3. checks formatting and lints;
#   4. runs the whole workspace's tests with cargo-nextest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi
# The partition test puts each gateway in a network namespace of its own (iproute2, as root).
if ! command -v ip >/dev/null; then
  echo "test: installing iproute2 (network namespaces for the partition test)" >&2
  apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test: installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi

bash scripts/setup.sh >/dev/null
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci "$@"
