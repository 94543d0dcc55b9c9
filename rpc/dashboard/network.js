// The Network view (network mode): the gateway set and this node's seat, the peers with their
// YES / NO / silence / refused counts and reputation, the peer graph, the votes on the last final
// epoch, history-sync progress, chunk status, and the tentative → final latency plot.

import { state } from './app.js';
import { bar, chartCanvas, drawLines, peerGraph } from './charts.js';
import { batch, rpc } from './rpc.js';
import { h, fill, card, kv, table, short, badge, num, errorBox, isHash } from './util.js';

function chunkForm() {
  const out = h('pre', { class: 'mono small' });
  return h(
    'form',
    {
      class: 'inline',
      onsubmit: async (e) => {
        e.preventDefault();
        const id = e.target.elements.chunk.value.trim();
        if (!isHash(id)) return;
        try {
          out.textContent = JSON.stringify(await rpc('ir3_chunkStatus', [id]), null, 2);
        } catch (err) {
          out.textContent = String(err.message || err);
        }
      },
    },
    h('label', { for: 'chunk' }, 'Chunk id'),
    h('input', { id: 'chunk', name: 'chunk', placeholder: '0x… (keccak-256 of the chunk)', size: 70 }),
    h('button', { type: 'submit' }, 'Status'),
    out,
  );
}

function heightForm() {
  const out = h('div');
  return h(
    'div',
    null,
    h(
      'form',
      {
        class: 'inline',
        onsubmit: async (e) => {
          e.preventDefault();
          const n = e.target.elements.height.value.trim();
          if (!/^\d+$/.test(n)) return;
          try {
            const view = await rpc('ir3_height', ['0x' + BigInt(n).toString(16)]);
            fill(out, view ? heightTable(view) : h('p', { class: 'muted' }, `height ${n} is not decided here`));
          } catch (err) {
            fill(out, errorBox(err));
          }
        },
      },
      h('label', { for: 'height' }, 'Height'),
      h('input', { id: 'height', name: 'height', placeholder: 'height number', size: 14, inputmode: 'numeric' }),
      h('button', { type: 'submit' }, 'Show'),
    ),
    out,
  );
}

function heightTable(view) {
  const envelopes = view.epochs.reduce((sum, [, count]) => sum + count, 0);
  return [
    h('p', null, `height ${view.height}, round ${view.round} `, badge('decided', 'ok')),
    kv([
      ['value', h('span', { class: 'mono small', title: view.valueId }, short(view.valueId, 8))],
      ['epochs', view.epochs.length ? view.epochs.map(([epoch, count]) => `${epoch} (${count})`).join(', ') : 'none'],
      ['envelopes', envelopes],
      ['certificate', view.signers.length ? `${view.certificateBytes} bytes` : 'not held (taken from history)'],
    ]),
    table(
      ['seat', 'precommit by'],
      view.signers.map(([seat, peer]) => h('tr', null, h('td', null, `#${seat}`), h('td', { class: 'mono small', title: peer }, short(peer, 8)))),
      { 'aria-label': 'certificate signers' },
    ),
  ];
}

/** Renders the Network view. */
export async function renderNetwork(container) {
  if (!state.info?.networked) {
    container.append(card('Network', h('p', null, 'This node runs alone (no --p2p-port): there are no peers, decided heights or chunks to show. Write a network with `ir3 network init` and start its gateways with --network, --key and --p2p-port to see them here.')));
    return null;
  }
  const status = h('div');
  const graph = h('div', { class: 'graph-wrap' });
  const peers = h('div');
  const epoch = h('div');
  const sync = h('div');
  const latency = chartCanvas('tentative to final latency, last three minutes');
  container.append(
    h('div', { class: 'cols' }, card('Validator set', status), card('Peer graph', graph)),
    card('Peers', peers),
    h('div', { class: 'cols' }, card('Last decided height', epoch, heightForm()), card('Send → final (seen here)', latency)),
    card('History sync and chunks', sync, chunkForm()),
  );
  let busy = false;
  let last = 0;
  async function update() {
    if (busy || Date.now() - last < 1000) return;
    busy = true;
    last = Date.now();
    try {
      const [net, list, reputation, decided, syncing] = await batch([
        ['ir3_networkStatus', []],
        ['ir3_peers', []],
        ['ir3_reputation_list', []],
        ['ir3_height', []],
        ['eth_syncing', []],
      ]);
      if (net instanceof Error) throw net;
      const seatOf = new Map(net.members.map(([seat, peer]) => [peer, seat]));
      const scoreOf = new Map((reputation instanceof Error ? [] : reputation).map((r) => [r.node, r]));
      fill(
        status,
        kv([
          ['this node', net.voting ? `validator #${net.gateway} of ${net.gateways} (quorum ${net.majority})` : `observer (${net.gateways} validators, quorum ${net.majority})`],
          ['peer id', h('span', { class: 'mono small' }, net.peerId || '–')],
          ['latest / safe / finalized', `${net.latestBlock} / ${net.safeBlock} / ${net.finalizedBlock}`],
          ['decided height', net.decidedHeight ?? '–'],
          ['final epoch', net.finalEpoch ?? '–'],
          ['epoch length', `${net.epochMs} ms`],
          ['history segments held', net.historySegments],
          ['heights taken from history', net.heightsFromHistory],
          ['members', h('ul', { class: 'plain' }, net.members.map(([seat, peer]) => h('li', null, `#${seat} `, h('span', { class: 'mono small', title: peer }, short(peer, 8)))))],
          ['membership changes', (net.pendingChanges || []).length ? h('ul', { class: 'plain' }, net.pendingChanges.map((c) => h('li', null, `${c.add.length ? '+' + c.add.map((p) => short(p, 6)).join(' +') : ''}${c.remove.length ? ' −' + c.remove.map((p) => short(p, 6)).join(' −') : ''} · ${c.approvals} approval(s)`))) : 'none pending'],
        ]),
      );
      const peerList = list instanceof Error ? [] : list;
      fill(
        graph,
        peerGraph(
          `#${net.gateway}`,
          peerList.map((p) => ({ ...p, label: seatOf.has(p.peer) ? `#${seatOf.get(p.peer)}` : short(p.peer, 3) })),
        ),
      );
      fill(
        peers,
        peerList.length
          ? table(
              ['peer', 'seat', 'YES', 'NO', 'silence', 'refused', 'intents received', 'reputation'],
              peerList.map((p) => {
                const r = scoreOf.get(p.peer);
                return h(
                  'tr',
                  { dataset: { peer: p.peer } },
                  h('td', { class: 'mono small', title: p.peer }, short(p.peer, 8)),
                  h('td', null, seatOf.has(p.peer) ? `#${seatOf.get(p.peer)}` : '–'),
                  h('td', { class: 'num yes' }, p.yes),
                  h('td', { class: 'num no' }, p.no),
                  h('td', { class: 'num' }, p.silence),
                  h('td', { class: 'num', title: p.lastRefusal || '' }, p.refused),
                  h('td', { class: 'num' }, p.intentsReceived),
                  h('td', null, r ? bar(r.score, r.score.toFixed(2)) : '–'),
                );
              }),
              { 'aria-label': 'peers' },
            )
          : h('p', { class: 'muted' }, 'No peers yet.'),
      );
      if (!(decided instanceof Error) && decided) fill(epoch, heightTable(decided));
      else fill(epoch, h('p', { class: 'muted' }, 'No decided height yet.'));
      if (syncing && typeof syncing === 'object' && !(syncing instanceof Error)) {
        fill(sync, bar(num(syncing.currentBlock) / Math.max(1, num(syncing.highestBlock)), `history sync: height ${num(syncing.currentBlock)} of ${num(syncing.highestBlock)}`));
      } else fill(sync, bar(1, `not syncing · ${net.historySegments} segments held`));
      drawLines(latency, [{ label: 'ms until final', color: '--warn', points: state.latency, dots: true }], { windowMs: 180_000 });
    } catch (e) {
      fill(status, errorBox(e));
    } finally {
      busy = false;
    }
  }
  await update();
  return { update };
}
