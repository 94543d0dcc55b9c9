#!/usr/bin/env node
// End-to-end check of a dev node's test actions (ir3, or Anvil) with viem's
// `createTestClient({ mode: 'anvil' })`: mining, time travel, snapshots, state cheats,
// impersonation, manual mining with the tx pool, dropping pooled transactions and
// state dumps.
//
//   IR3_HTTP (default http://127.0.0.1:8545)   JSON-RPC over HTTP
//   IR3_ARTIFACTS (default ../contracts/out)   forge artifacts (run setup.sh first)
//   IR3_E2E_TIMEOUT_MS (default 90000)         hard limit for the whole run
//   IR3_E2E_DEBUG=1                            print the stack of an unexpected error
//
// The node must be fresh (automine on, dev accounts of `test test ... junk`, chain id 1337).
// Prints one JSON summary line on stdout; exits 0 when every check passed, 1 with
// "E2E FAIL: <check>: <reason>" on stderr otherwise. Never hangs.
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  pad,
  parseEther,
  toHex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  ACCOUNT1,
  HTTP_URL,
  PK0,
  RPC_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
  check,
  createHarness,
  fail,
  loadArtifact,
} from './e2e-common.mjs';

const DEAD = '0x000000000000000000000000000000000000dEaD';
// Fresh addresses no dev account touches.
const RICH = '0x00000000000000000000000000000000000b0b01';
const CLONE = '0x00000000000000000000000000000000000c10e5';

const { summary, step, run } = createHarness('viem-devtools');

async function main() {
  const counter = loadArtifact('Counter');
  const chain = defineChain({
    id: 1337,
    name: 'ir3',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [HTTP_URL] } },
  });
  const transport = http(HTTP_URL, { timeout: RPC_TIMEOUT_MS, retryCount: 0 });
  const account = privateKeyToAccount(PK0);
  const testClient = createTestClient({ chain, mode: 'anvil', transport });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100, cacheTime: 0 });
  const walletClient = createWalletClient({ chain, account, transport });
  // A json-rpc account: viem sends eth_sendTransaction and the node signs (or impersonates).
  const deadWallet = createWalletClient({ chain, account: DEAD, transport });

  const waitReceipt = (hash) =>
    publicClient.waitForTransactionReceipt({ hash, timeout: STEP_TIMEOUT_MS - 2_000, pollingInterval: 100 });
  const latest = () => publicClient.getBlock({ blockTag: 'latest' });
  const readNumber = (address) =>
    publicClient.readContract({ address, abi: counter.abi, functionName: 'number' });
  const setNumber = async (address, value) => {
    const hash = await walletClient.writeContract({ address, abi: counter.abi, functionName: 'setNumber', args: [value] });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', `setNumber(${value}) status ${rcpt.status}`);
    return rcpt;
  };
  const pendingOf = async (address) => {
    const content = await testClient.getTxpoolContent();
    const key = Object.keys(content.pending).find((k) => k.toLowerCase() === address.toLowerCase());
    return key ? content.pending[key] : {};
  };

  await step('chain id and automine', async () => {
    check((await publicClient.getChainId()) === 1337, 'chain id is not 1337');
    check((await testClient.getAutomine()) === true, 'a fresh node must automine');
  });

  await step('mine(blocks) moves the block number by N', async () => {
    const before = await publicClient.getBlockNumber();
    await testClient.mine({ blocks: 3 });
    const after = await publicClient.getBlockNumber();
    check(after === before + 3n, `block number ${before} -> ${after}, expected +3`);
  });

  await step('mine(blocks, interval) spaces the timestamps', async () => {
    await testClient.mine({ blocks: 2, interval: 17 });
    const head = await latest();
    const parent = await publicClient.getBlock({ blockNumber: head.number - 1n });
    check(head.timestamp - parent.timestamp === 17n, `timestamps ${parent.timestamp} -> ${head.timestamp}, expected +17`);
  });

  await step('increaseTime + mine moves the timestamp', async () => {
    const before = (await latest()).timestamp;
    await testClient.increaseTime({ seconds: 3600 });
    await testClient.mine({ blocks: 1 });
    const after = (await latest()).timestamp;
    // The wall clock moves too while the test runs; a minute of slack.
    check(after >= before + 3600n && after < before + 3660n, `timestamp ${before} -> ${after}, expected +3600`);
  });

  await step('setNextBlockTimestamp', async () => {
    const target = (await latest()).timestamp + 100_000n;
    await testClient.setNextBlockTimestamp({ timestamp: target });
    await testClient.mine({ blocks: 1 });
    const head = await latest();
    check(head.timestamp === target, `next block timestamp ${head.timestamp}, expected ${target}`);
    summary.timestamp = head.timestamp;
  });

  const counterAddress = await step('deploy Counter, setNumber(42)', async () => {
    const hash = await walletClient.deployContract({ abi: counter.abi, bytecode: counter.bytecode });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success' && rcpt.contractAddress, 'Counter deployment failed');
    await setNumber(rcpt.contractAddress, 42n);
    check((await readNumber(rcpt.contractAddress)) === 42n, 'number() is not 42');
    summary.counter = rcpt.contractAddress;
    return rcpt.contractAddress;
  });

  await step('snapshot / revert restores balance, storage and block number', async () => {
    const block = await publicClient.getBlockNumber();
    const balance = await publicClient.getBalance({ address: ACCOUNT1 });
    const id = await testClient.snapshot();
    check(/^0x[0-9a-f]+$/.test(id), `snapshot id ${id}`);

    await setNumber(counterAddress, 99n);
    const hash = await walletClient.sendTransaction({ to: ACCOUNT1, value: parseEther('3') });
    check((await waitReceipt(hash)).status === 'success', 'transfer failed');
    await testClient.mine({ blocks: 2 });
    check((await readNumber(counterAddress)) === 99n, 'setNumber(99) not applied');
    check((await publicClient.getBalance({ address: ACCOUNT1 })) === balance + parseEther('3'), 'transfer not applied');

    await testClient.revert({ id });
    check((await publicClient.getBlockNumber()) === block, 'block number not restored');
    check((await readNumber(counterAddress)) === 42n, 'storage not restored');
    check((await publicClient.getBalance({ address: ACCOUNT1 })) === balance, 'balance not restored');
    const tx = await publicClient.getTransaction({ hash }).catch(() => null);
    check(tx === null, 'a transaction mined after the snapshot is still known after the revert');
    // A snapshot is used up by its revert (Anvil's rule).
    const again = await testClient.request({ method: 'evm_revert', params: [id] });
    check(again === false, `reverting to a used snapshot returned ${again}`);
    // The chain goes on from the reverted head.
    await setNumber(counterAddress, 43n);
    check((await publicClient.getBlockNumber()) === block + 1n, 'the next block does not follow the reverted head');
  });

  await step('setBalance', async () => {
    await testClient.setBalance({ address: RICH, value: parseEther('123456') });
    const balance = await publicClient.getBalance({ address: RICH });
    check(balance === parseEther('123456'), `balance ${balance}`);
  });

  await step('setCode + setStorageAt + setNonce', async () => {
    const code = await publicClient.getCode({ address: counterAddress });
    await testClient.setCode({ address: CLONE, bytecode: code });
    check((await publicClient.getCode({ address: CLONE })) === code, 'code not set');
    check((await readNumber(CLONE)) === 0n, 'a fresh clone has storage');
    await testClient.setStorageAt({ address: CLONE, index: 0, value: pad(toHex(77)) });
    check((await readNumber(CLONE)) === 77n, 'storage slot 0 not set');
    const slot = await publicClient.getStorageAt({ address: CLONE, slot: toHex(0) });
    check(slot === pad(toHex(77)), `eth_getStorageAt ${slot}`);
    await testClient.setNonce({ address: CLONE, nonce: 5 });
    const nonce = await publicClient.getTransactionCount({ address: CLONE });
    check(nonce === 5, `nonce ${nonce}`);
  });

  await step('impersonateAccount: send from a keyless address', async () => {
    await testClient.setBalance({ address: DEAD, value: parseEther('10') });
    await testClient.impersonateAccount({ address: DEAD });
    const before = await publicClient.getBalance({ address: ACCOUNT1 });
    const hash = await deadWallet.sendTransaction({ to: ACCOUNT1, value: parseEther('1') });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', `status ${rcpt.status}`);
    check(rcpt.from.toLowerCase() === DEAD.toLowerCase(), `receipt from ${rcpt.from}`);
    check((await publicClient.getBalance({ address: ACCOUNT1 })) === before + parseEther('1'), 'value not received');
    const left = await publicClient.getBalance({ address: DEAD });
    check(left < parseEther('9') && left > parseEther('8.9'), `impersonated sender balance ${left}`);
    check((await publicClient.getTransactionCount({ address: DEAD })) === 1, 'impersonated sender nonce not 1');
    summary.impersonatedTx = hash;
  });

  await step('stopImpersonatingAccount: the same send fails', async () => {
    await testClient.stopImpersonatingAccount({ address: DEAD });
    let sent = null;
    try {
      sent = await deadWallet.sendTransaction({ to: ACCOUNT1, value: parseEther('1') });
    } catch (_) {
      /* expected */
    }
    if (sent) fail(`eth_sendTransaction from ${DEAD} succeeded after stopImpersonatingAccount: ${sent}`);
    check((await publicClient.getTransactionCount({ address: DEAD })) === 1, 'a transaction was sent anyway');
  });

  const manual = await step('setAutomine(false): a sent transaction stays pending', async () => {
    await testClient.setAutomine(false);
    check((await testClient.getAutomine()) === false, 'getAutomine is still true');
    const block = await publicClient.getBlockNumber();
    const nonce = await publicClient.getTransactionCount({ address: account.address });
    const hash = await walletClient.sendTransaction({ to: ACCOUNT1, value: 1000n, nonce });
    check((await publicClient.getBlockNumber()) === block, 'a block was mined with automine off');
    const receipt = await publicClient.getTransactionReceipt({ hash }).catch(() => null);
    check(receipt === null, 'the transaction has a receipt before any mining');
    const pending = await pendingOf(account.address);
    check(pending[String(nonce)]?.hash === hash, `txpool_content pending: ${JSON.stringify(Object.keys(pending))}`);
    const status = await testClient.getTxpoolStatus();
    check(status.pending === 1, `txpool_status pending ${status.pending}`);
    const inspect = await testClient.inspectTxpool();
    check(Object.keys(inspect.pending).length === 1, 'txpool_inspect has no pending sender');
    return { hash, block, nonce };
  });

  await step('mine includes the pending transaction', async () => {
    await testClient.mine({ blocks: 1 });
    const rcpt = await publicClient.getTransactionReceipt({ hash: manual.hash });
    check(rcpt.status === 'success', `status ${rcpt.status}`);
    check(rcpt.blockNumber === manual.block + 1n, `mined in ${rcpt.blockNumber}, expected ${manual.block + 1n}`);
    check((await testClient.getTxpoolStatus()).pending === 0, 'the pool is not empty after mining');
  });

  await step('dropTransaction removes a pending transaction', async () => {
    const nonce = await publicClient.getTransactionCount({ address: account.address });
    const hash = await walletClient.sendTransaction({ to: ACCOUNT1, value: 2000n, nonce });
    check((await pendingOf(account.address))[String(nonce)]?.hash === hash, 'not pending');
    await testClient.dropTransaction({ hash });
    check(Object.keys(await pendingOf(account.address)).length === 0, 'still pending after dropTransaction');
    check((await testClient.getTxpoolStatus()).pending === 0, 'txpool_status still counts it');
    const tx = await publicClient.getTransaction({ hash }).catch(() => null);
    check(tx === null, 'eth_getTransactionByHash still finds the dropped transaction');
    await testClient.mine({ blocks: 1 });
    const rcpt = await publicClient.getTransactionReceipt({ hash }).catch(() => null);
    check(rcpt === null, 'the dropped transaction was mined');
    const after = await publicClient.getTransactionCount({ address: account.address });
    check(after === nonce, `nonce moved to ${after}`);
    await testClient.setAutomine(true);
    check((await testClient.getAutomine()) === true, 'automine not back on');
  });

  await step('dumpState / loadState round trip', async () => {
    const state = await testClient.dumpState();
    check(/^0x1f8b/.test(state), `the dump is not hex of gzip: ${state.slice(0, 10)}`);
    // Change what the dump holds...
    await testClient.setBalance({ address: RICH, value: 1n });
    await testClient.setStorageAt({ address: CLONE, index: 0, value: pad(toHex(5)) });
    await setNumber(counterAddress, 1234n);
    check((await readNumber(CLONE)) === 5n && (await readNumber(counterAddress)) === 1234n, 'changes not applied');
    // ...and load it back.
    // (viem's loadState returns nothing; the Rust tests check the `true` result.)
    await testClient.loadState({ state });
    check((await publicClient.getBalance({ address: RICH })) === parseEther('123456'), 'balance not restored');
    check((await readNumber(CLONE)) === 77n, 'clone storage not restored');
    // (Nonces are left alone here: Anvil keeps max(current, dumped) on load, see the Rust
    // test state_dump_load_never_lowers_a_nonce.)
    check((await readNumber(counterAddress)) === 43n, 'counter storage not restored');
    // The node keeps working on the loaded state.
    await setNumber(counterAddress, 44n);
    check((await readNumber(counterAddress)) === 44n, 'no transaction works after loadState');
  });
}

run(main);
