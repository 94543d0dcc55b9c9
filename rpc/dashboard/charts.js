// Pictures: a line chart on a canvas, the chain of blocks (tentative vs final), the peer graph.

import { h, svg } from './util.js';

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** A canvas that keeps its drawing buffer at the device's pixel ratio. */
export function chartCanvas(label, height = 140) {
  return h('canvas', { class: 'chart', height, role: 'img', 'aria-label': label });
}

/**
 * Draws lines on `canvas`: `series` = [{label, color (a CSS variable), points: [[x, y], …]}];
 * `x` is a time in ms, drawn over the last `windowMs`.
 */
export function drawLines(canvas, series, { windowMs = 60_000, unit = '' } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 400;
  const height = canvas.clientHeight || Number(canvas.getAttribute('height')) || 140;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const now = Date.now();
  const x0 = now - windowMs;
  const pad = { l: 44, r: 8, t: 18, b: 16 };
  let max = 0;
  for (const s of series) for (const [x, y] of s.points) if (x >= x0) max = Math.max(max, y);
  max = max > 0 ? niceMax(max) : 1;
  const fg = cssVar('--muted');
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = fg;
  ctx.strokeStyle = cssVar('--line');
  ctx.lineWidth = 1;
  for (let i = 0; i <= 2; i++) {
    const y = pad.t + ((height - pad.t - pad.b) * i) / 2;
    ctx.beginPath();
    ctx.moveTo(pad.l, y);
    ctx.lineTo(width - pad.r, y);
    ctx.stroke();
    ctx.fillText(formatTick((max * (2 - i)) / 2) + unit, 2, y + 4);
  }
  ctx.fillText(`-${Math.round(windowMs / 1000)} s`, pad.l, height - 3);
  ctx.fillText('now', width - pad.r - 22, height - 3);
  let legendX = pad.l;
  for (const s of series) {
    const color = cssVar(s.color);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let started = false;
    for (const [x, y] of s.points) {
      if (x < x0) continue;
      const px = pad.l + ((x - x0) / windowMs) * (width - pad.l - pad.r);
      const py = pad.t + (1 - y / max) * (height - pad.t - pad.b);
      if (started) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      started = true;
      if (s.dots) ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
    }
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.fillText(s.label, legendX, 11);
    legendX += ctx.measureText(s.label).width + 16;
  }
}

function niceMax(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function formatTick(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The last blocks as a strip of squares: final (solid) or tentative (hatched). */
export function chainStrip(blocks, finalized) {
  const size = 18;
  const gap = 4;
  const shown = blocks.slice(0, 40).reverse();
  const width = Math.max(1, shown.length) * (size + gap);
  return svg(
    'svg',
    { class: 'strip', viewBox: `0 0 ${width} ${size + 14}`, width, height: size + 14, role: 'img', 'aria-label': 'recent blocks: final and tentative' },
    shown.map((b, i) => {
      const final = b.number <= finalized;
      const x = i * (size + gap);
      // A link: focusable and opened with Enter like any other.
      return svg(
        'a',
        { class: final ? 'blk final' : 'blk tentative', href: `#/block/${b.number}`, 'aria-label': `block ${b.number}, ${final ? 'final' : 'tentative'}` },
        svg('title', null, `block ${b.number}: ${final ? 'final' : 'tentative'}`),
        svg('rect', { x, y: 0, width: size, height: size, rx: 3 }),
        i < shown.length - 1 ? svg('line', { x1: x + size, y1: size / 2, x2: x + size + gap, y2: size / 2 }) : null,
        i % 5 === 0 ? svg('text', { x, y: size + 12 }, String(b.number)) : null,
      );
    }),
  );
}

/**
 * The peer graph: this node in the centre, the other known peers around it; an edge per
 * connected peer, coloured by its answers (mostly YES: ok, some silence: warn, refusals: bad).
 */
export function peerGraph(self, peers) {
  const w = 360;
  const r = 130;
  const c = w / 2;
  const nodes = peers.map((p, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, peers.length) - Math.PI / 3;
    return { ...p, x: c + r * Math.cos(angle), y: c + r * Math.sin(angle) };
  });
  const health = (p) => (p.refused > 0 ? 'bad' : p.silence > p.yes / 4 ? 'warn' : 'ok');
  return svg(
    'svg',
    { class: 'graph', viewBox: `0 0 ${w} ${w}`, role: 'img', 'aria-label': 'peer graph' },
    nodes.map((p) => svg('line', { class: `edge ${health(p)}`, x1: c, y1: c, x2: p.x, y2: p.y })),
    svg('circle', { class: 'me', cx: c, cy: c, r: 22 }),
    svg('text', { x: c, y: c + 4, 'text-anchor': 'middle' }, self),
    nodes.map((p) =>
      svg(
        'g',
        null,
        svg('title', null, `${p.peer}\nYES ${p.yes} · NO ${p.no} · silence ${p.silence} · refused ${p.refused}`),
        svg('circle', { class: `peer ${health(p)}`, cx: p.x, cy: p.y, r: 18 }),
        svg('text', { x: p.x, y: p.y + 4, 'text-anchor': 'middle' }, p.label),
      ),
    ),
  );
}

/** A horizontal bar (0..1) with a label, for progress and shares. */
export function bar(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction)) * 100;
  const fill = h('div', { class: 'fill' });
  fill.style.width = `${pct.toFixed(1)}%`; // CSSOM, not an inline style attribute (CSP)
  return h(
    'div',
    { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct) },
    fill,
    h('span', null, label),
  );
}
