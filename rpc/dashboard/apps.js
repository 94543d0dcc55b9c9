// The Apps view: the native apps' state — currencies and balances, loans, reputation, the
// message inbox — and look-ups for territory consensus and compute reports.

import { batch, rpc } from './rpc.js';
import { h, fill, card, table, short, badge, addrLink, errorBox, kv } from './util.js';

function lookup(label, placeholder, method, toParams, show) {
  const out = h('div', { class: 'lookup-out' });
  const id = `lookup-${method}`;
  return h(
    'div',
    null,
    h(
      'form',
      {
        class: 'inline',
        onsubmit: async (e) => {
          e.preventDefault();
          const value = e.target.elements.value.value.trim();
          if (!value) return;
          try {
            fill(out, show(await rpc(method, toParams(value))));
          } catch (err) {
            fill(out, errorBox(err));
          }
        },
      },
      h('label', { for: id }, label),
      h('input', { id, name: 'value', placeholder, size: 40 }),
      h('button', { type: 'submit' }, 'Show'),
    ),
    out,
  );
}

function json(value) {
  return h('pre', { class: 'mono small' }, JSON.stringify(value, null, 2));
}

function failed(value) {
  return value instanceof Error ? h('p', { class: 'muted' }, value.message) : null;
}

/** Renders the Apps view. */
export async function renderApps(container) {
  const money = h('div');
  const loans = h('div');
  const reputation = h('div');
  const inbox = h('div');
  container.append(
    h('div', { class: 'cols' }, card('Money: currencies and balances', money), card('Reputation', reputation)),
    card('Lending: loans', loans),
    card('Messaging: inbox', inbox),
    h(
      'div',
      { class: 'cols' },
      card('Territory: consensus', lookup('Location', 'paris', 'ir3_territory_consensus', (v) => [v], (c) => kv([['value (weighted mean)', c.value ?? '–'], ['median', c.median ?? '–'], ['contributors', c.contributors.length], ['refused', c.refused.length], ['silent', c.silent.length], ['detail', json(c)]]))),
      card('Compute: report', lookup('Call id', '0x…', 'ir3_compute_result', (v) => [v], (r) => kv([['status', badge(r.status, r.status === 'agree' ? 'ok' : 'warn')], ['result', json(r.result)], ['running', r.running.length], ['silent', r.silent.length], ['detail', json(r)]]))),
    ),
  );
  let busy = false;
  let last = 0;
  async function update() {
    if (busy || Date.now() - last < 1500) return;
    busy = true;
    last = Date.now();
    try {
      const accounts = await rpc('eth_accounts');
      const [currencies, loanList, scores, messages, ...balances] = await batch([
        ['ir3_money_currencies', []],
        ['ir3_lending_loans', []],
        ['ir3_reputation_list', []],
        ['ir3_messaging_inbox', []],
        ...accounts.map((a) => ['ir3_money_balances', [a]]),
      ]);
      fill(
        money,
        failed(currencies) ||
          (currencies.length
            ? [
                table(['currency', 'issuer', 'supply'], currencies.map((c) => h('tr', null, h('td', null, c.name), h('td', null, addrLink(c.issuer)), h('td', { class: 'num' }, c.supply))), { 'aria-label': 'currencies' }),
                table(
                  ['account', ...currencies.map((c) => c.name)],
                  accounts
                    .map((a, i) => [a, balances[i] instanceof Error ? {} : balances[i] || {}])
                    .filter(([, b]) => Object.keys(b).length)
                    .map(([a, b]) => h('tr', null, h('td', null, addrLink(a)), currencies.map((c) => h('td', { class: 'num' }, String(b[c.name] ?? 0))))),
                  { 'aria-label': 'balances of the dev accounts' },
                ),
              ]
            : h('p', { class: 'muted' }, 'No currency minted yet (ir3 money mint …).')),
      );
      fill(
        loans,
        failed(loanList) ||
          (loanList.length
            ? table(
                ['loan', 'lender', 'borrower', 'amount', 'interest', 'status'],
                loanList.map((l) => h('tr', null, h('td', { class: 'mono small', title: l.id }, short(l.id, 6)), h('td', null, addrLink(l.lender)), h('td', null, addrLink(l.borrower)), h('td', { class: 'num' }, `${l.amount} ${l.currency}`), h('td', null, `${(l.interestBps / 100).toFixed(2)}%`), h('td', null, badge(l.status, l.status === 'defaulted' ? 'bad' : 'info')))),
                { 'aria-label': 'loans' },
              )
            : h('p', { class: 'muted' }, 'No loans.')),
      );
      fill(
        reputation,
        failed(scores) ||
          (scores.length
            ? table(['peer', 'seat', 'score', 'YES', 'NO', 'silence', 'votes agreed'], scores.map((r) => h('tr', null, h('td', { class: 'mono small', title: r.node }, short(r.node, 6)), h('td', null, r.seat ?? '–'), h('td', { class: 'num' }, r.score.toFixed(2)), h('td', { class: 'num' }, r.yes), h('td', { class: 'num' }, r.no), h('td', { class: 'num' }, r.silence), h('td', { class: 'num' }, r.votesAgreed))), { 'aria-label': 'reputation' })
            : h('p', { class: 'muted' }, 'No peers scored (network mode only).')),
      );
      fill(
        inbox,
        failed(messages) ||
          (messages.length
            ? table(['time', 'from', 'topic', 'text'], messages.slice(-50).reverse().map((m) => h('tr', null, h('td', null, new Date(m.atMs).toLocaleTimeString()), h('td', { class: 'mono small', title: m.from }, m.account ? addrLink(m.account) : short(m.from, 6)), h('td', null, m.topic || 'direct'), h('td', null, m.text))), { 'aria-label': 'inbox' })
            : h('p', { class: 'muted' }, 'No messages.')),
      );
    } catch {
      /* offline */
    } finally {
      busy = false;
    }
  }
  await update();
  return { update };
}
