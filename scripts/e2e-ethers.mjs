#!/usr/bin/env node
// End-to-end check of an Ethereum dev node (ir3, or Anvil) with ethers v6.
// Same scenario, env vars and exit-code contract as e2e-viem.mjs:
//
//   IR3_HTTP (default http://127.0.0.1:8545)   JSON-RPC over HTTP (JsonRpcProvider)
//   IR3_WS   (default ws://127.0.0.1:8545)     JSON-RPC over WebSocket (WebSocketProvider)
//   IR3_ARTIFACTS (default ../contracts/out)   forge artifacts (run setup.sh first)
//   IR3_E2E_TIMEOUT_MS (default 90000)         hard limit for the whole run
//   IR3_E2E_EXTRAS=0                           skip the Counter/GasHungry checks
//   IR3_E2E_DEBUG=1                            print the stack of an unexpected error
//
// Prints one JSON summary line on stdout; exits 0 when every check passed,
// 1 with "E2E FAIL: <check>: <reason>" on stderr otherwise. Never hangs.
import { Contract, ContractFactory, FetchRequest, JsonRpcProvider, Network, NonceManager, Wallet, WebSocketProvider, parseEther } from 'ethers';
import WebSocket from 'ws';
import {
  ACCOUNT1,
  CheckError,
  EXTRAS,
  HTTP_URL,
  PK0,
  RPC_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
  WS_URL,
  check,
  createHarness,
  fail,
  loadArtifact,
  sleep,
} from './e2e-common.mjs';

const INITIAL_SUPPLY = parseEther('1000000');
const TRANSFER_AMOUNTS = [parseEther('1'), parseEther('2.5'), 12345n];

// ---------------------------------------------------------------- helpers
const { summary, cleanups, step, run } = createHarness('ethers');

/** Runs fn, which must throw a CALL_EXCEPTION; returns {name, args, reason} of the decoded revert. */
async function expectRevert(what, iface, fn) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!err) fail(`${what}: expected a revert, call succeeded`);
  if (err.code !== 'CALL_EXCEPTION') fail(`${what}: expected CALL_EXCEPTION, got ${err.code}: ${err.shortMessage || err.message}`);
  // ethers decodes with the contract ABI for staticCall (err.revert); for
  // estimateGas only the raw data is attached, so decode it with the interface.
  if (err.revert) return { name: err.revert.name, args: [...err.revert.args], reason: err.reason, via: 'revert' };
  if (typeof err.data === 'string' && err.data.length >= 10) {
    const parsed = iface.parseError(err.data);
    if (parsed) return { name: parsed.name, args: [...parsed.args], reason: err.reason, via: 'parseError' };
    fail(`${what}: revert data ${err.data} does not match any error in the ABI`);
  }
  fail(`${what}: CALL_EXCEPTION without revert data (${err.shortMessage || err.message})`);
}

// ---------------------------------------------------------------- scenario
async function main() {
  const tokenArt = loadArtifact('Token');

  // staticNetwork: no eth_chainId probing loop (which retries forever when the
  // node is down); the chain id is checked explicitly below instead.
  const network = new Network('ir3', 1337n);
  const req = new FetchRequest(HTTP_URL);
  req.timeout = RPC_TIMEOUT_MS; // per-request HTTP timeout
  const http = new JsonRpcProvider(req, network, {
    staticNetwork: network,
    pollingInterval: 200,
    batchMaxCount: 1,
    cacheTimeout: -1, // no 250 ms response cache: every call hits the node
  });
  cleanups.push(() => http.destroy());

  let wsError = null;
  let rejectWs;
  const wsFailed = new Promise((_, rej) => {
    rejectWs = rej;
  });
  wsFailed.catch(() => {});
  const ws = new WebSocketProvider(
    () => {
      const sock = new WebSocket(WS_URL, { handshakeTimeout: RPC_TIMEOUT_MS });
      sock.on('error', (e) => {
        wsError = e;
        rejectWs(new CheckError(`websocket error: ${e.message}`));
      });
      return sock;
    },
    network,
    { staticNetwork: network },
  );
  cleanups.push(() => ws.destroy());

  // NonceManager: ethers caches identical provider requests for 250 ms, so
  // back-to-back sends from a bare Wallet would reuse the same pending nonce.
  const key = new Wallet(PK0, http);
  const wallet = new NonceManager(key);
  wallet.address = key.address;
  summary.account0 = key.address;
  const waitTx = async (tx) => {
    const rcpt = await tx.wait(1, STEP_TIMEOUT_MS - 2_000);
    check(rcpt, `no receipt for ${tx.hash}`);
    return rcpt;
  };

  await step('eth_chainId', async () => {
    const id = BigInt(await http.send('eth_chainId', []));
    summary.chainId = Number(id);
    check(id === 1337n, `chain id is ${id}, expected 1337`);
  });

  await step('eth_blockNumber', async () => {
    summary.blockNumberStart = await http.getBlockNumber();
  });

  await step('eth_getBalance', async () => {
    const bal = await http.getBalance(wallet.address);
    summary.balanceWeiStart = bal;
    check(bal > parseEther('1'), `account 0 balance ${bal} wei is too low to run the test`);
  });

  const { token, tokenAddress } = await step('deploy Token', async () => {
    const factory = new ContractFactory(tokenArt.abi, tokenArt.bytecode, wallet);
    const c = await factory.deploy('Ir3 Token', 'IR3', INITIAL_SUPPLY);
    const tx = c.deploymentTransaction();
    const rcpt = await waitTx(tx);
    check(rcpt.status === 1, `deploy receipt status ${rcpt.status}`);
    const address = await c.getAddress();
    check(rcpt.contractAddress && rcpt.contractAddress.toLowerCase() === address.toLowerCase(),
      `receipt contractAddress ${rcpt.contractAddress} != predicted ${address}`);
    const code = await http.getCode(address);
    check(code && code.length > 2, 'no code at the deployed address');
    summary.deploy = { hash: tx.hash, address, block: rcpt.blockNumber, gasUsed: rcpt.gasUsed };
    return { token: c, tokenAddress: address };
  });

  await step('token metadata', async () => {
    const [name, symbol, decimals, supply, bal0] = await Promise.all([
      token.name(),
      token.symbol(),
      token.decimals(),
      token.totalSupply(),
      token.balanceOf(wallet.address),
    ]);
    check(name === 'Ir3 Token' && symbol === 'IR3', `name/symbol ${name}/${symbol}`);
    check(decimals === 18n, `decimals ${decimals}`);
    check(supply === INITIAL_SUPPLY, `totalSupply ${supply}`);
    check(bal0 === INITIAL_SUPPLY, `deployer balance ${bal0}`);
  });

  // Transfer(from=account0, to=account1) over WebSocket (eth_subscribe "logs").
  const seen = [];
  const wsToken = new Contract(tokenAddress, tokenArt.abi, ws);
  const filter = wsToken.filters.Transfer(wallet.address, ACCOUNT1);
  await step('watch Transfer (ws)', async () => {
    // ethers quirk: with a topic filter (filters.Transfer(a, b)) the listener gets
    // only the ContractEventPayload; with the event name it gets (from, to,
    // value, payload). The payload is always the last argument.
    await Promise.race([wsFailed, wsToken.on(filter, (...xs) => {
      const payload = xs[xs.length - 1];
      const [from, to, value] = payload.args;
      seen.push({ from, to, value, txHash: payload.log.transactionHash });
    })]);
    // Socket open + eth_subscribe sent before any transaction: a request over the
    // same socket, then a short margin.
    await Promise.race([ws.send('eth_blockNumber', []), wsFailed]);
    await sleep(300);
    if (wsError) fail(`websocket error: ${wsError.message}`);
  });
  cleanups.unshift(() => wsToken.removeAllListeners());

  const transferHashes = await step('transfers to account 1', async () => {
    const txs = [];
    for (const amount of TRANSFER_AMOUNTS) txs.push(await token.transfer(ACCOUNT1, amount));
    for (const tx of txs) {
      const rcpt = await waitTx(tx);
      check(rcpt.status === 1, `transfer ${tx.hash} status ${rcpt.status}`);
      check(rcpt.logs.length === 1, `transfer ${tx.hash} receipt has ${rcpt.logs.length} logs, expected 1`);
      const parsed = token.interface.parseLog(rcpt.logs[0]);
      check(parsed?.name === 'Transfer', `receipt log is ${parsed?.name}`);
    }
    return txs.map((t) => t.hash);
  });
  summary.transfers = transferHashes;

  const expected = TRANSFER_AMOUNTS.reduce((a, b) => a + b, 0n);

  await step('balanceOf', async () => {
    const [b1, b0] = await Promise.all([token.balanceOf(ACCOUNT1), token.balanceOf(wallet.address)]);
    summary.balanceOfAccount1 = b1;
    check(b1 === expected, `balanceOf(account1) = ${b1}, expected ${expected}`);
    check(b0 === INITIAL_SUPPLY - expected, `balanceOf(account0) = ${b0}, expected ${INITIAL_SUPPLY - expected}`);
  });

  await step('Transfer events via ws', async () => {
    const deadline = Date.now() + 10_000;
    while (seen.length < TRANSFER_AMOUNTS.length && Date.now() < deadline && !wsError) await sleep(100);
    if (wsError) fail(`websocket error: ${wsError.message}`);
    summary.eventsSeen = seen.length;
    check(
      seen.length === TRANSFER_AMOUNTS.length,
      `got ${seen.length} Transfer events over ws within 10 s, expected ${TRANSFER_AMOUNTS.length}`,
    );
    seen.forEach((ev, i) => {
      check(ev.from.toLowerCase() === wallet.address.toLowerCase(), `event ${i} from ${ev.from}`);
      check(ev.to.toLowerCase() === ACCOUNT1.toLowerCase(), `event ${i} to ${ev.to}`);
      check(ev.value === TRANSFER_AMOUNTS[i], `event ${i} value ${ev.value}, expected ${TRANSFER_AMOUNTS[i]}`);
      check(ev.txHash === transferHashes[i], `event ${i} tx ${ev.txHash}, expected ${transferHashes[i]}`);
    });
  });

  await step('eth_getLogs Transfer (queryFilter)', async () => {
    const all = await token.queryFilter(token.filters.Transfer(), summary.deploy.block, 'latest');
    check(all.length === TRANSFER_AMOUNTS.length + 1, `eth_getLogs returned ${all.length} Transfer logs`);
    const toAcc1 = await token.queryFilter(token.filters.Transfer(null, ACCOUNT1), summary.deploy.block, 'latest');
    check(toAcc1.length === TRANSFER_AMOUNTS.length, `eth_getLogs(to=account1) returned ${toAcc1.length} logs`);
  });

  const tooMuch = INITIAL_SUPPLY - expected + 1n;
  await step('custom error via eth_call (staticCall)', async () => {
    const r = await expectRevert('transfer.staticCall(too much)', token.interface, () =>
      token.transfer.staticCall(ACCOUNT1, tooMuch),
    );
    check(r.name === 'InsufficientBalance', `decoded error ${r.name}`);
    const [available, required] = r.args;
    check(available === INITIAL_SUPPLY - expected, `InsufficientBalance.available ${available}`);
    check(required === tooMuch, `InsufficientBalance.required ${required}`);
    summary.customError = { via: `eth_call/${r.via}`, name: r.name, args: r.args };
  });

  await step('custom error via eth_estimateGas', async () => {
    const r = await expectRevert('transfer.estimateGas(too much)', token.interface, () =>
      token.transfer.estimateGas(ACCOUNT1, tooMuch),
    );
    check(r.name === 'InsufficientBalance', `decoded error ${r.name}`);
    check(r.args[1] === tooMuch, `InsufficientBalance.required ${r.args[1]}`);
  });

  if (EXTRAS) await extras({ http, wallet, waitTx });

  await step('final block/balance', async () => {
    summary.blockNumberEnd = await http.getBlockNumber();
    check(summary.blockNumberEnd > summary.blockNumberStart, 'block number did not advance');
    summary.balanceWeiEnd = await http.getBalance(wallet.address);
    check(summary.balanceWeiEnd < summary.balanceWeiStart, 'account 0 paid no gas?');
  });
}

// Counter (Error(string) reverts, indexed event) and GasHungry (estimateGas).
async function extras({ http, wallet, waitTx }) {
  const counterArt = loadArtifact('Counter');
  const hungryArt = loadArtifact('GasHungry');
  const deploy = async (art) => {
    const c = await new ContractFactory(art.abi, art.bytecode, wallet).deploy();
    const rcpt = await waitTx(c.deploymentTransaction());
    check(rcpt.status === 1, 'deploy failed');
    return c;
  };
  summary.extras = {};

  await step('Counter: setNumber + NumberSet', async () => {
    const counter = await deploy(counterArt);
    const rcpt = await waitTx(await counter.setNumber(7n));
    check(rcpt.status === 1, 'setNumber failed');
    check((await counter.number()) === 7n, 'number() != 7');
    const evs = await counter.queryFilter(counter.filters.NumberSet(7n, wallet.address), rcpt.blockNumber, rcpt.blockNumber);
    check(evs.length === 1, `NumberSet filtered by indexed args: ${evs.length} logs`);
    const r1 = await expectRevert('Counter.fail', counter.interface, () => counter.fail.staticCall('boom'));
    check(r1.name === 'Error' && r1.args[0] === 'boom', `fail("boom") -> ${r1.name}(${r1.args})`);
    const r2 = await expectRevert('Counter.requireBig', counter.interface, () => counter.requireBig.estimateGas(3n));
    check(r2.name === 'Error' && r2.args[0] === 'too small', `requireBig(3) -> ${r2.name}(${r2.args})`);
    summary.extras.counter = await counter.getAddress();
  });

  await step('GasHungry: estimateGas is a sufficient limit', async () => {
    const hungry = await deploy(hungryArt);
    const out = {};
    for (const fn of ['hungry', 'forward', 'refund']) {
      const gas = await hungry[fn].estimateGas();
      const rcpt = await waitTx(await hungry[fn]({ gasLimit: gas })).catch((e) => {
        fail(`${fn}() with the estimated gas ${gas} failed: ${e.shortMessage || e.message}`);
      });
      check(rcpt.status === 1, `${fn}() with the estimated gas ${gas} failed`);
      out[fn] = { estimate: gas, gasUsed: rcpt.gasUsed };
    }
    check(out.hungry.estimate > 100_000n, `hungry() estimate ${out.hungry.estimate} <= 100000`);
    summary.extras.gasHungry = out;
  });
}

run(main);
