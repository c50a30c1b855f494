// The clause editor shared by flag rules and segment rules: an attribute, an
// operator picker with every operator, values as chips (a segment picker for
// `segment_match`), negate and ignore-case.

import { put, h, chipInput, select } from './dom.js';

/** Every operator the evaluator knows, in the order of the docs. */
export const OPERATORS = [
  ['in', 'is one of', 'Type, then Enter'],
  ['starts_with', 'starts with', 'Add a prefix'],
  ['ends_with', 'ends with', 'Add a suffix'],
  ['contains', 'contains', 'Add a substring'],
  ['matches', 'matches regex', '^.+@example\\.com$'],
  ['lt', '< (number)', '42'],
  ['lte', '≤ (number)', '42'],
  ['gt', '> (number)', '42'],
  ['gte', '≥ (number)', '42'],
  ['before', 'is before (date)', '2026-01-31T00:00:00Z'],
  ['after', 'is after (date)', '2026-01-31T00:00:00Z'],
  ['semver_eq', 'semver =', '1.4.0'],
  ['semver_lt', 'semver <', '2.0.0'],
  ['semver_gt', 'semver >', '1.0.0'],
  ['in_cidr', 'is in network (CIDR)', '10.0.0.0/8'],
  ['segment_match', 'is in segment', ''],
];
const CASE_OPS = new Set(['in', 'starts_with', 'ends_with', 'contains', 'matches']);
const NUMBER_OPS = new Set(['lt', 'lte', 'gt', 'gte']);
const DATE_OPS = new Set(['before', 'after']);

/** Common context attributes, offered as suggestions. */
export const ATTRIBUTE_SUGGESTIONS = ['key', 'email', 'country', 'groups', 'plan', 'app_version', 'ip', 'created_at', 'age'];

/** Typed text → the JSON value the operator expects. */
export function parseValue(op, text) {
  if (NUMBER_OPS.has(op)) {
    const n = Number(text);
    return text !== '' && Number.isFinite(n) ? n : text;
  }
  if (DATE_OPS.has(op) && /^\d+$/.test(text)) return Number(text);
  return text;
}

export function newClause() {
  return { attribute: 'key', operator: 'in', values: [], negate: false, case_insensitive: false };
}

/**
 * One clause as a row. `onChange()` after any edit; `onRemove` drops it.
 * `segments` is `[{key, name}]` for the segment picker, or null where
 * segment_match is not allowed (inside segments).
 */
export function clauseRow({ clause, path, readonly, segments, onChange, onRemove, index }) {
  const row = h('div', { class: 'clause', 'data-field': path });
  const draw = () => {
    const op = clause.operator;
    const isSeg = op === 'segment_match';
    const attr = h('input', {
      class: 'input mono attr', value: clause.attribute, 'aria-label': 'Attribute', list: 'attr-suggestions',
      'data-field': `${path}.attribute`, disabled: readonly || isSeg, placeholder: 'attribute',
      onInput: (e) => { clause.attribute = e.target.value.trim(); onChange(); },
    });
    const ops = OPERATORS.filter(([v]) => segments || v !== 'segment_match' || v === op).map(([v, label]) => [v, label]);
    const opSel = select(ops, op, {
      'aria-label': 'Operator', 'data-field': `${path}.operator`, 'data-testid': 'operator', disabled: readonly,
      onChange: (e) => {
        const next = e.target.value;
        if ((next === 'segment_match') !== isSeg) clause.values = [];
        if (next === 'segment_match') clause.attribute = 'key';
        clause.operator = next;
        if (!CASE_OPS.has(next)) clause.case_insensitive = false;
        clause.values = clause.values.map((v) => (typeof v === 'string' ? parseValue(next, v) : v));
        draw();
        onChange();
        row.querySelector('[data-testid=operator]')?.focus();
      },
    });
    const negate = readonly ? h('span', { class: 'small bad' }, clause.negate ? 'NOT' : '') : h('label', { class: 'check small negate', title: 'Negate: match contexts that do NOT satisfy this clause' },
      h('input', {
        type: 'checkbox', checked: clause.negate, disabled: readonly, 'data-testid': 'negate', 'data-field': `${path}.negate`, 'aria-label': 'Negate this clause',
        onChange: (e) => { clause.negate = e.target.checked; onChange(); row.classList.toggle('negated', clause.negate); },
      }), 'not');
    const ci = readonly ? h('span', { class: 'small muted' }, clause.case_insensitive ? 'ignore case' : '') : CASE_OPS.has(op) ? h('label', { class: 'check small', title: 'Compare ignoring upper/lower case' },
      h('input', {
        type: 'checkbox', checked: clause.case_insensitive, disabled: readonly, 'data-testid': 'case-insensitive', 'aria-label': 'Ignore case',
        onChange: (e) => { clause.case_insensitive = e.target.checked; onChange(); },
      }), 'Aa') : h('span');
    let values;
    if (isSeg) {
      const byKey = Object.fromEntries((segments || []).map((sg) => [sg.key, sg]));
      const chips = chipInput({
        values: clause.values, readonly, typing: false, field: `${path}.values`, label: 'Segments',
        format: (v) => (byKey[v]?.name ? `${byKey[v].name} (${v})` : String(v)),
        onChange: () => { draw(); onChange(); },
      });
      const pick = readonly ? null : select([['', 'Add a segment…'], ...(segments || [])
        .filter((sg) => !clause.values.includes(sg.key))
        .map((sg) => [sg.key, sg.name ? `${sg.name} (${sg.key})` : sg.key])], '', {
        'aria-label': 'Add a segment', 'data-testid': 'segment-picker',
        onChange: (e) => { if (e.target.value) { clause.values.push(e.target.value); draw(); onChange(); } },
      });
      values = h('div', { class: 'seg-values' }, chips, pick);
    } else {
      const placeholder = OPERATORS.find(([v]) => v === op)?.[2] || '';
      values = chipInput({
        values: clause.values, readonly, field: `${path}.values`, label: 'Values', placeholder,
        parse: (t) => parseValue(op, t),
        format: (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
        onChange,
      });
    }
    row.classList.toggle('negated', clause.negate);
    put(row, 
      h('span', { class: 'clause-if' }, index === 0 ? 'If' : 'and'),
      isSeg ? h('span', { class: 'attr-fixed muted' }, 'context') : attr,
      negate, opSel, values, ci,
      readonly ? h('span') : h('button', { type: 'button', class: 'btn icon-btn', 'aria-label': 'Remove clause', title: 'Remove clause', onClick: onRemove }, '×'));
  };
  draw();
  return row;
}

/** The clauses of one rule, with "Add clause". */
export function clauseList({ clauses, path, readonly, segments, onChange }) {
  const box = h('div', { class: 'clauses' });
  const draw = (focusLast = false) => {
    put(box, ...clauses.map((c, j) => clauseRow({
      clause: c, path: `${path}.clauses[${j}]`, readonly, segments, onChange, index: j,
      onRemove: () => { clauses.splice(j, 1); draw(); onChange(true); },
    })));
    if (!clauses.length) box.append(h('p', { class: 'muted small' }, 'No clauses: this rule matches every context.'));
    if (!readonly) {
      box.append(h('button', {
        type: 'button', class: 'btn small', 'data-testid': 'add-clause',
        onClick: () => { clauses.push(newClause()); draw(true); onChange(true); },
      }, '+ Add clause'));
    }
    if (focusLast) box.querySelectorAll('.clause .attr')[clauses.length - 1]?.focus();
  };
  draw();
  return box;
}

/** The `<datalist>` of attribute suggestions (add once per page). */
export function attributeSuggestions(extra = []) {
  const names = [...new Set([...ATTRIBUTE_SUGGESTIONS, ...extra])];
  return h('datalist', { id: 'attr-suggestions' }, names.map((n) => h('option', { value: n })));
}
