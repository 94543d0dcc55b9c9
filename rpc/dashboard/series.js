// The Series view: the node's event log as it grows — entries, size, kinds, rate — and the
// history sync's progress (eth_syncing).

import { bar, chartCanvas, drawLines } from './charts.js';
import { rpc, tryRpc } from './rpc.js';
import { h, fill, card, kv, table, bytes, num } from './util.js';

/** Renders the Series view. */
export async function renderSeries(container) {
  const summary = h('div');
  const kinds = h('div');
  const sync = h('div');
  const rate = chartCanvas('series entries appended per second');
  const timeline = chartCanvas('series entries per 5 seconds, last five minutes');
  container.append(
    card('Series', h('p', { class: 'muted' }, 'Every fact the node learns is appended to its series (fsync, group commit); the chain and the apps are derived from it by replay.'), summary),
    h('div', { class: 'cols' }, card('Append rate (live)', rate), card('Entries per 5 s (from the log)', timeline)),
    card('Entries by kind', kinds),
    card('History sync', sync),
  );
  const samples = []; // [time ms, entries]
  let detail = null;
  let lastDetail = 0;
  let busy = false;
  let last = 0;
  async function update() {
    if (busy || Date.now() - last < 1000) return;
    busy = true;
    last = Date.now();
    try {
      const light = await rpc('ir3_seriesStatus', [false]);
      const now = Date.now();
      samples.push([now, light.entries]);
      while (samples.length > 200) samples.shift();
      if (now - lastDetail > 3000) {
        lastDetail = now;
        detail = await rpc('ir3_seriesStatus', [true]);
        drawLines(timeline, [{ label: 'entries / 5 s', color: '--accent', points: detail.timeline.map(([t, c]) => [t, c]) }], { windowMs: 300_000 });
        const total = Object.values(detail.kinds).reduce((a, b) => a + b, 0) || 1;
        fill(
          kinds,
          table(
            ['kind', 'entries', 'share'],
            Object.entries(detail.kinds)
              .sort((a, b) => b[1] - a[1])
              .map(([kind, count]) => h('tr', null, h('td', { class: 'mono' }, kind), h('td', { class: 'num' }, count.toLocaleString()), h('td', { class: 'share' }, bar(count / total, `${((100 * count) / total).toFixed(1)}%`)))),
            { 'aria-label': 'series entries by kind' },
          ),
        );
      }
      const perSecond = [];
      for (let i = 1; i < samples.length; i++) {
        const dt = (samples[i][0] - samples[i - 1][0]) / 1000;
        if (dt > 0) perSecond.push([samples[i][0], (samples[i][1] - samples[i - 1][1]) / dt]);
      }
      const last = perSecond[perSecond.length - 1]?.[1] ?? 0;
      fill(
        summary,
        kv([
          ['entries', light.entries.toLocaleString()],
          ['size in the log', detail ? bytes(detail.bytes) : '…'],
          ['appending now', `${last.toFixed(1)} entries/s`],
          ['first entry', detail?.firstMs ? new Date(detail.firstMs).toISOString() : '–'],
          ['last entry', detail?.lastMs ? new Date(detail.lastMs).toISOString() : '–'],
        ]),
      );
      drawLines(rate, [{ label: 'entries/s', color: '--ok', points: perSecond }], { windowMs: 120_000 });
      const syncing = await tryRpc('eth_syncing', [], false);
      if (syncing && typeof syncing === 'object') {
        const done = num(syncing.currentBlock) - num(syncing.startingBlock);
        const all = Math.max(1, num(syncing.highestBlock) - num(syncing.startingBlock));
        fill(sync, bar(done / all, `syncing: block ${num(syncing.currentBlock)} of ${num(syncing.highestBlock)}`));
      } else fill(sync, h('p', null, 'Not syncing: the node is caught up (its series was replayed at start).'));
    } catch {
      /* offline: the header says so */
    } finally {
      busy = false;
    }
  }
  await update();
  return { update };
}
