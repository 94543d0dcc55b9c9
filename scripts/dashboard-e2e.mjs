// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core.
//
//   IR3_HTTP  a single dev node (dev controls allowed)
//   IR3_NET   optional: comma-separated URLs of a 3-gateway network (network mode)
//   IR3_OUT   directory for the screenshots (default target/dashboard)
//   IR3_BIN   optional: the ir3 binary; the script then starts a node of its own, kills it
//             under the page and starts it again, and the page must reconnect by itself
//   IR3_LOAD_TXS  transactions of the load step (default 2000; 0 skips it)
//
// Checks: the page loads; a transaction sent with cast appears as a block and a transaction;
// its page shows the decoded Transfer log and the call tree; the dev keys are behind a click;
// the series counts the EVM's events; "Mine", "Take a snapshot" and "Revert" change the chain;
// in network mode the dev controls are not served, a transaction goes tentative → final and the
// peers' YES answers show, the peers and the graph render. Any console error fails the run.
// Prints {"ok":true,…} on success.

import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const HTTP = process.env.IR3_HTTP || 'http://127.0.0.1:8545';
const NET = (process.env.IR3_NET || '').split(',').filter(Boolean);
const OUT = resolve(process.env.IR3_OUT || join(HERE, '..', 'target', 'dashboard'));
const CAST = join(HERE, 'node_modules', '.bin', 'cast');
const PK0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const DEV0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const DEV1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BIN = process.env.IR3_BIN || '';
const LOAD_TXS = Number(process.env.IR3_LOAD_TXS ?? 2000);
const MNEMONIC = 'test test test test test test test test test test test junk';
const T = 20_000;
// What a browser logs while the node it talks to is down (the reconnect step expects these).
const OUTAGE = /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_SOCKET_NOT_CONNECTED|WebSocket connection to .* failed|Failed to fetch/;
let outage = false;

const errors = [];
const steps = [];

function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

function cast(url, ...args) {
  const r = spawnSync(CAST, args, { encoding: 'utf8', env: { ...process.env, ETH_RPC_URL: url } });
  if (r.status !== 0) throw new Error(`cast ${args[0]}: ${r.stderr}`);
  return r.stdout.trim();
}

async function rpc(url, method, params = []) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    steps.push({ name, ms: Date.now() - started });
  } catch (e) {
    throw new Error(`${name}: ${e.message}`);
  }
}

function watch(page, label) {
  const report = (what) => {
    if (!(outage && OUTAGE.test(what))) errors.push(`${label} ${what}`);
  };
  page.on('console', (m) => {
    if (m.type() === 'error') report(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${label} page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') report(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
}

async function shot(page, name) {
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

const text = (page, selector) => page.locator(selector).first().innerText();

async function waitHead(page, id, value) {
  await page.waitForFunction(([i, v]) => document.getElementById(i)?.textContent === String(v), [id, value], { timeout: T });
}

/** Sends `count` signed transfers from the ten dev accounts, in JSON-RPC batches, as fast as the
 * node takes them; returns the rate achieved (tx/s). */
async function blast(url, count) {
  const { mnemonicToAccount } = await import('viem/accounts');
  const accounts = Array.from({ length: 10 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }));
  const nonces = await Promise.all(accounts.map((a) => rpc(url, 'eth_getTransactionCount', [a.address, 'pending'])));
  const raws = [];
  for (let i = 0; i < count; i++) {
    const k = i % 10;
    const nonce = Number(nonces[k]) + Math.floor(i / 10);
    raws.push(await accounts[k].signTransaction({ chainId: 1337, type: 'eip1559', to: DEV1, value: 1n, gas: 21000n, maxFeePerGas: 20_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, nonce }));
  }
  const started = Date.now();
  // Batches of 100, a sender's nonces in order across batches; four batches in flight.
  const batches = [];
  for (let i = 0; i < raws.length; i += 100) batches.push(raws.slice(i, i + 100));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const mine = batches[next++];
      const body = mine.map((raw, j) => ({ jsonrpc: '2.0', id: j, method: 'eth_sendRawTransaction', params: [raw] }));
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const answers = await r.json();
      const failed = answers.filter((a) => a.error);
      if (failed.length) throw new Error(`load: ${failed.length} refused, e.g. ${failed[0].error.message}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return Math.round((count * 1000) / Math.max(1, Date.now() - started));
}

async function freePort() {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Starts the ir3 binary; resolves once it prints its banner. */
function startNode(port, dataDir) {
  const child = spawn(BIN, ['--port', String(port), '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((done, fail) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Listening on ')) done(child);
    });
    child.on('exit', (code) => fail(new Error(`ir3 exited with ${code}`)));
  });
}

async function reconnect(context) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'ir3-dash-node-'));
  const url = `http://127.0.0.1:${port}`;
  let node = await startNode(port, dataDir);
  const page = await context.newPage();
  watch(page, 'reconnect');
  try {
    await step('the page reconnects by itself when the node restarts', async () => {
      await page.goto(`${url}/ui`);
      await page.waitForSelector('#conn.up', { timeout: T });
      cast(url, 'send', '--private-key', PK0, DEV1, '--value', '1');
      await waitHead(page, 'head-latest', 1);
      outage = true;
      node.removeAllListeners('exit');
      node.kill('SIGKILL');
      await page.waitForSelector('#conn.down', { timeout: T });
      await shot(page, 'reconnecting');
      node = await startNode(port, dataDir);
      await page.waitForSelector('#conn.up', { timeout: T });
      await page.waitForTimeout(500);
      outage = false;
      cast(url, 'send', '--private-key', PK0, DEV1, '--value', '1');
      await waitHead(page, 'head-latest', 2);
      await page.waitForSelector('.vrow[data-number="2"]', { timeout: T });
    });
  } finally {
    outage = false;
    await page.close();
    node.removeAllListeners('exit');
    node.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function singleNode(context) {
  const page = await context.newPage();
  watch(page, 'single');
  let token;
  let receipt;
  await step('load the page', async () => {
    const response = await page.goto(`${HTTP}/`);
    check(response.ok(), `GET / answered ${response.status()}`);
    check((response.headers()['content-type'] || '').startsWith('text/html'), 'GET / is not HTML');
    await page.waitForSelector('#conn.up', { timeout: T });
    await page.waitForSelector('.vlist', { timeout: T });
    await page.waitForSelector('nav a[data-view="dev"]:not([hidden])', { timeout: T });
  });
  await step('a transaction sent with cast appears as a block and a transaction', async () => {
    const bytecode = JSON.parse(readFileSync(join(HERE, '..', 'contracts', 'out', 'Token.sol', 'Token.json'), 'utf8')).bytecode.object;
    const deployed = JSON.parse(cast(HTTP, 'send', '--private-key', PK0, '--json', '--create', bytecode, 'constructor(string,string,uint256)', 'Gold', 'GLD', '1000000'));
    token = deployed.contractAddress;
    receipt = JSON.parse(cast(HTTP, 'send', '--private-key', PK0, '--json', token, 'transfer(address,uint256)', DEV1, '250'));
    const number = Number(receipt.blockNumber);
    await page.waitForSelector(`.vrow[data-number="${number}"]`, { timeout: T });
    await waitHead(page, 'head-latest', number);
    await shot(page, 'chain');
    await page.click(`.vrow[data-number="${number}"] a`);
    await page.waitForSelector(`a[href="#/tx/${receipt.transactionHash}"]`, { timeout: T });
    check((await text(page, 'main')).includes('transfer'), 'the block does not list the transfer method');
    await shot(page, 'block');
  });
  await step('open the transaction: decoded log and call tree', async () => {
    await page.click(`a[href="#/tx/${receipt.transactionHash}"]`);
    await page.waitForSelector('ul.tree .frame', { timeout: T });
    const tree = await text(page, 'ul.tree');
    check(tree.includes('CALL') && tree.includes('transfer(to='), `call tree: ${tree}`);
    const main = await text(page, 'main');
    check(main.includes('Transfer') && main.includes('value: 250'), 'the Transfer log is not decoded');
    await page.waitForFunction(() => document.querySelector('.tx-status')?.textContent.includes('final'), null, { timeout: T });
    await shot(page, 'tx');
  });
  await step('accounts: balances, a key behind a click, an address lookup', async () => {
    await page.click('nav a[data-view="accounts"]');
    await page.waitForSelector('table[aria-label="dev accounts"] tbody tr:nth-child(10)', { timeout: T });
    await page.waitForFunction(() => [...document.querySelectorAll('table[aria-label="dev accounts"] td.num')].every((td) => td.textContent !== '…'), null, { timeout: T });
    check(!(await text(page, 'main')).includes(PK0), 'a private key is shown before the click');
    await page.click('table[aria-label="dev accounts"] tbody tr:first-child button');
    await page.waitForSelector('code.key', { timeout: T });
    check((await text(page, 'code.key')) === PK0, 'dev key 0 is wrong');
    await shot(page, 'accounts');
    await page.fill('#lookup-address', token);
    await page.press('#lookup-address', 'Enter');
    await page.waitForSelector('table[aria-label="transactions of the address"]', { timeout: T });
    await page.fill('#slot', '2');
    await page.press('#slot', 'Enter');
    await page.waitForFunction(() => document.getElementById('slot-value')?.textContent.startsWith('0x'), null, { timeout: T });
    await shot(page, 'address');
  });
  await step('series: entries by kind', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('3'); // keyboard: the third view
    await page.waitForSelector('table[aria-label="series entries by kind"]', { timeout: T });
    check((await text(page, 'main')).includes('evm/TxExecuted'), 'the series kinds miss evm/TxExecuted');
    await shot(page, 'series');
  });
  await step('apps: a minted currency', async () => {
    await rpc(HTTP, 'ir3_money_mint', [{ from: DEV0, currency: 'GOLD', amount: '1000' }]);
    await page.click('nav a[data-view="apps"]');
    await page.waitForSelector('table[aria-label="currencies"]', { timeout: T });
    check((await text(page, 'main')).includes('GOLD'), 'GOLD is not listed');
    await shot(page, 'apps');
  });
  await step('dev controls: mine, snapshot, revert change the chain', async () => {
    await page.click('nav a[data-view="dev"]');
    await page.waitForSelector('#mine', { timeout: T });
    const start = Number(await rpc(HTTP, 'eth_blockNumber'));
    await page.click('#mine');
    await waitHead(page, 'head-latest', start + 1);
    await page.click('#snapshot');
    await page.waitForFunction(() => document.querySelectorAll('#revert-id option').length > 0, null, { timeout: T });
    await page.click('#mine');
    await waitHead(page, 'head-latest', start + 2);
    await page.click('#mine');
    await waitHead(page, 'head-latest', start + 3);
    check(Number(await rpc(HTTP, 'eth_blockNumber')) === start + 3, 'mine did not reach the node');
    await page.click('form:has(#revert-id) button[type="submit"]');
    await waitHead(page, 'head-latest', start + 1);
    check(Number(await rpc(HTTP, 'eth_blockNumber')) === start + 1, 'revert did not reach the node');
    await page.waitForFunction(() => document.querySelector('ol.log')?.textContent.includes('evm_revert'), null, { timeout: T });
    await shot(page, 'dev');
    await page.click('nav a[data-view="chain"]');
    await page.waitForSelector('.vlist', { timeout: T });
    await page.waitForFunction((n) => !document.querySelector(`.vrow[data-number="${n}"]`), start + 3, { timeout: T });
  });
  if (LOAD_TXS > 0) {
    await step(`${LOAD_TXS} transactions as fast as the node takes them: the page keeps painting`, async () => {
      await page.click('nav a[data-view="chain"]');
      await page.waitForSelector('.vlist', { timeout: T });
      await page.evaluate(() => {
        window.__gaps = [];
        let last = performance.now();
        const loop = (t) => {
          window.__gaps.push(t - last);
          last = t;
          if (!window.__stop) requestAnimationFrame(loop);
        };
        requestAnimationFrame(loop);
      });
      const rate = await blast(HTTP, LOAD_TXS);
      const latest = Number(await rpc(HTTP, 'eth_blockNumber'));
      await waitHead(page, 'head-latest', latest);
      await page.waitForSelector(`.vrow[data-number="${latest}"]`, { timeout: T });
      const { maxGap, frames } = await page.evaluate(() => {
        window.__stop = true;
        return { maxGap: Math.max(...window.__gaps.slice(1)), frames: window.__gaps.length };
      });
      const rows = await page.locator('.vrow').count();
      steps.push({ load: { txs: LOAD_TXS, sentPerSecond: rate, frames, longestFrameGapMs: Math.round(maxGap), rowsInDom: rows } });
      check(rows <= 60, `the block list has ${rows} rows in the DOM (not virtualised?)`);
      check(maxGap < 2000, `the page froze for ${Math.round(maxGap)} ms`);
      await shot(page, 'chain-load');
    });
  }
  await step('keyboard: "/" reaches the search, Enter opens a block of the chain strip', async () => {
    await page.click('nav a[data-view="chain"]');
    await page.waitForSelector('svg.strip a.blk', { timeout: T });
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('/');
    check(await page.evaluate(() => document.activeElement?.id === 'q'), '"/" did not focus the search box');
    await page.keyboard.type('1');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/block/1', null, { timeout: T });
    await page.click('nav a[data-view="chain"]');
    await page.waitForSelector('svg.strip a.blk', { timeout: T });
    await page.focus('svg.strip a.blk');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash.startsWith('#/block/'), null, { timeout: T });
    await page.click('nav a[data-view="chain"]');
  });
  await step('dark theme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot(page, 'chain-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });
  await page.close();
}

async function network(context) {
  const [url0] = NET;
  const page = await context.newPage();
  watch(page, 'network');
  await step('network: the page loads without dev controls', async () => {
    await page.goto(`${url0}/ui`);
    await page.waitForSelector('#conn.up', { timeout: T });
    await page.waitForFunction(() => document.getElementById('node-info')?.textContent.includes('network mode'), null, { timeout: T });
    check(await page.locator('nav a[data-view="dev"]').isHidden(), 'dev controls shown in network mode');
    const dev = await page.request.get(`${url0}/ui/dev.js`);
    check(dev.status() === 404, `dev.js served in network mode: ${dev.status()}`);
  });
  await step('network: a transaction goes tentative → final, with the peers answers', async () => {
    const hash = cast(url0, 'send', '--private-key', PK0, '--async', DEV1, '--value', '1000');
    await page.evaluate((h) => (location.hash = `#/tx/${h}`), hash);
    const seen = [];
    const deadline = Date.now() + T;
    while (Date.now() < deadline) {
      const status = (await page.locator('.tx-status').first().textContent({ timeout: T }).catch(() => '')) || '';
      const word = status.trim().split(/\s+/)[0];
      if (word && seen[seen.length - 1] !== word) seen.push(word);
      if (word === 'final') break;
      await page.waitForTimeout(50);
    }
    check(seen.includes('tentative') && seen[seen.length - 1] === 'final', `statuses seen: ${seen.join(' → ')}`);
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll('.answers-table tr')].find((r) => r.textContent.startsWith('YES'));
      return row && row.textContent.split(',').length >= 2 && !row.textContent.includes('–');
    }, null, { timeout: T });
    await page.waitForSelector('ul.tree .frame', { timeout: T });
    await shot(page, 'tx-network');
  });
  await step('network: peers, graph, decided height', async () => {
    await page.click('nav a[data-view="network"]');
    await page.waitForSelector('table[aria-label="peers"] tbody tr:nth-child(2)', { timeout: T });
    await page.waitForSelector('svg.graph circle.peer', { timeout: T });
    await page.waitForSelector('table[aria-label="certificate signers"] tbody tr:nth-child(3)', { timeout: T });
    await shot(page, 'network');
  });
  await step('network: the chain view colours a new block tentative, then final', async () => {
    await page.click('nav a[data-view="chain"]');
    await page.waitForSelector('svg.strip .blk.final', { timeout: T });
    cast(url0, 'send', '--private-key', PK0, '--async', DEV1, '--value', '2000');
    const latest = Number(await rpc(url0, 'eth_blockNumber'));
    await page.waitForSelector(`.vrow[data-number="${latest}"] .badge.tentative`, { timeout: T });
    await page.waitForSelector('svg.strip .blk.tentative', { timeout: T });
    await shot(page, 'chain-network');
    await page.waitForSelector(`.vrow[data-number="${latest}"] .badge.final`, { timeout: T });
  });
  await page.close();
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  // A fresh profile each run (playwright passes it to Chromium as --user-data-dir).
  const profile = mkdtempSync(join(tmpdir(), 'ir3-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    await singleNode(context);
    if (BIN) await reconnect(context);
    if (NET.length) await network(context);
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  if (errors.length) throw new Error(`errors in the browser:\n${errors.join('\n')}`);
}

main().then(
  () => {
    console.log(JSON.stringify({ ok: true, steps, screenshots: OUT }));
    process.exit(0);
  },
  (e) => {
    console.log(JSON.stringify({ ok: false, error: e.message, steps, errors }));
    process.exit(1);
  },
);
