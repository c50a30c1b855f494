// A line diff of two JSON values (keys sorted, server bookkeeping dropped),
// rendered as a unified diff with a few lines of context around each change.

import { h } from './dom.js';
import { sortKeys } from './format.js';

/** Fields every change touches; hiding them leaves only what a person changed. */
const BOOKKEEPING = ['version', 'updated_at', 'updated_by', 'created_at'];
const CONTEXT = 3;
const MAX_LINES = 3000;

function lines(value) {
  if (value === null || value === undefined) return [];
  let v = value;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    v = { ...v };
    for (const k of BOOKKEEPING) delete v[k];
  }
  return JSON.stringify(sortKeys(v), null, 2).split('\n');
}

/** Longest-common-subsequence diff: `[{op: ' '|'-'|'+', text}]`. */
export function diffLines(a, b) {
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return [...a.map((text) => ({ op: '-', text })), ...b.map((text) => ({ op: '+', text }))];
  }
  const n = a.length;
  const m = b.length;
  const dp = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push({ op: ' ', text: a[i] }); i += 1; j += 1; } else if (dp[i + 1][j] >= dp[i][j + 1]) { out.push({ op: '-', text: a[i] }); i += 1; } else { out.push({ op: '+', text: b[j] }); j += 1; }
  }
  while (i < n) { out.push({ op: '-', text: a[i] }); i += 1; }
  while (j < m) { out.push({ op: '+', text: b[j] }); j += 1; }
  return out;
}

/**
 * The diff of `before` → `after` as an element. `null` stands for "did not
 * exist" (a create or a delete).
 */
export function jsonDiff(before, after, { beforeLabel = 'before', afterLabel = 'after' } = {}) {
  const ops = diffLines(lines(before), lines(after));
  const changed = ops.map((o) => o.op !== ' ');
  const keep = ops.map((_, k) => {
    for (let d = -CONTEXT; d <= CONTEXT; d += 1) if (changed[k + d]) return true;
    return false;
  });
  const adds = ops.filter((o) => o.op === '+').length;
  const dels = ops.filter((o) => o.op === '-').length;
  const body = h('pre', { class: 'diff', 'data-testid': 'diff' });
  let skipped = false;
  ops.forEach((o, k) => {
    if (!keep[k]) { skipped = true; return; }
    if (skipped) { body.append(h('span', { class: 'diff-gap' }, '⋯\n')); skipped = false; }
    const cls = o.op === '+' ? 'add' : o.op === '-' ? 'del' : 'ctx';
    body.append(h('span', { class: `diff-line ${cls}` }, `${o.op} ${o.text}\n`));
  });
  if (skipped) body.append(h('span', { class: 'diff-gap' }, '⋯\n'));
  const summary = adds + dels === 0
    ? 'No differences (apart from version and timestamps).'
    : `${dels} line${dels === 1 ? '' : 's'} removed, ${adds} added`;
  return h('div', { class: 'diff-wrap' },
    h('div', { class: 'diff-head' },
      h('span', { class: 'diff-label del' }, `− ${before === null || before === undefined ? '(did not exist)' : beforeLabel}`),
      h('span', { class: 'diff-label add' }, `+ ${after === null || after === undefined ? '(deleted)' : afterLabel}`),
      h('span', { class: 'muted' }, summary)),
    adds + dels === 0 ? null : body);
}
