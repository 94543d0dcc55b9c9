#!/usr/bin/env node
// End-to-end check of an Ethereum dev node (ir3, or Anvil) with viem.
//
//   IR3_HTTP (default http://127.0.0.1:8545)   JSON-RPC over HTTP
//   IR3_WS   (default ws://127.0.0.1:8545)     JSON-RPC over WebSocket (eth_subscribe)
//   IR3_ARTIFACTS (default ../contracts/out)   forge artifacts (run setup.sh first)
//   IR3_E2E_TIMEOUT_MS (default 90000)         hard limit for the whole run
//   IR3_E2E_EXTRAS=0                           skip the Counter/GasHungry checks
//   IR3_E2E_DEBUG=1                            print the stack of an unexpected error
//
// Prints one JSON summary line on stdout; exits 0 when every check passed,
// 1 with "E2E FAIL: <check>: <reason>" on stderr otherwise. Never hangs.
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseEther,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  ACCOUNT1,
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
const { summary, cleanups, step, run } = createHarness('viem');

/** Finds the decoded custom error (or Error(string)) inside a viem error chain. */
function revertOf(err) {
  if (!(err instanceof BaseError)) return null;
  const r = err.walk((e) => e instanceof ContractFunctionRevertedError);
  return r instanceof ContractFunctionRevertedError ? r : null;
}

async function expectRevert(what, fn) {
  try {
    await fn();
  } catch (err) {
    const r = revertOf(err);
    if (!r) fail(`${what}: threw but no decoded revert: ${err?.shortMessage || err?.message || err}`);
    return r;
  }
  fail(`${what}: expected a revert, call succeeded`);
}

// ---------------------------------------------------------------- scenario
async function main() {
  const token = loadArtifact('Token');

  const chain = defineChain({
    id: 1337,
    name: 'ir3',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [HTTP_URL], webSocket: [WS_URL] } },
  });
  const account = privateKeyToAccount(PK0);
  const httpTransport = http(HTTP_URL, { timeout: RPC_TIMEOUT_MS, retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport: httpTransport, pollingInterval: 200 });
  const walletClient = createWalletClient({ chain, account, transport: httpTransport, pollingInterval: 200 });
  const wsClient = createPublicClient({
    chain,
    transport: webSocket(WS_URL, { timeout: RPC_TIMEOUT_MS, retryCount: 0, reconnect: false, keepAlive: false }),
  });
  cleanups.push(async () => (await wsClient.transport.getRpcClient()).close());

  const waitReceipt = (hash) =>
    publicClient.waitForTransactionReceipt({ hash, timeout: STEP_TIMEOUT_MS - 2_000, pollingInterval: 200 });

  summary.account0 = account.address;

  await step('eth_chainId', async () => {
    const id = await publicClient.getChainId();
    summary.chainId = id;
    check(id === 1337, `chain id is ${id}, expected 1337`);
  });

  await step('eth_blockNumber', async () => {
    summary.blockNumberStart = await publicClient.getBlockNumber();
  });

  await step('eth_getBalance', async () => {
    const bal = await publicClient.getBalance({ address: account.address });
    summary.balanceWeiStart = bal;
    check(bal > parseEther('1'), `account 0 balance ${bal} wei is too low to run the test`);
  });

  const tokenAddress = await step('deploy Token', async () => {
    const hash = await walletClient.deployContract({
      abi: token.abi,
      bytecode: token.bytecode,
      args: ['Ir3 Token', 'IR3', INITIAL_SUPPLY],
    });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', `deploy receipt status ${rcpt.status}`);
    check(rcpt.contractAddress, 'deploy receipt has no contractAddress');
    const code = await publicClient.getCode({ address: rcpt.contractAddress });
    check(code && code.length > 2, 'no code at the deployed address');
    summary.deploy = { hash, address: rcpt.contractAddress, block: rcpt.blockNumber, gasUsed: rcpt.gasUsed };
    return rcpt.contractAddress;
  });

  await step('token metadata', async () => {
    const [name, symbol, decimals, supply, bal0] = await Promise.all([
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'name' }),
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'symbol' }),
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'decimals' }),
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'totalSupply' }),
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'balanceOf', args: [account.address] }),
    ]);
    check(name === 'Ir3 Token' && symbol === 'IR3', `name/symbol ${name}/${symbol}`);
    check(decimals === 18, `decimals ${decimals}`);
    check(supply === INITIAL_SUPPLY, `totalSupply ${supply}`);
    check(bal0 === INITIAL_SUPPLY, `deployer balance ${bal0}`);
  });

  // Watch Transfer events over WebSocket (eth_subscribe "logs").
  const seen = [];
  let watchError = null;
  const unwatch = await step('watch Transfer (ws)', async () => {
    const un = wsClient.watchContractEvent({
      address: tokenAddress,
      abi: token.abi,
      eventName: 'Transfer',
      onLogs: (logs) => seen.push(...logs),
      onError: (e) => {
        watchError = e;
      },
    });
    // Make sure the socket is open and eth_subscribe went out before sending txs:
    // a request over the same socket after the subscribe, then a short margin.
    await wsClient.getBlockNumber();
    await sleep(300);
    if (watchError) fail(`subscription failed: ${watchError.shortMessage || watchError.message}`);
    return un;
  });
  cleanups.push(() => unwatch());

  const transferHashes = await step('transfers to account 1', async () => {
    const hashes = [];
    for (const amount of TRANSFER_AMOUNTS) {
      const hash = await walletClient.writeContract({
        address: tokenAddress,
        abi: token.abi,
        functionName: 'transfer',
        args: [ACCOUNT1, amount],
      });
      hashes.push(hash);
    }
    for (const hash of hashes) {
      const rcpt = await waitReceipt(hash);
      check(rcpt.status === 'success', `transfer ${hash} status ${rcpt.status}`);
      check(rcpt.logs.length === 1, `transfer ${hash} receipt has ${rcpt.logs.length} logs, expected 1`);
    }
    return hashes;
  });
  summary.transfers = transferHashes;

  const expected = TRANSFER_AMOUNTS.reduce((a, b) => a + b, 0n);

  await step('balanceOf', async () => {
    const [b1, b0] = await Promise.all([
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'balanceOf', args: [ACCOUNT1] }),
      publicClient.readContract({ address: tokenAddress, abi: token.abi, functionName: 'balanceOf', args: [account.address] }),
    ]);
    summary.balanceOfAccount1 = b1;
    check(b1 === expected, `balanceOf(account1) = ${b1}, expected ${expected}`);
    check(b0 === INITIAL_SUPPLY - expected, `balanceOf(account0) = ${b0}, expected ${INITIAL_SUPPLY - expected}`);
  });

  await step('Transfer events via ws', async () => {
    const deadline = Date.now() + 10_000;
    while (seen.length < TRANSFER_AMOUNTS.length && Date.now() < deadline && !watchError) await sleep(100);
    if (watchError) fail(`subscription error: ${watchError.shortMessage || watchError.message}`);
    summary.eventsSeen = seen.length;
    check(
      seen.length === TRANSFER_AMOUNTS.length,
      `got ${seen.length} Transfer events over ws within 10 s, expected ${TRANSFER_AMOUNTS.length}`,
    );
    seen.forEach((log, i) => {
      check(log.eventName === 'Transfer', `event ${i} is ${log.eventName}`);
      check(log.args.from.toLowerCase() === account.address.toLowerCase(), `event ${i} from ${log.args.from}`);
      check(log.args.to.toLowerCase() === ACCOUNT1.toLowerCase(), `event ${i} to ${log.args.to}`);
      check(log.args.value === TRANSFER_AMOUNTS[i], `event ${i} value ${log.args.value}, expected ${TRANSFER_AMOUNTS[i]}`);
      check(log.transactionHash === transferHashes[i], `event ${i} tx ${log.transactionHash}, expected ${transferHashes[i]}`);
    });
  });

  await step('eth_getLogs Transfer', async () => {
    const logs = await publicClient.getContractEvents({
      address: tokenAddress,
      abi: token.abi,
      eventName: 'Transfer',
      fromBlock: summary.deploy.block,
      toBlock: 'latest',
    });
    // mint + the transfers
    check(logs.length === TRANSFER_AMOUNTS.length + 1, `eth_getLogs returned ${logs.length} Transfer logs`);
  });

  const tooMuch = INITIAL_SUPPLY - expected + 1n;
  await step('custom error via eth_call (simulateContract)', async () => {
    const r = await expectRevert('simulateContract transfer(too much)', () =>
      publicClient.simulateContract({
        account,
        address: tokenAddress,
        abi: token.abi,
        functionName: 'transfer',
        args: [ACCOUNT1, tooMuch],
      }),
    );
    check(r.data?.errorName === 'InsufficientBalance', `decoded error ${r.data?.errorName ?? r.reason ?? r.raw ?? 'none'}`);
    const [available, required] = r.data.args;
    check(available === INITIAL_SUPPLY - expected, `InsufficientBalance.available ${available}`);
    check(required === tooMuch, `InsufficientBalance.required ${required}`);
    summary.customError = { via: 'eth_call', name: r.data.errorName, args: r.data.args };
  });

  await step('custom error via eth_estimateGas', async () => {
    const r = await expectRevert('estimateContractGas transfer(too much)', () =>
      publicClient.estimateContractGas({
        account,
        address: tokenAddress,
        abi: token.abi,
        functionName: 'transfer',
        args: [ACCOUNT1, tooMuch],
      }),
    );
    check(r.data?.errorName === 'InsufficientBalance', `decoded error ${r.data?.errorName ?? r.reason ?? 'none'}`);
    check(r.data.args[1] === tooMuch, `InsufficientBalance.required ${r.data.args[1]}`);
  });

  if (EXTRAS) await extras({ publicClient, walletClient, account, waitReceipt });

  await step('final block/balance', async () => {
    summary.blockNumberEnd = await publicClient.getBlockNumber();
    check(summary.blockNumberEnd > summary.blockNumberStart, 'block number did not advance');
    summary.balanceWeiEnd = await publicClient.getBalance({ address: account.address });
    check(summary.balanceWeiEnd < summary.balanceWeiStart, 'account 0 paid no gas?');
  });
}

// Counter (Error(string) reverts, indexed event) and GasHungry (estimateGas).
async function extras({ publicClient, walletClient, account, waitReceipt }) {
  const counter = loadArtifact('Counter');
  const hungry = loadArtifact('GasHungry');
  const deploy = async (art) => {
    const hash = await walletClient.deployContract({ abi: art.abi, bytecode: art.bytecode });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success' && rcpt.contractAddress, 'deploy failed');
    return rcpt.contractAddress;
  };
  summary.extras = {};

  await step('Counter: setNumber + NumberSet', async () => {
    const address = await deploy(counter);
    const hash = await walletClient.writeContract({ address, abi: counter.abi, functionName: 'setNumber', args: [7n] });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', 'setNumber failed');
    const n = await publicClient.readContract({ address, abi: counter.abi, functionName: 'number' });
    check(n === 7n, `number() = ${n}`);
    const evs = await publicClient.getContractEvents({
      address,
      abi: counter.abi,
      eventName: 'NumberSet',
      args: { newNumber: 7n, by: account.address },
      fromBlock: rcpt.blockNumber,
      toBlock: rcpt.blockNumber,
    });
    check(evs.length === 1, `NumberSet filtered by indexed args: ${evs.length} logs`);
    const r1 = await expectRevert('Counter.fail', () =>
      publicClient.simulateContract({ account, address, abi: counter.abi, functionName: 'fail', args: ['boom'] }),
    );
    check(r1.reason === 'boom', `fail("boom") reason = ${r1.reason}`);
    const r2 = await expectRevert('Counter.requireBig', () =>
      publicClient.estimateContractGas({ account, address, abi: counter.abi, functionName: 'requireBig', args: [3n] }),
    );
    check(r2.reason === 'too small', `requireBig(3) reason = ${r2.reason}`);
    summary.extras.counter = address;
  });

  await step('GasHungry: estimateGas is a sufficient limit', async () => {
    const address = await deploy(hungry);
    const out = {};
    for (const fn of ['hungry', 'forward', 'refund']) {
      const gas = await publicClient.estimateContractGas({ account, address, abi: hungry.abi, functionName: fn });
      const hash = await walletClient.writeContract({ address, abi: hungry.abi, functionName: fn, gas });
      const rcpt = await waitReceipt(hash);
      check(rcpt.status === 'success', `${fn}() with the estimated gas ${gas} failed (gasUsed ${rcpt.gasUsed})`);
      out[fn] = { estimate: gas, gasUsed: rcpt.gasUsed };
    }
    check(out.hungry.estimate > 100_000n, `hungry() estimate ${out.hungry.estimate} <= 100000`);
    summary.extras.gasHungry = out;
  });
}

run(main);
