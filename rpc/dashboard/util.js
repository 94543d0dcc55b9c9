// Small helpers: building DOM nodes, formatting quantities, hashes and times.

/**
 * Creates an element: h('div', {class: 'x', onclick: fn}, child, 'text', …).
 * Children may be nodes, strings, numbers, arrays or null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An SVG element. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

/** A hex quantity as a Number (or BigInt when asked). */
export function num(hex) {
  if (hex === null || hex === undefined) return null;
  if (typeof hex === 'number') return hex;
  return Number(BigInt(hex));
}

/** A hex quantity as a BigInt. */
export function big(hex) {
  if (hex === null || hex === undefined) return 0n;
  return BigInt(hex);
}

/** Wei (hex or BigInt) as ETH with up to `digits` decimals. */
export function eth(wei, digits = 4) {
  const value = typeof wei === 'bigint' ? wei : big(wei);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / 10n ** 18n;
  const frac = (abs % 10n ** 18n).toString().padStart(18, '0').slice(0, digits).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole.toLocaleString('en-US')}${frac ? '.' + frac : ''} ETH`;
}

/** Gwei with two decimals. */
export function gwei(wei) {
  return `${(Number(big(wei)) / 1e9).toFixed(2)} gwei`;
}

/** 0x1234…abcd */
export function short(hash, keep = 6) {
  if (!hash) return '';
  return hash.length > 2 * keep + 4 ? `${hash.slice(0, keep + 2)}…${hash.slice(-keep + 2)}` : hash;
}

/** "12 s ago" from a Unix time in seconds. */
export function ago(seconds) {
  if (!seconds) return '–'; // a genesis at time 0
  const delta = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (delta < 60) return `${delta} s ago`;
  if (delta < 3600) return `${Math.floor(delta / 60)} min ago`;
  if (delta < 86400) return `${Math.floor(delta / 3600)} h ago`;
  return `${Math.floor(delta / 86400)} d ago`;
}

/** Bytes as KiB/MiB. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Milliseconds as "850 ms" or "1.25 s". */
export function ms(value) {
  if (value === null || value === undefined) return '–';
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** A link to a route of the page (`#/tx/0x…`). */
export function link(route, text, attrs = {}) {
  return h('a', { href: `#/${route}`, ...attrs }, text);
}

/** Links to a block, a transaction or an address. */
export const blockLink = (n) => link(`block/${n}`, `#${n}`, { class: 'mono' });
export const txLink = (hash) => link(`tx/${hash}`, short(hash), { class: 'mono', title: hash });
export const addrLink = (address) =>
  address ? link(`address/${address}`, short(address), { class: 'mono', title: address }) : '–';

/** A key/value table. */
export function kv(rows) {
  return h(
    'table',
    { class: 'kv' },
    h('tbody', null, rows.filter(Boolean).map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))),
  );
}

/** A table with a header row. */
export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    { class: 'grid', ...attrs },
    h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, rows),
  );
}

/** A titled card. */
export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, ...body);
}

/** A small coloured status label. */
export function badge(text, kind = text) {
  return h('span', { class: `badge ${kind}` }, text);
}

/** A message for an error in a view. */
export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, String(error?.message || error));
}

/** Whether a string is a 0x address / 32-byte hash. */
export const isAddress = (s) => /^0x[0-9a-fA-F]{40}$/.test(s);
export const isHash = (s) => /^0x[0-9a-fA-F]{64}$/.test(s);
