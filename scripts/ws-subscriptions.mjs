// Checks eth_subscribe over WebSocket the way wallets and dapps use it: newHeads,
// newPendingTransactions and logs notifications arrive for a transaction sent over HTTP, and
// eth_unsubscribe stops them. Env: IR3_HTTP, IR3_WS. Exit 0 on success.
import WebSocket from 'ws';

const http = process.env.IR3_HTTP ?? 'http://127.0.0.1:8545';
const wsUrl = process.env.IR3_WS ?? 'ws://127.0.0.1:8545';
const from = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

const fail = (message) => {
  console.error(`ws-subscriptions: ${message}`);
  process.exit(1);
};
setTimeout(() => fail('timed out'), 20000).unref();

const ws = new WebSocket(wsUrl);
await new Promise((resolve, reject) => {
  ws.once('open', resolve);
  ws.once('error', reject);
});
let nextId = 1;
const pending = new Map();
const notifications = [];
ws.on('message', (data) => {
  const message = JSON.parse(data.toString());
  if (message.id !== undefined && pending.has(message.id)) {
    pending.get(message.id)(message);
    pending.delete(message.id);
  } else if (message.method === 'eth_subscription') {
    notifications.push(message.params);
  }
});
const rpc = (method, params) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  });

const heads = (await rpc('eth_subscribe', ['newHeads'])).result;
const txs = (await rpc('eth_subscribe', ['newPendingTransactions'])).result;
const logs = (await rpc('eth_subscribe', ['logs', {}])).result;
if (typeof heads !== 'string' || !heads.startsWith('0x')) fail(`bad subscription id ${heads}`);

const response = await fetch(http, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'eth_sendTransaction', params: [{ from, to, value: '0x1' }],
  }),
});
const hash = (await response.json()).result;
if (!hash) fail('eth_sendTransaction failed');

const deadline = Date.now() + 10000;
while (Date.now() < deadline) {
  const head = notifications.find((n) => n.subscription === heads);
  const tx = notifications.find((n) => n.subscription === txs && n.result === hash);
  if (head && tx) {
    if (!head.result.hash || !head.result.number || !head.result.parentHash) {
      fail(`newHeads item lacks header fields: ${JSON.stringify(head.result)}`);
    }
    const stopped = await rpc('eth_unsubscribe', [heads]);
    if (stopped.result !== true) fail(`eth_unsubscribe answered ${JSON.stringify(stopped)}`);
    await rpc('eth_unsubscribe', [txs]);
    await rpc('eth_unsubscribe', [logs]);
    console.log(JSON.stringify({ ok: true, head: head.result.number, tx: hash }));
    ws.close();
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 50));
}
fail(`missing notifications: ${JSON.stringify(notifications)}`);
