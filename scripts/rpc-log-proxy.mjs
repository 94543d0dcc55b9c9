#!/usr/bin/env node
// rpc-log-proxy: a transparent JSON-RPC proxy (HTTP + WebSocket on one port)
// that records which methods a client really sends. Useful to see what viem,
// ethers or forge ask of a node (Anvil's own log also lists calls it makes
// internally, e.g. eth_fillTransaction -> eth_estimateGas + eth_accounts).
//
//   node rpc-log-proxy.mjs --listen 127.0.0.1:18546 --upstream 127.0.0.1:18545 --log /tmp/rpc.jsonl
//
// Each request (batch entries separately) and each error response is appended
// to --log as one JSON line: {t, transport, method, params, error?}.
// On SIGINT/SIGTERM it prints a count per method to stdout and exits.
// --reject m1,m2 answers those methods itself with -32601 "Method not found"
// (HTTP, non-batch requests only), e.g. to see how viem falls back when a
// node lacks eth_fillTransaction.
// Only loopback addresses are accepted for --listen and --upstream.
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const LISTEN = arg('listen', '127.0.0.1:18546');
const UPSTREAM = arg('upstream', '127.0.0.1:18545');
const LOG = arg('log', null);
const REJECT = new Set((arg('reject', '') || '').split(',').filter(Boolean));
const PARAMS_MAX = 300;

for (const hp of [LISTEN, UPSTREAM]) {
  const host = hp.slice(0, hp.lastIndexOf(':'));
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) {
    console.error(`rpc-log-proxy: refusing non-loopback address ${hp}`);
    process.exit(2);
  }
}
const [lhost, lport] = [LISTEN.slice(0, LISTEN.lastIndexOf(':')), Number(LISTEN.slice(LISTEN.lastIndexOf(':') + 1))];

const counts = new Map();
function record(transport, msg, kind = 'request') {
  const items = Array.isArray(msg) ? msg : [msg];
  for (const m of items) {
    if (!m || typeof m !== 'object') continue;
    if (kind === 'request' && m.method) {
      const key = `${transport} ${m.method}`;
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    if (!LOG) continue;
    if (kind === 'request' && m.method) {
      let params = JSON.stringify(m.params ?? null);
      if (params.length > PARAMS_MAX) params = params.slice(0, PARAMS_MAX) + '...';
      appendFileSync(LOG, JSON.stringify({ t: Date.now(), transport, id: m.id, method: m.method, params }) + '\n');
    } else if (kind === 'response' && m.error) {
      appendFileSync(LOG, JSON.stringify({ t: Date.now(), transport, id: m.id, error: m.error }) + '\n');
    }
  }
}
function tryParse(buf) {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (_) {
    return null;
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const msg = tryParse(body);
    record('http', msg);
    if (msg && !Array.isArray(msg) && REJECT.has(msg.method)) {
      const reply = { jsonrpc: '2.0', id: msg.id ?? null, error: { code: -32601, message: `Method not found: ${msg.method}` } };
      record('http', reply, 'response');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply));
      return;
    }
    const up = http.request(
      `http://${UPSTREAM}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: UPSTREAM } },
      (ures) => {
        const out = [];
        ures.on('data', (c) => out.push(c));
        ures.on('end', () => {
          const rb = Buffer.concat(out);
          record('http', tryParse(rb), 'response');
          res.writeHead(ures.statusCode || 502, ures.headers);
          res.end(rb);
        });
      },
    );
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e.message));
    });
    up.end(body);
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (client) => {
  const upstream = new WebSocket(`ws://${UPSTREAM}`);
  const queue = [];
  upstream.on('open', () => {
    for (const m of queue.splice(0)) upstream.send(m);
  });
  client.on('message', (data) => {
    record('ws', tryParse(data));
    const text = data.toString('utf8');
    if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
    else queue.push(text);
  });
  upstream.on('message', (data) => {
    record('ws', tryParse(data), 'response');
    if (client.readyState === WebSocket.OPEN) client.send(data.toString('utf8'));
  });
  const closeBoth = () => {
    client.close();
    upstream.close();
  };
  client.on('close', closeBoth);
  upstream.on('close', closeBoth);
  client.on('error', closeBoth);
  upstream.on('error', closeBoth);
});

server.listen(lport, lhost, () => console.error(`rpc-log-proxy: ${LISTEN} -> ${UPSTREAM}${LOG ? `, log ${LOG}` : ''}`));

function stop() {
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  process.stdout.write(JSON.stringify(Object.fromEntries(sorted), null, 2) + '\n', () => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
