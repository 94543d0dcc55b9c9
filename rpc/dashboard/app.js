// The dashboard's core: what it knows of the node (shared state), the router between views,
// the header (heads, connection, search, theme) and the loops that keep it up to date.
// Blocks arrive over eth_subscribe(newHeads) and are applied in batches, never one DOM update
// per block; the block list keeps the newest MAX_BLOCKS.

import { on, rpc, batch, connectHeads, tryRpc } from './rpc.js';
import { h, fill, num, isAddress, isHash, errorBox } from './util.js';

/** Most blocks kept in memory (the list shows them virtualised). */
export const MAX_BLOCKS = 1000;
/** Seconds of latency history kept for the chart. */
const HISTORY_S = 180;

/** What the page knows of the node; views read it, the loops below write it. */
export const state = {
  info: null,
  heads: { latest: null, safe: null, finalized: null },
  blocks: [], // newest first: {number, hash, timestamp, gasUsed, txCount, seenAt, finalAt}
  latency: [], // [time ms, tentative → final ms]
  online: null,
};

const pendingHeads = [];
let current = null; // the view on screen: {update?, destroy?}
let flushTimer = null;

const VIEWS = {
  chain: () => import('./chain.js').then((m) => m.renderChain),
  block: () => import('./tx.js').then((m) => m.renderBlock),
  tx: () => import('./tx.js').then((m) => m.renderTx),
  accounts: () => import('./accounts.js').then((m) => m.renderAccounts),
  address: () => import('./accounts.js').then((m) => m.renderAddress),
  series: () => import('./series.js').then((m) => m.renderSeries),
  network: () => import('./network.js').then((m) => m.renderNetwork),
  apps: () => import('./apps.js').then((m) => m.renderApps),
  dev: () => import('./dev.js').then((m) => m.renderDev),
};

const NAV = [
  ['chain', 'Chain'],
  ['accounts', 'Accounts'],
  ['series', 'Series'],
  ['network', 'Network'],
  ['apps', 'Apps'],
  ['dev', 'Dev controls'],
];

function route() {
  const [name, ...rest] = (location.hash.replace(/^#\/?/, '') || 'chain').split('/');
  return { name: VIEWS[name] ? name : 'chain', arg: decodeURIComponent(rest.join('/')) };
}

async function show() {
  const { name, arg } = route();
  const main = document.getElementById('view');
  if (name === 'dev' && !state.info?.devMethods) {
    current?.destroy?.();
    current = null;
    fill(main, errorBox('Dev controls are not served by this node (network mode refuses dev methods).'));
    return;
  }
  for (const a of document.querySelectorAll('nav a')) {
    const active = a.dataset.view === name || (name === 'block' || name === 'tx' ? a.dataset.view === 'chain' : false) || (name === 'address' && a.dataset.view === 'accounts');
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current?.destroy?.();
  current = null;
  const container = h('div', { class: 'view', dataset: { view: name } });
  fill(main, container);
  try {
    const render = await VIEWS[name]();
    const view = await render(container, arg);
    if (main.firstChild === container) current = view || null;
    else view?.destroy?.();
  } catch (e) {
    container.append(errorBox(e));
  }
  document.title = `iR³ · ${NAV.find(([v]) => v === name)?.[1] || name}`;
}

// ---- heads and blocks ----

/** Adds blocks (headers) to the list, newest first; a lower number means a rewind (revert). */
function addBlocks(headers, backfill = false) {
  const now = Date.now();
  for (const header of headers) {
    const block = {
      number: num(header.number),
      hash: header.hash,
      timestamp: num(header.timestamp),
      gasUsed: num(header.gasUsed),
      txCount: Array.isArray(header.transactions) ? header.transactions.length : null,
      seenAt: now,
      finalAt: null,
      backfill, // loaded at start or after a reconnect: not counted as throughput
    };
    block.seenTentative = state.heads.finalized !== null && block.number > state.heads.finalized;
    while (state.blocks.length && state.blocks[0].number >= block.number) state.blocks.shift();
    state.blocks.unshift(block);
  }
  if (state.blocks.length > MAX_BLOCKS) state.blocks.length = MAX_BLOCKS;
}

async function fillTxCounts() {
  const missing = state.blocks.filter((b) => b.txCount === null).slice(0, 100);
  if (!missing.length) return;
  const counts = await batch(missing.map((b) => ['eth_getBlockTransactionCountByHash', [b.hash]]));
  missing.forEach((b, i) => {
    b.txCount = counts[i] instanceof Error || counts[i] === null ? 0 : num(counts[i]);
  });
  // Blocks beyond what one batch fetches are estimated from their gas (a transfer is 21 000).
  for (const b of state.blocks.filter((x) => x.txCount === null)) {
    b.txCount = Math.max(1, Math.round(b.gasUsed / 21000));
    b.estimated = true;
  }
}

async function flush() {
  flushTimer = null;
  if (pendingHeads.length) {
    const headers = pendingHeads.splice(0);
    addBlocks(headers);
    const top = num(headers[headers.length - 1].number);
    if (state.heads.latest === null || top > state.heads.latest) state.heads.latest = top;
    // A single node's blocks are final once sealed: no need to wait for the next poll.
    if (state.info && !state.info.networked) state.heads.safe = state.heads.finalized = state.heads.latest;
    try {
      await fillTxCounts();
    } catch {
      /* the node went away: the next heads poll says so */
    }
  }
  render();
}

function scheduleFlush() {
  if (flushTimer === null) flushTimer = setTimeout(flush, 250);
}

/** Marks blocks up to `finalized` final, recording how long each was tentative here. */
function markFinal(finalized) {
  const now = Date.now();
  for (const b of state.blocks) {
    if (b.number > finalized) b.seenTentative = true;
    else if (b.finalAt === null) {
      b.finalAt = now;
      // Only blocks this page saw tentative have a latency worth plotting.
      if (state.info?.networked && b.seenTentative) state.latency.push([now, now - b.seenAt]);
    }
  }
  const oldest = now - HISTORY_S * 1000;
  while (state.latency.length && state.latency[0][0] < oldest) state.latency.shift();
}

async function pollHeads() {
  const results = await batch([
    ['eth_blockNumber', []],
    ['eth_getBlockByNumber', ['safe', false]],
    ['eth_getBlockByNumber', ['finalized', false]],
  ]);
  const latest = num(results[0]);
  const safe = results[1] instanceof Error ? null : num(results[1]?.number);
  const finalized = results[2] instanceof Error ? null : num(results[2]?.number);
  if (state.blocks.length && latest < state.blocks[0].number) {
    // The chain moved back (evm_revert, anvil_reset): forget the blocks above the new head.
    state.blocks = state.blocks.filter((b) => b.number <= latest);
  }
  if (latest > (state.blocks[0]?.number ?? -1)) await loadRecent(latest);
  state.heads = { latest, safe, finalized };
  if (finalized !== null) markFinal(finalized);
}

/** Loads up to 20 blocks up to `latest` that the list does not have (start, reconnect). */
async function loadRecent(latest) {
  const from = Math.max(state.blocks[0] ? state.blocks[0].number + 1 : 0, latest - 19);
  const numbers = [];
  for (let n = from; n <= latest; n++) numbers.push(n);
  const backfill = state.blocks.length === 0;
  const blocks = await batch(numbers.map((n) => ['eth_getBlockByNumber', ['0x' + n.toString(16), false]]));
  addBlocks(blocks.filter((b) => b && !(b instanceof Error)), backfill);
}

// ---- header ----

function render() {
  const { latest, safe, finalized } = state.heads;
  const set = (id, value) => {
    const el = document.getElementById(id);
    if (el) el.textContent = value === null || value === undefined ? '–' : String(value);
  };
  set('head-latest', latest);
  set('head-safe', safe);
  set('head-finalized', finalized);
  if (current?.update) {
    try {
      current.update();
    } catch (e) {
      console.warn('view update:', e);
    }
  }
}

function setConnection(online) {
  state.online = online;
  const el = document.getElementById('conn');
  el.className = `conn ${online ? 'up' : 'down'}`;
  el.textContent = online ? 'connected' : 'reconnecting…';
}

function renderInfo() {
  const info = state.info;
  const el = document.getElementById('node-info');
  if (!info) return;
  el.textContent = `${info.clientVersion} · chain ${info.chainId} · ${info.networked ? 'network mode' : 'single node'} · ${info.mining}`;
  const dev = document.querySelector('nav a[data-view="dev"]');
  dev.hidden = !info.devMethods;
}

async function loadInfo() {
  state.info = await rpc('ir3_nodeInfo');
  renderInfo();
}

function search(event) {
  event.preventDefault();
  const q = event.target.elements.q.value.trim();
  if (/^\d+$/.test(q)) location.hash = `#/block/${q}`;
  else if (isAddress(q)) location.hash = `#/address/${q}`;
  else if (isHash(q)) {
    rpc('eth_getTransactionByHash', [q])
      .then((tx) => (location.hash = tx ? `#/tx/${q}` : `#/block/${q}`))
      .catch(() => (location.hash = `#/block/${q}`));
  }
}

function setTheme(theme) {
  if (theme === 'auto') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById('theme');
  button.textContent = `theme: ${theme}`;
  try {
    localStorage.setItem('ir3-theme', theme);
  } catch {
    /* private mode */
  }
}

function keyboard(event) {
  const target = event.target;
  if (target.closest?.('input, textarea, select') || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === '/') {
    event.preventDefault();
    document.getElementById('q').focus();
  } else if (/^[1-6]$/.test(event.key)) {
    const link = document.querySelectorAll('nav a:not([hidden])')[Number(event.key) - 1];
    if (link) location.hash = link.getAttribute('href');
  }
}

function buildShell() {
  const nav = h(
    'nav',
    { 'aria-label': 'views' },
    NAV.map(([view, label], i) => h('a', { href: `#/${view}`, dataset: { view }, hidden: view === 'dev', title: `${label} (key ${i + 1})` }, label)),
  );
  const header = h(
    'header',
    null,
    h('div', { class: 'brand' }, h('img', { src: '/ui/favicon.svg', alt: '', width: 24, height: 24 }), h('strong', null, 'iR³'), h('span', { id: 'node-info', class: 'muted' }, '')),
    h(
      'div',
      { class: 'heads', 'aria-live': 'polite' },
      h('span', null, 'latest ', h('b', { id: 'head-latest' }, '–')),
      h('span', null, 'safe ', h('b', { id: 'head-safe' }, '–')),
      h('span', null, 'finalized ', h('b', { id: 'head-finalized' }, '–')),
    ),
    h('form', { class: 'search', role: 'search', onsubmit: search }, h('input', { id: 'q', name: 'q', placeholder: 'block, tx hash or address  ( / )', 'aria-label': 'search', autocomplete: 'off' })),
    h('span', { id: 'conn', class: 'conn', role: 'status' }, '…'),
    h('button', { id: 'theme', type: 'button', onclick: () => setTheme(nextTheme()) }, 'theme'),
  );
  const footer = h('footer', { class: 'muted' }, 'Keys: 1–6 switch views · / search · Tab moves through links and buttons. Served by the node itself; it talks JSON-RPC to ', h('span', { class: 'mono' }, location.host), '.');
  document.body.replaceChildren(header, nav, h('main', { id: 'view' }), footer);
}

function nextTheme() {
  const order = ['auto', 'light', 'dark'];
  const now = document.documentElement.dataset.theme || 'auto';
  return order[(order.indexOf(now) + 1) % order.length];
}

async function start() {
  buildShell();
  let theme = 'auto';
  try {
    theme = localStorage.getItem('ir3-theme') || 'auto';
  } catch {
    /* private mode */
  }
  setTheme(theme);
  document.addEventListener('keydown', keyboard);
  on('online', setConnection);
  on('head', (header) => {
    pendingHeads.push(header);
    scheduleFlush();
  });
  on('reconnected', async () => {
    state.blocks = [];
    await tryRpc('eth_chainId');
    await loadInfo().catch(() => {});
    await pollHeads().catch(() => {});
    show();
  });
  window.addEventListener('hashchange', show);
  try {
    await loadInfo();
    await pollHeads();
  } catch {
    setConnection(false);
  }
  connectHeads();
  show();
  render();
  const tick = async () => {
    try {
      await pollHeads();
      if (state.info === null) await loadInfo();
    } catch {
      /* offline: the connection badge says so, the next tick retries */
    }
    render();
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

/** Re-renders the current view now (after a dev action, say). */
export async function refresh() {
  await pollHeads().catch(() => {});
  render();
}

start();
