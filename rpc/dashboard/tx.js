// A block with its transactions; a transaction with its receipt, decoded logs, call tree
// (debug_traceTransaction, callTracer), status tentative → final and, in network mode, the
// peers' answers to its intent.

import { state } from './app.js';
import { decodeCall, decodeError, decodeLog, methodName } from './abi.js';
import { rpc, tryRpc } from './rpc.js';
import { h, fill, card, kv, table, num, eth, gwei, short, ago, addrLink, txLink, blockLink, badge, errorBox, isHash, ms } from './util.js';

/** Renders a block (by number or hash) and its transactions. */
export async function renderBlock(container, arg) {
  const block = isHash(arg) ? await rpc('eth_getBlockByHash', [arg, true]) : await rpc('eth_getBlockByNumber', ['0x' + Number(arg || 0).toString(16), true]);
  if (!block) {
    container.append(errorBox(`no block ${arg}`));
    return null;
  }
  const number = num(block.number);
  const statusCell = h('span');
  const rows = block.transactions.map((tx, i) =>
    h(
      'tr',
      null,
      h('td', null, i),
      h('td', null, txLink(tx.hash)),
      h('td', null, addrLink(tx.from)),
      h('td', null, tx.to ? addrLink(tx.to) : badge('create', 'info')),
      h('td', { class: 'num' }, eth(tx.value)),
      h('td', { class: 'mono' }, methodName(tx.input)),
    ),
  );
  container.append(
    h(
      'div',
      { class: 'pager' },
      number > 0 ? h('a', { href: `#/block/${number - 1}` }, '← previous') : null,
      h('h1', null, `Block ${number}`),
      h('a', { href: `#/block/${number + 1}` }, 'next →'),
    ),
    card(
      null,
      kv([
        ['status', statusCell],
        ['hash', h('span', { class: 'mono' }, block.hash)],
        ['parent', block.parentHash && number > 0 ? h('a', { href: `#/block/${block.parentHash}`, class: 'mono' }, block.parentHash) : '–'],
        ['time', `${new Date(num(block.timestamp) * 1000).toISOString()} (${ago(num(block.timestamp))})`],
        ['gas used / limit', `${num(block.gasUsed).toLocaleString()} / ${num(block.gasLimit).toLocaleString()}`],
        ['base fee', block.baseFeePerGas ? gwei(block.baseFeePerGas) : '–'],
        ['miner', addrLink(block.miner)],
        ['state root', h('span', { class: 'mono' }, block.stateRoot)],
      ]),
    ),
    card(`Transactions (${block.transactions.length})`, rows.length ? table(['#', 'hash', 'from', 'to', 'value', 'method'], rows, { 'aria-label': 'transactions of the block' }) : h('p', { class: 'muted' }, 'No transactions.')),
  );
  function update() {
    const f = state.heads.finalized;
    fill(statusCell, f !== null && number <= f ? badge('final') : badge('tentative'));
  }
  update();
  return { update };
}

function callTree(frame, depth = 0) {
  const decoded = decodeCall(frame.input);
  const title = h(
    'span',
    { class: 'frame' },
    badge(frame.type || 'CALL', frame.error ? 'bad' : 'info'),
    ' ',
    addrLink(frame.from),
    ' → ',
    frame.to ? addrLink(frame.to) : '–',
    ' ',
    h('span', { class: 'mono' }, decoded ? `${decoded.name}(${decoded.args.map(([k, v]) => `${k}=${short(v, 10)}`).join(', ')})` : methodName(frame.input)),
    frame.value && num(frame.value) > 0 ? ` · ${eth(frame.value)}` : '',
    ` · gas ${num(frame.gasUsed ?? '0x0').toLocaleString()}`,
    frame.error ? h('span', { class: 'error-inline' }, ` · ${frame.error}${frame.revertReason ? `: ${frame.revertReason}` : ''}`) : '',
  );
  const children = frame.calls || [];
  if (!children.length) return h('li', { class: 'leaf' }, title);
  return h('li', null, h('details', { open: depth < 3 }, h('summary', null, title), h('ul', null, children.map((c) => callTree(c, depth + 1)))));
}

function logRow(log) {
  const decoded = decodeLog(log);
  return h(
    'tr',
    null,
    h('td', null, num(log.logIndex)),
    h('td', null, addrLink(log.address)),
    h(
      'td',
      null,
      decoded
        ? h('span', null, h('b', null, decoded.name), ' ', decoded.args.map(([k, v]) => h('span', { class: 'arg' }, `${k}: `, h('span', { class: 'mono' }, /^0x[0-9a-f]{40}$/i.test(v) ? addrLink(v) : v))))
        : h('span', { class: 'mono muted' }, `topic0 ${short(log.topics?.[0] || '', 10)} · ${Math.max(0, (log.data.length - 2) / 2)} data bytes`),
    ),
  );
}

function answers(insight) {
  if (!insight) return h('p', { class: 'muted' }, 'No intent recorded for this transaction here (it was sent to another gateway, or the answers are not in yet).');
  return h(
    'div',
    { class: 'answers' },
    h('p', null, `${insight.app}/${insight.kind} · expected ${insight.expected.length} peers`),
    table(
      ['answer', 'peers'],
      [
        h('tr', null, h('td', null, badge('YES', 'ok')), h('td', { class: 'mono' }, insight.yes.map((p) => short(p, 8)).join(', ') || '–')),
        h('tr', null, h('td', null, badge('NO', 'bad')), h('td', { class: 'mono' }, insight.no.map((n) => `${short(n.peer, 8)} (${n.reason})`).join(', ') || '–')),
        h('tr', null, h('td', null, badge('silence', 'warn')), h('td', { class: 'mono' }, insight.silence.map((p) => short(p, 8)).join(', ') || '–')),
      ],
      { 'aria-label': 'peer answers', class: 'grid answers-table' },
    ),
  );
}

/** Renders a transaction: fields, receipt, logs, call tree, status, peers' answers. */
export async function renderTx(container, hash) {
  const [tx, receipt] = await Promise.all([rpc('eth_getTransactionByHash', [hash]), rpc('eth_getTransactionReceipt', [hash])]);
  if (!tx) {
    container.append(errorBox(`no transaction ${hash}`));
    return null;
  }
  const decoded = decodeCall(tx.input);
  const statusCell = h('span', { class: 'tx-status' });
  const tree = h('ul', { class: 'tree', 'aria-label': 'call tree' }, h('li', { class: 'muted' }, 'tracing…'));
  const peers = h('div', null, h('p', { class: 'muted' }, '…'));
  const opened = Date.now();
  container.append(
    h('h1', null, 'Transaction ', h('span', { class: 'mono small' }, hash)),
    card(
      null,
      kv([
        ['status', statusCell],
        ['result', receipt ? (num(receipt.status) === 1 ? badge('success', 'ok') : badge('reverted', 'bad')) : badge('pending', 'warn')],
        ['block', tx.blockNumber ? blockLink(num(tx.blockNumber)) : '–'],
        ['from', addrLink(tx.from)],
        ['to', tx.to ? addrLink(tx.to) : h('span', null, 'contract creation → ', addrLink(receipt?.contractAddress))],
        ['value', eth(tx.value, 18)],
        ['nonce', num(tx.nonce)],
        ['type', num(tx.type)],
        ['gas used / limit', `${receipt ? num(receipt.gasUsed).toLocaleString() : '–'} / ${num(tx.gas).toLocaleString()}`],
        ['effective gas price', receipt ? gwei(receipt.effectiveGasPrice) : '–'],
        ['method', decoded ? h('span', { class: 'mono' }, `${decoded.name}(${decoded.args.map(([k, v]) => `${k}=${v}`).join(', ')})`) : h('span', { class: 'mono' }, methodName(tx.input))],
        ['input', h('details', null, h('summary', null, `${Math.max(0, (tx.input.length - 2) / 2)} bytes`), h('code', { class: 'wrap' }, tx.input))],
      ]),
    ),
    card(`Logs (${receipt?.logs.length ?? 0})`, receipt?.logs.length ? table(['#', 'address', 'event'], receipt.logs.map(logRow), { 'aria-label': 'logs' }) : h('p', { class: 'muted' }, 'No logs.')),
    card('Call tree', tree),
  );
  if (state.info?.networked) container.append(card("Peers' answers", peers));
  const trace = await tryRpc('debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
  if (trace) {
    fill(tree, callTree(trace));
    if (trace.output && trace.error) {
      const reason = decodeError(trace.output);
      if (reason) tree.append(h('li', { class: 'error-inline' }, `revert: ${reason}`));
    }
  } else fill(tree, h('li', { class: 'muted' }, 'no trace (pending transaction?)'));

  let final = null;
  let checking = false;
  let lastCheck = 0;
  async function update() {
    if (checking || Date.now() - lastCheck < (final ? 1000 : 400)) return;
    checking = true;
    lastCheck = Date.now();
    try {
      if (state.info?.networked) fill(peers, answers(await tryRpc('ir3_intentResponses', [hash])));
      if (final) return;
      const status = await rpc('ir3_transactionStatus', [hash]);
      if (status.status === 'final') {
        const block = tx.blockNumber ? await tryRpc('eth_getBlockByNumber', [tx.blockNumber, false]) : null;
        const since = block ? Date.now() - num(block.timestamp) * 1000 : null;
        final = true;
        fill(statusCell, badge('final'), ' ', h('span', { class: 'muted' }, since !== null ? `${ms(since)} after its block's time` : ''));
      } else {
        fill(statusCell, badge(status.status, status.status === 'dropped' ? 'bad' : 'tentative'), status.reason ? ` ${status.reason}` : '', h('span', { class: 'muted' }, ` · watching for ${ms(Date.now() - opened)}`));
      }
    } catch (e) {
      fill(statusCell, errorBox(e));
    } finally {
      checking = false;
    }
  }
  await update();
  return { update };
}
