#!/usr/bin/env bash
# The one command that runs every test on a fresh machine (README: "Run the tests").
#   1. installs the real clients the tests drive (forge, cast, anvil, viem, ethers, solc-js)
#      from npm with the lockfile, and builds the Solidity contracts with them;
#   2. installs iproute2 when missing (the partition test creates network namespaces) and
#      Debian's chromium (the dashboard test drives the page in it);
#   3. checks formatting and lints;
#   4. runs the whole workspace's tests with cargo-nextest;
#   5. runs the Python client's tests (python/) in a virtualenv against the debug node (the
#      virtualenv, made before step 3, also holds the conformance runner's jsonschema).
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
# The dashboard test drives the page in headless Chromium (Debian's package; never a download).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "test: installing chromium (the dashboard's browser test)" >&2
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test: installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi

bash scripts/setup.sh >/dev/null
# A virtualenv for the Python parts: the Python client (python/), installed the way a user
# installs it and tested against a real node at the end (its tests start and kill their own),
# and jsonschema for the execution-apis conformance runner (tests/rpc-compat/), which the
# nextest suite runs through IR3_PYTHON.
if ! command -v python3 >/dev/null; then
  echo "test: installing python3 (the Python client's tests)" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
fi
VENV=target/python-venv
if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
  echo "test: installing python3-venv (the Python client's tests run in a virtualenv)" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv --clear "$VENV"
fi
# Build offline with the venv's own setuptools when it can make wheels; else pip fetches one.
PIP_FLAGS=(--quiet --disable-pip-version-check)
if "$VENV/bin/python" -c 'import importlib.util as u, sys
sys.exit(0 if u.find_spec("setuptools") and (u.find_spec("wheel")
    or u.find_spec("setuptools.command.bdist_wheel")) else 1)' 2>/dev/null; then
  PIP_FLAGS+=(--no-build-isolation)
fi
"$VENV/bin/pip" install "${PIP_FLAGS[@]}" ./python -r tests/rpc-compat/requirements.txt
export IR3_PYTHON="$ROOT/$VENV/bin/python"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci "$@"

cargo build -p ir3 --locked --quiet
IR3_BIN=target/debug/ir3 "$VENV/bin/python" -m unittest discover -s python/tests -v
