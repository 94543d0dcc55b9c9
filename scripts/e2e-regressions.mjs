#!/usr/bin/env node
// Regressions found by driving the node as users' libraries do (ir3, or Anvil: the same script
// passes against both), with viem:
//   1. eth_estimateGas runs in the context of the block the transaction will be mined in: a
//      contract whose gas depends on block.timestamp (Accumulator.poke) sent with exactly the
//      estimate (no padding) succeeds;
//   2. debug_traceTransaction (callTracer) of a transaction mined right after anvil_setCode
//      sees the code the transaction ran: the call tree matches the receipt's gas;
//   3. likewise after anvil_setStorageAt (the traced transaction reads the slot it was given)
//      and after anvil_setBalance + anvil_setNonce (a fresh account's transaction, which could
//      not run without them, re-executes with the receipt's gas).
//
//   IR3_HTTP (default http://127.0.0.1:8545)   JSON-RPC over HTTP
// Prints one JSON summary line on stdout; exits 0 when every check passed, 1 otherwise.
import { createPublicClient, createTestClient, createWalletClient, defineChain, http, encodeFunctionData } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { HTTP_URL, PK0, RPC_TIMEOUT_MS, STEP_TIMEOUT_MS, check, createHarness, loadArtifact } from './e2e-common.mjs';

const TARGET = '0x00000000000000000000000000000000000c0de5';
const { summary, step, run } = createHarness('regressions');

async function main() {
  const accumulator = loadArtifact('Accumulator');
  const counter = loadArtifact('Counter');
  const chain = defineChain({
    id: 1337,
    name: 'dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [HTTP_URL] } },
  });
  const transport = http(HTTP_URL, { timeout: RPC_TIMEOUT_MS, retryCount: 0 });
  const account = privateKeyToAccount(PK0);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100, cacheTime: 0 });
  const walletClient = createWalletClient({ chain, account, transport });
  const testClient = createTestClient({ chain, mode: 'anvil', transport });
  const waitReceipt = (hash) =>
    publicClient.waitForTransactionReceipt({ hash, timeout: STEP_TIMEOUT_MS - 2_000, pollingInterval: 100 });

  const address = await step('deploy Accumulator and poke once', async () => {
    const hash = await walletClient.deployContract({ abi: accumulator.abi, bytecode: accumulator.bytecode });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success' && rcpt.contractAddress, 'deployment failed');
    const poke = await walletClient.writeContract({ address: rcpt.contractAddress, abi: accumulator.abi, functionName: 'poke' });
    check((await waitReceipt(poke)).status === 'success', 'first poke reverted');
    return rcpt.contractAddress;
  });

  await step('exactly the estimate is enough for the block the transaction is mined in', async () => {
    for (let i = 0; i < 3; i++) {
      const data = encodeFunctionData({ abi: accumulator.abi, functionName: 'poke' });
      const estimate = await publicClient.estimateGas({ account, to: address, data });
      // No padding: the estimate itself must be enough (an estimate made in the latest sealed
      // block's context skips the timestamp-dependent writes and is ~45 000 gas short).
      const gas = estimate;
      const hash = await walletClient.sendTransaction({ to: address, data, gas });
      const rcpt = await waitReceipt(hash);
      check(rcpt.status === 'success', `poke sent with ${gas} gas (estimate ${estimate}) reverted, used ${rcpt.gasUsed}`);
      check(rcpt.gasUsed <= estimate, `poke used ${rcpt.gasUsed} gas, more than the estimate ${estimate}`);
      summary[`estimate${i}`] = estimate;
      summary[`used${i}`] = rcpt.gasUsed;
    }
  });

  await step('callTracer after anvil_setCode shows the code the transaction ran', async () => {
    const code = await publicClient.getCode({ address: await deployCounter(walletClient, waitReceipt, counter) });
    await testClient.setCode({ address: TARGET, bytecode: code });
    const data = encodeFunctionData({ abi: counter.abi, functionName: 'setNumber', args: [7n] });
    const hash = await walletClient.sendTransaction({ to: TARGET, data, gas: 200_000n });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', 'setNumber on the set code reverted');
    check(rcpt.gasUsed > 21_000n, `the receipt shows no code ran (${rcpt.gasUsed} gas)`);
    const trace = await publicClient.request({
      method: 'debug_traceTransaction',
      params: [hash, { tracer: 'callTracer', tracerConfig: { withLog: true } }],
    });
    check(BigInt(trace.gasUsed) === rcpt.gasUsed, `callTracer gasUsed ${BigInt(trace.gasUsed)}, receipt ${rcpt.gasUsed}`);
    check(Array.isArray(trace.logs) && trace.logs.length === 1, `callTracer shows ${trace.logs?.length ?? 0} logs, expected the NumberSet event`);
    const call = await publicClient.call({ to: TARGET, data: encodeFunctionData({ abi: counter.abi, functionName: 'number' }), blockNumber: rcpt.blockNumber });
    check(BigInt(call.data) === 7n, `number() at the transaction's block is ${call.data}`);
    summary.traceGas = BigInt(trace.gasUsed);
  });

  await step('traces after anvil_setStorageAt see the slot the transaction read', async () => {
    await testClient.setStorageAt({ address: TARGET, index: 0, value: `0x${'05'.padStart(64, '0')}` });
    const data = encodeFunctionData({ abi: counter.abi, functionName: 'increment' });
    const hash = await walletClient.sendTransaction({ to: TARGET, data, gas: 200_000n });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', 'increment after setStorageAt reverted');
    const trace = await publicClient.request({ method: 'debug_traceTransaction', params: [hash, { tracer: 'callTracer' }] });
    check(BigInt(trace.gasUsed) === rcpt.gasUsed, `callTracer gasUsed ${BigInt(trace.gasUsed)}, receipt ${rcpt.gasUsed}`);
    const pre = await publicClient.request({ method: 'debug_traceTransaction', params: [hash, { tracer: 'prestateTracer' }] });
    const slot = pre[TARGET.toLowerCase()]?.storage?.[`0x${'0'.repeat(64)}`];
    check(slot !== undefined && BigInt(slot) === 5n, `prestateTracer shows slot 0 = ${slot}, expected the 5 set`);
    const call = await publicClient.call({ to: TARGET, data: encodeFunctionData({ abi: counter.abi, functionName: 'number' }), blockNumber: rcpt.blockNumber });
    check(BigInt(call.data) === 6n, `number() at the transaction's block is ${call.data}, expected 6`);
  });

  await step('traces after anvil_setBalance and anvil_setNonce re-execute the transaction', async () => {
    const fresh = privateKeyToAccount(generatePrivateKey());
    await testClient.setBalance({ address: fresh.address, value: 10n ** 18n });
    await testClient.setNonce({ address: fresh.address, nonce: 5 });
    const freshWallet = createWalletClient({ chain, account: fresh, transport });
    const hash = await freshWallet.sendTransaction({ to: '0x000000000000000000000000000000000000dEaD', value: 1n, gas: 100_000n, nonce: 5 });
    const rcpt = await waitReceipt(hash);
    check(rcpt.status === 'success', 'the fresh account\'s transaction reverted');
    const trace = await publicClient.request({ method: 'debug_traceTransaction', params: [hash, { tracer: 'callTracer' }] });
    check(!trace.error, `callTracer: ${trace.error}`);
    check(BigInt(trace.gasUsed) === rcpt.gasUsed, `callTracer gasUsed ${BigInt(trace.gasUsed)}, receipt ${rcpt.gasUsed}`);
    const pre = await publicClient.request({ method: 'debug_traceTransaction', params: [hash, { tracer: 'prestateTracer' }] });
    const sender = pre[fresh.address.toLowerCase()];
    check(sender && BigInt(sender.balance) === 10n ** 18n && Number(sender.nonce) === 5, `prestateTracer shows the sender as ${JSON.stringify(sender)}`);
  });
}

async function deployCounter(walletClient, waitReceipt, counter) {
  const hash = await walletClient.deployContract({ abi: counter.abi, bytecode: counter.bytecode });
  const rcpt = await waitReceipt(hash);
  check(rcpt.status === 'success' && rcpt.contractAddress, 'Counter deployment failed');
  return rcpt.contractAddress;
}

run(main);
