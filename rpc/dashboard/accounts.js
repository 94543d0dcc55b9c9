// Accounts: the dev accounts with balances and nonces (keys behind a click), and any address's
// balance, nonce, code, a storage slot and its recent transactions.

import { state } from './app.js';
import { batch, rpc, tryRpc } from './rpc.js';
import { h, fill, card, kv, table, num, eth, addrLink, txLink, blockLink, errorBox, isAddress, badge } from './util.js';

/** Renders the dev accounts and an address lookup form. */
export async function renderAccounts(container) {
  const accounts = await rpc('eth_accounts');
  const body = h('tbody');
  const lookup = h(
    'form',
    {
      class: 'inline',
      onsubmit: (e) => {
        e.preventDefault();
        const a = e.target.elements.address.value.trim();
        if (isAddress(a)) location.hash = `#/address/${a}`;
      },
    },
    h('label', { for: 'lookup-address' }, 'Address'),
    h('input', { id: 'lookup-address', name: 'address', placeholder: '0x…', size: 44, required: true, pattern: '0x[0-9a-fA-F]{40}' }),
    h('button', { type: 'submit' }, 'Look up'),
  );
  let keys = null;
  async function showKey(i, cell, button) {
    try {
      keys = keys || (await rpc('ir3_devAccounts'));
      fill(cell, h('code', { class: 'key' }, keys[i]?.privateKey || '?'));
    } catch (e) {
      fill(cell, errorBox(e));
    }
    button?.remove();
  }
  container.append(
    card('Look up any address', lookup),
    card(
      `Dev accounts (${accounts.length})`,
      h('p', { class: 'muted' }, 'Unlocked on this node: eth_sendTransaction signs for them. Their private keys are the well-known dev keys of the mnemonic — never use them for real funds.'),
      h(
        'table',
        { class: 'grid', 'aria-label': 'dev accounts' },
        h('thead', null, h('tr', null, ['#', 'address', 'balance', 'nonce', 'private key'].map((x) => h('th', { scope: 'col' }, x)))),
        body,
      ),
    ),
  );
  const cells = accounts.map((address, i) => {
    const balance = h('td', { class: 'num' }, '…');
    const nonce = h('td', { class: 'num' }, '…');
    const key = h('td');
    if (state.info?.devMethods) {
      const button = h('button', { type: 'button', class: 'small', onclick: () => showKey(i, key, button) }, 'show key');
      key.append(button);
    } else key.append(h('span', { class: 'muted' }, 'not served in network mode'));
    body.append(h('tr', null, h('td', null, i), h('td', null, addrLink(address)), balance, nonce, key));
    return { balance, nonce };
  });
  let busy = false;
  let last = 0;
  async function update() {
    if (busy || Date.now() - last < 1000) return;
    busy = true;
    last = Date.now();
    try {
      const results = await batch(accounts.flatMap((a) => [['eth_getBalance', [a, 'latest']], ['eth_getTransactionCount', [a, 'latest']]]));
      cells.forEach((c, i) => {
        const b = results[2 * i];
        const n = results[2 * i + 1];
        c.balance.textContent = b instanceof Error ? '?' : eth(b);
        c.nonce.textContent = n instanceof Error ? '?' : String(num(n));
      });
    } catch {
      /* offline */
    } finally {
      busy = false;
    }
  }
  await update();
  return { update };
}

/** Renders one address: balance, nonce, code, a storage slot, transactions. */
export async function renderAddress(container, address) {
  if (!isAddress(address)) {
    container.append(errorBox(`not an address: ${address}`));
    return null;
  }
  const [balance, nonce, code] = await batch([
    ['eth_getBalance', [address, 'latest']],
    ['eth_getTransactionCount', [address, 'latest']],
    ['eth_getCode', [address, 'latest']],
  ]);
  const slotOut = h('output', { class: 'mono', id: 'slot-value' });
  const slotForm = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (e) => {
        e.preventDefault();
        const slot = e.target.elements.slot.value.trim() || '0x0';
        try {
          const hex = /^\d+$/.test(slot) ? '0x' + BigInt(slot).toString(16) : slot;
          slotOut.textContent = await rpc('eth_getStorageAt', [address, hex, 'latest']);
        } catch (err) {
          slotOut.textContent = String(err.message || err);
        }
      },
    },
    h('label', { for: 'slot' }, 'Storage slot'),
    h('input', { id: 'slot', name: 'slot', placeholder: '0 or 0x…', size: 20 }),
    h('button', { type: 'submit' }, 'Read'),
    slotOut,
  );
  const codeBytes = typeof code === 'string' ? (code.length - 2) / 2 : 0;
  const history = h('div', null, h('p', { class: 'muted' }, 'loading…'));
  container.append(
    h('h1', null, 'Address ', h('span', { class: 'mono small' }, address)),
    card(
      null,
      kv([
        ['balance', balance instanceof Error ? '?' : eth(balance, 18)],
        ['nonce', nonce instanceof Error ? '?' : num(nonce)],
        ['kind', codeBytes > 0 ? badge('contract', 'info') : badge('account', 'ok')],
        ['code', codeBytes > 0 ? h('details', null, h('summary', null, `${codeBytes} bytes`), h('code', { class: 'wrap' }, code)) : '–'],
      ]),
    ),
    card('Storage', slotForm),
    card('Recent transactions', history),
  );
  const search = await tryRpc('ots_searchTransactionsBefore', [address, 0, 25]);
  if (!search) fill(history, h('p', { class: 'muted' }, 'No history (ots_searchTransactionsBefore failed).'));
  else if (!search.txs.length) fill(history, h('p', { class: 'muted' }, 'No transactions.'));
  else {
    const receipts = new Map(search.receipts.map((r) => [r.transactionHash, r]));
    fill(
      history,
      table(
        ['hash', 'block', 'from', 'to', 'value', 'result'],
        search.txs.map((tx) =>
          h(
            'tr',
            null,
            h('td', null, txLink(tx.hash)),
            h('td', null, blockLink(num(tx.blockNumber))),
            h('td', null, addrLink(tx.from)),
            h('td', null, addrLink(tx.to)),
            h('td', { class: 'num' }, eth(tx.value)),
            h('td', null, num(receipts.get(tx.hash)?.status) === 1 ? badge('ok') : badge('reverted', 'bad')),
          ),
        ),
        { 'aria-label': 'transactions of the address' },
      ),
    );
  }
  return null;
}
