// Formatting shared by the pages: times, numbers, variation labels and colours.

import { h } from './dom.js';

/** Distinct colours for variations and chart series, in order. */
export const PALETTE = ['#4f46e5', '#0ea5e9', '#f59e0b', '#10b981', '#ef4444', '#a855f7', '#14b8a6', '#f97316', '#64748b', '#ec4899'];

export function colour(i) {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** "3 min ago" (the exact time is in the element's title). */
export function ago(iso) {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  const secs = Math.round((Date.now() - t) / 1000);
  if (secs < 5) return 'just now';
  if (secs < 60) return `${secs}s ago`;
  const mins = Math.round(secs / 60);
  if (mins < 60) return `${mins} min ago`;
  const hours = Math.round(mins / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

export function fullTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A `<time>` showing "3 min ago" with the full time on hover. */
export function timeEl(iso) {
  return h('time', { datetime: iso || '', title: fullTime(iso) }, ago(iso));
}

export function num(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A variation's value as short text. */
export function valueText(value) {
  if (typeof value === 'string') return value === '' ? '""' : value;
  const t = JSON.stringify(value);
  return t.length > 40 ? `${t.slice(0, 37)}…` : t;
}

/** How a variation is named in pickers: its name, else its value. */
export function variationLabel(flag, i) {
  const v = flag.variations?.[i];
  if (!v) return `variation ${i}`;
  return v.name ? `${v.name} (${valueText(v.value)})` : valueText(v.value);
}

/** A coloured dot plus the variation's label. */
export function variationTag(flag, i) {
  return h('span', { class: 'var-tag' },
    h('span', { class: `dot c${i % PALETTE.length}` }), variationLabel(flag, i));
}

export function roleBadge(role) {
  return h('span', { class: `badge role-${role}` }, role);
}

export function actionBadge(action) {
  const verb = action.split('.').pop();
  return h('span', { class: `badge act-${verb}` }, action);
}

/** A JSON value with object keys sorted at every level, for stable diffs. */
export function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}

/** A random id for a new rule: stable across reorders, reported in RULE_MATCH. */
export function ruleId() {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return `rule-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
