// Inline SVG charts: stacked bars over time, lines, horizontal bars and a
// sparkline. Each returns an element sized by its viewBox, so it scales with
// its container; every bar and point has a <title> for hover.

import { h, s } from './dom.js';
import { num } from './format.js';

const W = 640;
const H = 200;
const PAD = { l: 48, r: 12, t: 10, b: 24 };

function niceMax(v, integer = false) {
  if (integer) return Math.max(4, Math.ceil(niceMax(v) / 4) * 4);
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  // Quarters of these are round numbers too (the axis has four steps).
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function hhmm(d) {
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function axes(max, labels, yFormat) {
  const g = s('g', { class: 'axes' });
  const plotH = H - PAD.t - PAD.b;
  for (let k = 0; k <= 4; k += 1) {
    const y = PAD.t + plotH - (plotH * k) / 4;
    g.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    g.append(s('text', { x: PAD.l - 6, y: y + 4, class: 'tick', 'text-anchor': 'end', text: yFormat((max * k) / 4) }));
  }
  const n = labels.length;
  const plotW = W - PAD.l - PAD.r;
  const every = Math.max(1, Math.ceil(n / 6));
  labels.forEach((d, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    const x = PAD.l + (plotW * (i + 0.5)) / n;
    const anchor = i === n - 1 ? 'end' : i === 0 ? 'start' : 'middle';
    g.append(s('text', { x: i === n - 1 ? W - PAD.r : x, y: H - 6, class: 'tick', 'text-anchor': anchor, text: hhmm(d) }));
  });
  return g;
}

function legend(series) {
  return h('ul', { class: 'legend' }, series.map((se) => h('li', {},
    h('span', { class: `dot c${se.colour}` }), se.label,
    se.total !== undefined ? h('span', { class: 'muted' }, ` ${se.total}`) : null)));
}

function frame(title, svg, series, testid) {
  return h('figure', { class: 'chart', 'data-testid': testid },
    svg, series ? legend(series) : null,
    h('figcaption', { class: 'sr-only' }, title));
}

/**
 * Stacked bars: `labels` are Dates, each series `{label, colour, values}`
 * (colour is a palette index). Empty data draws an empty plot with a note.
 */
export function stackedBars({ title, labels, series, yFormat = (v) => num(v, 2), testid, integer = false }) {
  const totals = labels.map((_, i) => series.reduce((a, se) => a + (se.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals), integer);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title });
  svg.append(axes(max, labels, yFormat));
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const bw = plotW / Math.max(1, labels.length);
  labels.forEach((d, i) => {
    let y = PAD.t + plotH;
    for (const se of series) {
      const v = se.values[i] || 0;
      if (v <= 0) continue;
      const bh = (plotH * v) / max;
      y -= bh;
      svg.append(s('rect', {
        x: PAD.l + i * bw + bw * 0.12, y, width: Math.max(1, bw * 0.76), height: bh, class: `fill c${se.colour}`,
      }, s('title', { text: `${hhmm(d)} · ${se.label}: ${yFormat(v)}` })));
    }
  });
  if (!totals.some((t) => t > 0)) {
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle', text: 'No data in this window yet' }));
  }
  return frame(title, svg, series, testid);
}

/** Lines over time; `null` values leave gaps. */
export function lineChart({ title, labels, series, yFormat = (v) => num(v, 1), testid }) {
  const all = series.flatMap((se) => se.values.filter((v) => v !== null && v !== undefined));
  const max = niceMax(Math.max(0, ...all));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title });
  svg.append(axes(max, labels, yFormat));
  const plotW = W - PAD.l - PAD.r;
  const plotH = H - PAD.t - PAD.b;
  const n = Math.max(1, labels.length);
  const xy = (i, v) => [PAD.l + (plotW * (i + 0.5)) / n, PAD.t + plotH - (plotH * v) / max];
  for (const se of series) {
    let d = '';
    let pen = false;
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      const [x, y] = xy(i, v);
      d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)} `;
      pen = true;
      svg.append(s('circle', { cx: x, cy: y, r: 3, class: `fill c${se.colour}` },
        s('title', { text: `${hhmm(labels[i])} · ${se.label}: ${yFormat(v)}` })));
    });
    if (d) svg.append(s('path', { d, class: `stroke c${se.colour}`, fill: 'none' }));
  }
  if (!all.length) {
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle', text: 'No data in this window yet' }));
  }
  return frame(title, svg, series, testid);
}

/** Horizontal bars: `rows` are `{label, value, colour, note}`. */
export function hBars({ title, rows, testid, format = (v) => num(v) }) {
  const max = niceMax(Math.max(0, ...rows.map((r) => r.value || 0)), true);
  const rowH = 30;
  const height = Math.max(1, rows.length) * rowH + 8;
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': title });
  const x0 = 150;
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = ((W - x0 - 90) * (r.value || 0)) / max;
    svg.append(s('text', { x: x0 - 8, y: y + 19, class: 'tick big', 'text-anchor': 'end', text: r.label }));
    svg.append(s('rect', { x: x0, y: y + 5, width: W - x0 - 90, height: rowH - 10, rx: 3, class: 'track' }));
    svg.append(s('rect', { x: x0, y: y + 5, width: Math.max(w, r.value ? 2 : 0), height: rowH - 10, rx: 3, class: `fill c${r.colour}` },
      s('title', { text: `${r.label}: ${format(r.value)}` })));
    svg.append(s('text', { x: x0 + w + 8, y: y + 19, class: 'tick big', text: r.note ?? format(r.value) }));
  });
  return frame(title, svg, null, testid);
}

/** A tiny line of `values` for table cells. */
export function sparkline(values, colour = 0) {
  const w = 90;
  const hgt = 22;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 2 - ((hgt - 4) * v) / max).toFixed(1)}`).join(' ');
  return s('svg', { viewBox: `0 0 ${w} ${hgt}`, class: 'spark', 'aria-hidden': 'true' },
    s('polyline', { points: pts, class: `stroke c${colour}`, fill: 'none' }));
}
