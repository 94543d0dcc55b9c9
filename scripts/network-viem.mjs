// Sends transfers through viem round-robin to several ir3 gateways, the way a dapp spread over
// a team network would: one wallet client per gateway, nonces managed by the script, each
// receipt awaited on the gateway the transaction was sent to. Prints one JSON line:
// {"hashes":[...]} (the transaction hashes, in sending order).
//
// Env: IR3_URLS (comma-separated http URLs), IR3_KEY (sender's private key),
//      IR3_COUNT (transfers, default 10), IR3_TO (recipient, default dev account 1).
import { createPublicClient, createWalletClient, defineChain, http, parseGwei } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const urls = (process.env.IR3_URLS || 'http://127.0.0.1:8545').split(',');
const account = privateKeyToAccount(process.env.IR3_KEY);
const count = Number(process.env.IR3_COUNT || 10);
const to = process.env.IR3_TO || '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

const chain = defineChain({
  id: 1337,
  name: 'ir3',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: urls } },
});
const publics = urls.map((url) => createPublicClient({ chain, transport: http(url) }));
const wallets = urls.map((url) => createWalletClient({ account, chain, transport: http(url) }));

let nonce = await publics[0].getTransactionCount({ address: account.address, blockTag: 'pending' });
const hashes = [];
for (let i = 0; i < count; i++) {
  const gateway = i % urls.length;
  const hash = await wallets[gateway].sendTransaction({
    to,
    value: BigInt(1000 + i),
    nonce,
    gas: 21000n,
    maxFeePerGas: parseGwei('20'),
    maxPriorityFeePerGas: parseGwei('1'),
  });
  const receipt = await publics[gateway].waitForTransactionReceipt({
    hash,
    pollingInterval: 100,
    timeout: 30_000,
  });
  if (receipt.status !== 'success') throw new Error(`transfer ${i} failed: ${receipt.status}`);
  hashes.push(hash);
  nonce += 1;
}
console.log(JSON.stringify({ hashes }));
