#!/usr/bin/env node
// Regressions found by driving the node as users' libraries do (ir3, or Anvil: the same script
// passes against both), with viem:
//   1. eth_estimateGas runs in the context of the block the transaction will be mined in: a
//      contract whose gas depends on block.timestamp (Accumulator.poke) sent with the estimate
//      + 20 % succeeds;
//   2. debug_traceTransaction (callTracer) of a transaction mined right after anvil_setCode
//      sees the code the transaction ran: the call tree matches the receipt's gas.
//
//   IR3_HTTP (default http://127.0.0.1:8545)   JSON-RPC over HTTP
// Prints one JSON summary line on stdout; exits 0 when every check passed, 1 otherwise.
import { createPublicClient, createTestClient, createWalletClient, defineChain, http, encodeFunctionData } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
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

  await step('estimate + 20% is enough for the block the transaction is mined in', async () => {
    for (let i = 0; i < 3; i++) {
      const data = encodeFunctionData({ abi: accumulator.abi, functionName: 'poke' });
      const estimate = await publicClient.estimateGas({ account, to: address, data });
      const gas = (estimate * 120n) / 100n;
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
}

async function deployCounter(walletClient, waitReceipt, counter) {
  const hash = await walletClient.deployContract({ abi: counter.abi, bytecode: counter.bytecode });
  const rcpt = await waitReceipt(hash);
  check(rcpt.status === 'success' && rcpt.contractAddress, 'Counter deployment failed');
  return rcpt.contractAddress;
}

run(main);
