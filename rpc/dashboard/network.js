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

function epochForm() {
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
          const n = e.target.elements.epoch.value.trim();
          if (!/^\d+$/.test(n)) return;
          try {
            fill(out, votesTable(await rpc('ir3_epoch', ['0x' + BigInt(n).toString(16)])));
          } catch (err) {
            fill(out, errorBox(err));
          }
        },
      },
      h('label', { for: 'epoch' }, 'Epoch'),
      h('input', { id: 'epoch', name: 'epoch', placeholder: 'epoch number', size: 14, inputmode: 'numeric' }),
      h('button', { type: 'submit' }, 'Votes'),
    ),
    out,
  );
}

function votesTable(votes) {
  return [
    h('p', null, `epoch ${votes.epoch} `, votes.isFinal ? badge('final') : badge('tentative')),
    table(
      ['round', 'block', 'gateways'],
      votes.perspectives.map((p) => h('tr', null, h('td', null, p.round), h('td', { class: 'mono small', title: p.blockHash }, /^0x0+$/.test(p.blockHash) ? 'no block' : short(p.blockHash, 8)), h('td', null, p.gateways.map((g) => `#${g}`).join(' ')))),
      { 'aria-label': 'votes by outcome' },
    ),
  ];
}

/** Renders the Network view. */
export async function renderNetwork(container) {
  if (!state.info?.networked) {
    container.append(card('Network', h('p', null, 'This node runs alone (no --p2p-port): there are no peers, votes or chunks to show. Start gateways with --p2p-port, --node-id and --gateways to see them here.')));
    return null;
  }
  const status = h('div');
  const graph = h('div', { class: 'graph-wrap' });
  const peers = h('div');
  const epoch = h('div');
  const sync = h('div');
  const latency = chartCanvas('tentative to final latency, last three minutes');
  container.append(
    h('div', { class: 'cols' }, card('Gateway set', status), card('Peer graph', graph)),
    card('Peers', peers),
    h('div', { class: 'cols' }, card('Last final epoch: votes', epoch, epochForm()), card('Send → final (seen here)', latency)),
    card('History sync and chunks', sync, chunkForm()),
  );
  let busy = false;
  let last = 0;
  async function update() {
    if (busy || Date.now() - last < 1000) return;
    busy = true;
    last = Date.now();
    try {
      const [net, list, reputation, votes, syncing] = await batch([
        ['ir3_networkStatus', []],
        ['ir3_peers', []],
        ['ir3_reputation_list', []],
        ['ir3_epoch', []],
        ['eth_syncing', []],
      ]);
      if (net instanceof Error) throw net;
      const seatOf = new Map(net.members.map(([seat, peer]) => [peer, seat]));
      const scoreOf = new Map((reputation instanceof Error ? [] : reputation).map((r) => [r.node, r]));
      fill(
        status,
        kv([
          ['this node', `${net.voting ? 'gateway' : 'observer'} ${net.gateway} of ${net.gateways} (majority ${net.majority})`],
          ['peer id', h('span', { class: 'mono small' }, net.peerId || '–')],
          ['latest / safe / finalized', `${net.latestBlock} / ${net.safeBlock} / ${net.finalizedBlock}`],
          ['final epoch', net.finalEpoch ?? '–'],
          ['epoch length', `${net.epochMs} ms`],
          ['diverged', net.diverged ? h('span', { class: 'error-inline' }, net.diverged) : badge('no', 'ok')],
          ['history segments held', net.historySegments],
          ['epochs taken from history', net.epochsFromHistory],
          ['members', h('ul', { class: 'plain' }, net.members.map(([seat, peer]) => h('li', null, `#${seat} `, h('span', { class: 'mono small', title: peer }, short(peer, 8)))))],
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
      if (!(votes instanceof Error) && votes) fill(epoch, votesTable(votes));
      else fill(epoch, h('p', { class: 'muted' }, 'No final epoch yet.'));
      if (syncing && typeof syncing === 'object' && !(syncing instanceof Error)) {
        fill(sync, bar(num(syncing.currentBlock) / Math.max(1, num(syncing.highestBlock)), `history sync: chunk ${num(syncing.currentBlock)} of ${num(syncing.highestBlock)}`));
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
