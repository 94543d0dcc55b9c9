// The Chain view: heads, the chain of recent blocks (tentative vs final), throughput and
// finality-latency charts, and the list of blocks (virtualised: only visible rows are in the DOM).

import { state } from './app.js';
import { chainStrip, chartCanvas, drawLines } from './charts.js';
import { tryRpc } from './rpc.js';
import { h, fill, card, badge, ago, short, kv, num } from './util.js';

const ROW = 30;

/** A scrolling list of fixed-height rows that renders only the rows in view. */
export function virtualList(height, renderRow, label) {
  const rows = h('div', { class: 'vrows', role: 'rowgroup' });
  const spacer = h('div', { class: 'vspacer' }, rows);
  const outer = h('div', { class: 'vlist', role: 'table', 'aria-label': label, tabindex: 0 }, spacer);
  outer.style.height = `${height}px`;
  let items = [];
  let dirty = false;
  let frame = null;
  function paint() {
    frame = null;
    if (rows.contains(document.activeElement)) {
      // Do not pull the row a keyboard user is on from under them; repaint when they leave.
      dirty = true;
      return;
    }
    dirty = false;
    spacer.style.height = `${items.length * ROW}px`;
    const first = Math.max(0, Math.floor(outer.scrollTop / ROW) - 5);
    const last = Math.min(items.length, first + Math.ceil(height / ROW) + 10);
    rows.style.transform = `translateY(${first * ROW}px)`;
    fill(rows, items.slice(first, last).map(renderRow));
  }
  const schedule = () => {
    if (frame === null) frame = requestAnimationFrame(paint);
  };
  outer.addEventListener('scroll', schedule);
  rows.addEventListener('focusout', () => dirty && setTimeout(schedule, 0));
  return {
    el: outer,
    set(list) {
      items = list;
      schedule();
    },
  };
}

function status(number) {
  const f = state.heads.finalized;
  return f !== null && number <= f ? badge('final') : badge('tentative');
}

function blockRow(b) {
  return h(
    'div',
    { class: 'vrow', role: 'row', dataset: { number: b.number } },
    h('span', { role: 'cell' }, h('a', { href: `#/block/${b.number}`, class: 'mono' }, `#${b.number}`)),
    h('span', { role: 'cell', class: 'mono', title: b.hash }, short(b.hash, 8)),
    h('span', { role: 'cell' }, b.txCount === null ? '…' : `${b.txCount}${b.estimated ? '~' : ''} tx`),
    h('span', { role: 'cell' }, `${(b.gasUsed / 1e6).toFixed(3)} Mgas`),
    h('span', { role: 'cell', class: 'muted' }, ago(b.timestamp)),
    h('span', { role: 'cell' }, status(b.number)),
  );
}

function throughputSeries() {
  // Per second of arrival here, from the blocks kept (their transaction counts included).
  const now = Math.floor(Date.now() / 1000);
  const txs = new Map();
  const blocks = new Map();
  for (const b of state.blocks) {
    if (b.backfill) continue;
    const s = Math.floor(b.seenAt / 1000);
    if (s < now - 60) break;
    blocks.set(s, (blocks.get(s) || 0) + 1);
    txs.set(s, (txs.get(s) || 0) + (b.txCount || 0));
  }
  const points = (map) => Array.from({ length: 60 }, (_, i) => now - 60 + i).map((s) => [s * 1000, map.get(s) || 0]);
  return [
    { label: 'tx/s', color: '--accent', points: points(txs) },
    { label: 'blocks/s', color: '--ok', points: points(blocks) },
  ];
}

/** Renders the Chain view into `container`. */
export function renderChain(container) {
  const heads = h('div', { class: 'stats' });
  const strip = h('div', { class: 'strip-wrap' });
  const throughput = chartCanvas('transactions and blocks per second, last minute');
  const latency = chartCanvas('tentative to final latency');
  const list = virtualList(ROW * 14, blockRow, 'blocks, newest first');
  const count = h('span', { class: 'muted' });
  const networked = state.info?.networked;
  container.append(
    card('Heads', heads, strip),
    h(
      'div',
      { class: 'cols' },
      card('Throughput', throughput),
      networked ? card('Tentative → final (seen here)', latency) : card('Finality', h('p', { class: 'muted' }, 'A single node: every sealed block is final once durable (safe = finalized = latest).')),
    ),
    card(
      'Blocks',
      h('div', { class: 'vhead' }, h('span', null, 'block'), h('span', null, 'hash'), h('span', null, 'txs'), h('span', null, 'gas'), h('span', null, 'time'), h('span', null, 'status')),
      list.el,
      count,
    ),
  );
  let lastDraw = 0;
  let pool = null;
  let lastPool = 0;
  function update() {
    const { latest, safe, finalized } = state.heads;
    if (Date.now() - lastPool > 2000) {
      lastPool = Date.now();
      tryRpc('txpool_status').then((p) => (pool = p));
    }
    fill(
      heads,
      kv([
        ['latest', latest ?? '–'],
        ['safe', safe ?? '–'],
        ['finalized', finalized ?? '–'],
        ['tentative blocks', latest !== null && finalized !== null ? Math.max(0, latest - finalized) : '–'],
        ['pool (pending / queued)', pool ? `${num(pool.pending)} / ${num(pool.queued)}` : '–'],
      ]),
    );
    if (!strip.contains(document.activeElement)) fill(strip, chainStrip(state.blocks, finalized ?? -1));
    list.set(state.blocks);
    count.textContent = `${state.blocks.length} most recent blocks kept (of ${latest ?? '–'} + 1)`;
    const now = Date.now();
    if (now - lastDraw > 900) {
      lastDraw = now;
      drawLines(throughput, throughputSeries());
      if (networked) drawLines(latency, [{ label: 'ms until final', color: '--warn', points: state.latency, dots: true }], { windowMs: 180_000, unit: '' });
    }
  }
  update();
  return { update };
}
