// JSON-RPC to the node that served this page: HTTP POSTs to the same origin and one
// WebSocket (eth_subscribe) that reconnects by itself when the node restarts.

const listeners = new Map();
let nextId = 1;
let online = null;

/** Emits an event to the functions registered with `on`. */
export function emit(name, value) {
  for (const fn of listeners.get(name) || []) {
    try {
      fn(value);
    } catch (e) {
      console.warn(`listener of ${name}:`, e);
    }
  }
}

/** Registers `fn` for the events named `name`: `online`, `head`, `reconnected`. */
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}

function setOnline(value) {
  if (online === value) return;
  const wasOffline = online === false;
  online = value;
  emit('online', value);
  if (value && wasOffline) emit('reconnected');
}

/** An error answered by the node (a JSON-RPC error object). */
export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

async function post(body) {
  let response;
  try {
    response = await fetch('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    setOnline(false);
    throw new Error('the node is not reachable');
  }
  setOnline(true);
  return response.json();
}

/** Calls one method; resolves to its result or rejects with an RpcError. */
export async function rpc(method, params = []) {
  const answer = await post({ jsonrpc: '2.0', id: nextId++, method, params });
  if (answer.error) throw new RpcError(answer.error);
  return answer.result;
}

/** Calls several methods in one batch: `[[method, params], …]` → results (or Error objects). */
export async function batch(calls) {
  if (calls.length === 0) return [];
  const first = nextId;
  nextId += calls.length;
  const answers = await post(calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: first + i, method, params: params || [] })));
  const byId = new Map((Array.isArray(answers) ? answers : [answers]).map((a) => [a.id, a]));
  return calls.map((_, i) => {
    const a = byId.get(first + i);
    if (!a) return new Error('no answer');
    return a.error ? new RpcError(a.error) : a.result;
  });
}

/** Like `rpc`, but resolves to `fallback` on any error. */
export async function tryRpc(method, params, fallback = null) {
  try {
    return await rpc(method, params);
  } catch {
    return fallback;
  }
}

// ---- WebSocket: newHeads ----

let socket = null;
let retryMs = 500;

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
}

/** Opens the WebSocket and subscribes to newHeads; reconnects with backoff when it drops. */
export function connectHeads() {
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    setTimeout(connectHeads, retryMs);
    return;
  }
  socket = ws;
  let subscription = null;
  ws.onopen = () => {
    retryMs = 500;
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'heads', method: 'eth_subscribe', params: ['newHeads'] }));
  };
  ws.onmessage = (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data.id === 'heads') {
      subscription = data.result;
      setOnline(true);
      emit('ws', true);
    } else if (data.method === 'eth_subscription' && data.params?.subscription === subscription) {
      emit('head', data.params.result);
    }
  };
  ws.onerror = () => {};
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    emit('ws', false);
    setOnline(false);
    retryMs = Math.min(retryMs * 2, 5000);
    setTimeout(connectHeads, retryMs);
  };
}

/** Whether the newHeads WebSocket is open. */
export function wsOpen() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}
