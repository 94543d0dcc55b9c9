// Shared part of e2e-viem.mjs and e2e-ethers.mjs: env settings, dev accounts
// and the step/check harness with the run/cleanup/exit logic. Client-independent
// (no viem/ethers import).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const HTTP_URL = process.env.IR3_HTTP || 'http://127.0.0.1:8545';
export const WS_URL = process.env.IR3_WS || 'ws://127.0.0.1:8545';
export const ARTIFACTS = resolve(process.env.IR3_ARTIFACTS || join(HERE, '..', 'contracts', 'out'));
export const TOTAL_TIMEOUT_MS = Number(process.env.IR3_E2E_TIMEOUT_MS || 90_000);
export const STEP_TIMEOUT_MS = 20_000;
export const RPC_TIMEOUT_MS = 10_000;
export const EXTRAS = process.env.IR3_E2E_EXTRAS !== '0';

// Dev account 0/1 of "test test test test test test test test test test test junk".
export const PK0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
export const ACCOUNT1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

// ---------------------------------------------------------------- helpers
export class CheckError extends Error {}

export function fail(msg) {
  throw new CheckError(msg);
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

export function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, rej) => {
    t = setTimeout(() => rej(new CheckError(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function jsonReplacer(_k, v) {
  return typeof v === 'bigint' ? v.toString() : v;
}

export function loadArtifact(name) {
  const p = join(ARTIFACTS, `${name}.sol`, `${name}.json`);
  let a;
  try {
    a = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    fail(`cannot read artifact ${p} (run scripts/setup.sh first): ${e.message}`);
  }
  const bytecode = a.bytecode?.object ?? a.bytecode;
  check(typeof bytecode === 'string' && bytecode.length > 2, `artifact ${p} has no bytecode`);
  return { abi: a.abi, bytecode: bytecode.startsWith('0x') ? bytecode : `0x${bytecode}` };
}

/**
 * Per-run state. `state.currentStep` is the name of the running check (for the
 * "E2E FAIL: <step>: ..." line), `summary` the JSON line printed at the end,
 * `cleanups` functions run (in reverse) before exiting. `run(main)` arms the
 * whole-run watchdog, runs the scenario, cleans up, prints the summary (and
 * the failure line) and exits 0 or 1.
 */
export function createHarness(client) {
  const state = { currentStep: 'startup' };
  const summary = { ok: false, client, http: HTTP_URL, ws: WS_URL, checks: [] };
  const cleanups = [];

  async function step(name, fn) {
    state.currentStep = name;
    const started = Date.now();
    const value = await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS, name);
    summary.checks.push({ name, ms: Date.now() - started });
    return value;
  }

  async function cleanup() {
    for (const c of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(c), 2_000, 'cleanup');
      } catch (_) {
        /* best effort */
      }
    }
  }

  function finish(code) {
    // Flush stdout/stderr, then exit even if a socket is still open.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  }

  function run(main) {
    // Hard watchdog for the whole run.
    const watchdog = setTimeout(() => {
      process.stderr.write(`E2E FAIL: ${state.currentStep}: whole run exceeded ${TOTAL_TIMEOUT_MS} ms\n`);
      process.exit(1);
    }, TOTAL_TIMEOUT_MS);

    return main()
      .then(async () => {
        summary.ok = true;
        await cleanup();
        clearTimeout(watchdog);
        process.stdout.write(JSON.stringify(summary, jsonReplacer) + '\n');
        finish(0);
      })
      .catch(async (err) => {
        await cleanup();
        clearTimeout(watchdog);
        const msg =
          err instanceof CheckError
            ? err.message
            : `${err?.shortMessage || err?.message || String(err)}${err?.details ? ` (${err.details})` : ''}`;
        summary.failedStep = state.currentStep;
        summary.error = msg;
        process.stdout.write(JSON.stringify(summary, jsonReplacer) + '\n');
        process.stderr.write(`E2E FAIL: ${state.currentStep}: ${msg}\n`);
        if (process.env.IR3_E2E_DEBUG && err?.stack) process.stderr.write(err.stack + '\n');
        finish(1);
      });
  }

  return { state, summary, cleanups, step, run };
}
