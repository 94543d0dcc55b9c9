// Dev controls, served only when the node allows dev methods (not in network mode). Each button
// calls the same JSON-RPC method cast would (`cast rpc evm_mine`, …) and shows what it answered.

import { refresh, state } from './app.js';
import { rpc } from './rpc.js';
import { h, fill, card, kv, badge } from './util.js';

/** Renders the Dev controls view. */
export async function renderDev(container) {
  const log = h('ol', { class: 'log', 'aria-live': 'polite', 'aria-label': 'dev actions' });
  const mining = h('span');
  const snapshots = h('div');
  const revertSelect = h('select', { id: 'revert-id', name: 'snapshot', 'aria-label': 'snapshot to revert to' });

  async function act(label, method, params = []) {
    const item = h('li', null, h('span', { class: 'mono' }, `${method}(${params.map((p) => JSON.stringify(p)).join(', ')})`), ' … ');
    log.prepend(item);
    while (log.children.length > 30) log.lastChild.remove();
    try {
      const result = await rpc(method, params);
      item.append(badge('ok'), ' ', h('span', { class: 'mono' }, JSON.stringify(result)));
      await refresh();
      await update();
      return result;
    } catch (e) {
      item.append(badge('error', 'bad'), ` ${e.message}`);
      return undefined;
    }
  }

  const form = (id, label, input, button, onsubmit) =>
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (e) => {
          e.preventDefault();
          onsubmit(e.target.elements);
        },
      },
      h('label', { for: id }, label),
      input,
      h('button', { type: 'submit' }, button),
    );

  container.append(
    h(
      'div',
      { class: 'cols' },
      card(
        'Mining',
        kv([['mode', mining]]),
        h(
          'div',
          { class: 'buttons' },
          h('button', { type: 'button', id: 'mine', onclick: () => act('mine', 'evm_mine') }, 'Mine a block'),
          h('button', { type: 'button', id: 'automine-on', onclick: () => act('automine', 'evm_setAutomine', [true]) }, 'Automine on'),
          h('button', { type: 'button', id: 'automine-off', onclick: () => act('automine', 'evm_setAutomine', [false]) }, 'Automine off'),
        ),
        form('interval', 'Interval (s)', h('input', { id: 'interval', name: 'interval', type: 'number', min: 0, value: 1 }), 'Set interval mining', (f) => act('interval', 'evm_setIntervalMining', [Number(f.interval.value)])),
      ),
      card(
        'Snapshots',
        h(
          'div',
          { class: 'buttons' },
          h('button', { type: 'button', id: 'snapshot', onclick: () => act('snapshot', 'evm_snapshot') }, 'Take a snapshot'),
        ),
        form('revert-id', 'Snapshot', revertSelect, 'Revert', (f) => f.snapshot.value && act('revert', 'evm_revert', [f.snapshot.value])),
        snapshots,
      ),
    ),
    h(
      'div',
      { class: 'cols' },
      card(
        'Time travel',
        form('increase', 'Seconds', h('input', { id: 'increase', name: 'seconds', type: 'number', min: 0, value: 3600 }), 'Increase time', (f) => act('time', 'evm_increaseTime', [Number(f.seconds.value)])),
        form('next-ts', 'Unix time', h('input', { id: 'next-ts', name: 'ts', type: 'number', min: 0, placeholder: String(Math.floor(Date.now() / 1000) + 3600) }), 'Set next block timestamp', (f) => f.ts.value && act('time', 'evm_setNextBlockTimestamp', [Number(f.ts.value)])),
      ),
      card(
        'Impersonation',
        form('impersonate', 'Address', h('input', { id: 'impersonate', name: 'address', placeholder: '0x…', size: 44, pattern: '0x[0-9a-fA-F]{40}' }), 'Impersonate', (f) => act('impersonate', 'anvil_impersonateAccount', [f.address.value.trim()])),
        form('stop-impersonate', 'Address', h('input', { id: 'stop-impersonate', name: 'address', placeholder: '0x…', size: 44, pattern: '0x[0-9a-fA-F]{40}' }), 'Stop impersonating', (f) => act('impersonate', 'anvil_stopImpersonatingAccount', [f.address.value.trim()])),
        h('p', { class: 'muted' }, 'Then eth_sendTransaction from that address needs no key (cast send --unlocked --from …).'),
      ),
    ),
    card('What was called', log),
  );

  let busy = false;
  async function update() {
    if (busy) return;
    busy = true;
    try {
      const [info, metadata] = await Promise.all([rpc('ir3_nodeInfo'), rpc('anvil_metadata')]);
      state.info = info;
      fill(mining, `${info.mining}${info.intervalSecs ? ` every ${info.intervalSecs} s` : ''}`);
      const ids = Object.entries(metadata.snapshots || {});
      const selected = revertSelect.value;
      fill(revertSelect, ids.map(([id, [number]]) => h('option', { value: id, selected: id === selected }, `${id} (block ${number})`)));
      if (!selected && ids.length) revertSelect.value = ids[ids.length - 1][0];
      fill(snapshots, ids.length ? h('p', { class: 'muted' }, `${ids.length} snapshot(s) to revert to; a revert consumes the snapshot and those after it.`) : h('p', { class: 'muted' }, 'No snapshots.'));
    } catch {
      /* offline */
    } finally {
      busy = false;
    }
  }
  await update();
  // Refreshing the snapshots after every new block is enough; no need on every flush.
  let lastLatest = state.heads.latest;
  return {
    update: () => {
      if (state.heads.latest !== lastLatest) {
        lastLatest = state.heads.latest;
        update();
      }
    },
  };
}
