// The editing cards of the flag page. Each takes the draft flag and
// `onChange(structural)`; `structural` means the card was redrawn (rows
// added, removed or moved), which clears stale API errors.

import { put, h, trashIcon, chipInput, select, toast } from '../dom.js';
import { variationLabel, variationTag, ruleId, valueText } from '../format.js';
import { clauseList, newClause } from '../clauses.js';
import { serveEditor } from '../serve.js';

function card(title, testid, help, ...body) {
  return h('section', { class: 'card', 'data-testid': testid, 'aria-label': title },
    h('div', { class: 'card-head' }, h('h2', {}, title), help ? h('p', { class: 'muted small' }, help) : null),
    ...body);
}

// ---- prerequisites -------------------------------------------------------

export function prerequisitesCard(flag, { readonly, allFlags, onChange }) {
  const others = allFlags.filter((f) => f.key !== flag.key);
  const byKey = Object.fromEntries(allFlags.map((f) => [f.key, f]));
  const list = h('div', { class: 'rows' });
  const draw = () => {
    put(list, ...flag.prerequisites.map((p, i) => {
      const path = `prerequisites[${i}]`;
      const pf = byKey[p.flag];
      const flagSel = select(
        [...(pf ? [] : [[p.flag, `${p.flag} (missing)`]]), ...others.map((f) => [f.key, f.name ? `${f.name} (${f.key})` : f.key])],
        p.flag, {
          'aria-label': `Prerequisite ${i + 1} flag`, disabled: readonly, 'data-field': `${path}.flag`,
          onChange: (e) => { p.flag = e.target.value; p.variation = 0; draw(); onChange(true); },
        },
      );
      const varSel = select(pf ? pf.variations.map((_, j) => [String(j), variationLabel(pf, j)]) : [[String(p.variation), `variation ${p.variation}`]],
        String(p.variation), {
          'aria-label': `Prerequisite ${i + 1} variation`, disabled: readonly, 'data-field': `${path}.variation`,
          onChange: (e) => { p.variation = Number(e.target.value); onChange(); },
        });
      return h('div', { class: 'prereq-row err-host', 'data-field': path },
        h('span', {}, 'Flag'), flagSel, h('span', {}, 'must serve'), varSel,
        readonly ? null : h('button', {
          type: 'button', class: 'btn icon-btn', 'aria-label': `Remove prerequisite ${p.flag}`,
          onClick: () => { flag.prerequisites.splice(i, 1); draw(); onChange(true); },
        }, '×'));
    }));
    if (!flag.prerequisites.length) list.append(h('p', { class: 'muted small' }, 'No prerequisites.'));
    if (!readonly) {
      list.append(h('button', {
        type: 'button', class: 'btn small', 'data-testid': 'add-prerequisite', disabled: !others.length,
        onClick: () => { flag.prerequisites.push({ flag: others[0].key, variation: 0 }); draw(); onChange(true); },
      }, '+ Add prerequisite'));
    }
  };
  draw();
  return card('Prerequisites', 'prerequisites', 'Other flags that must serve a given variation before this flag is evaluated; otherwise it serves its off variation.', list);
}

// ---- individual targets --------------------------------------------------

export function targetsCard(flag, { readonly, onChange }) {
  const rows = flag.variations.map((_, i) => {
    const idx = flag.targets.findIndex((t) => t.variation === i);
    const values = idx >= 0 ? flag.targets[idx].values : [];
    const chips = chipInput({
      values, readonly, label: `Context keys served ${variationLabel(flag, i)}`,
      field: idx >= 0 ? `targets[${idx}].values` : null, placeholder: 'Add context keys…',
      onChange: (vals) => {
        const at = flag.targets.findIndex((t) => t.variation === i);
        if (vals.length && at < 0) flag.targets.push({ variation: i, values: vals });
        if (!vals.length && at >= 0) flag.targets.splice(at, 1);
        onChange();
      },
    });
    return h('div', { class: 'target-row err-host', 'data-testid': `targets-${i}` },
      h('div', { class: 'target-label' }, 'Serve ', variationTag(flag, i), ' to'), chips);
  });
  return card('Individual targets', 'targets', 'Specific context keys that always get a variation, before any rule.', h('div', { class: 'rows' }, rows));
}

// ---- rules ---------------------------------------------------------------

export function rulesCard(flag, { readonly, segments, onChange }) {
  const list = h('div', { class: 'rules' });
  const draw = (focus = null) => {
    put(list, ...flag.rules.map((rule, i) => {
      const path = `rules[${i}]`;
      const move = (d) => {
        const j = i + d;
        [flag.rules[i], flag.rules[j]] = [flag.rules[j], flag.rules[i]];
        draw({ index: j, dir: d });
        onChange(true);
      };
      const head = h('div', { class: 'rule-head err-host', 'data-field': `${path}.id` },
        h('span', { class: 'rule-num' }, `Rule ${i + 1}`),
        h('input', {
          class: 'input rule-desc', value: rule.description || '', placeholder: readonly ? '' : 'Describe this rule (optional)',
          'aria-label': `Rule ${i + 1} description`, disabled: readonly, 'data-field': `${path}.description`,
          onInput: (e) => { rule.description = e.target.value; onChange(); },
        }),
        readonly ? null : h('span', { class: 'rule-tools' },
          h('button', { type: 'button', class: 'btn icon-btn', 'aria-label': `Move rule ${i + 1} up`, title: 'Move up', disabled: i === 0, 'data-testid': 'rule-up', onClick: () => move(-1) }, '↑'),
          h('button', { type: 'button', class: 'btn icon-btn', 'aria-label': `Move rule ${i + 1} down`, title: 'Move down', disabled: i === flag.rules.length - 1, 'data-testid': 'rule-down', onClick: () => move(1) }, '↓'),
          h('button', { type: 'button', class: 'btn icon-btn danger-text', 'aria-label': `Delete rule ${i + 1}`, title: 'Delete rule', 'data-testid': 'rule-delete', onClick: () => { flag.rules.splice(i, 1); draw(); onChange(true); } }, trashIcon())));
      return h('div', { class: 'rule', 'data-field': path, 'data-rule-id': rule.id, 'data-testid': 'rule' },
        head,
        clauseList({ clauses: rule.clauses, path, readonly, segments, onChange }),
        serveEditor({ holder: rule, key: 'serve', flag, path: `${path}.serve`, readonly, onChange, label: 'Then serve' }),
        h('div', { class: 'rule-id muted small mono' }, `id ${rule.id}`));
    }));
    if (!flag.rules.length) list.append(h('p', { class: 'muted small' }, 'No rules. Contexts go straight to the default rule.'));
    if (!readonly) {
      list.append(h('button', {
        type: 'button', class: 'btn', 'data-testid': 'add-rule',
        onClick: () => {
          flag.rules.push({ id: ruleId(), description: '', clauses: [newClause()], serve: { variation: 0 } });
          draw();
          onChange(true);
          list.querySelectorAll('.rule')[flag.rules.length - 1]?.querySelector('.attr')?.focus();
        },
      }, '+ Add rule'));
    }
    if (focus) {
      const btn = list.querySelectorAll('.rule')[focus.index]?.querySelector(focus.dir < 0 ? '[data-testid=rule-up]' : '[data-testid=rule-down]');
      (btn && !btn.disabled ? btn : list.querySelectorAll('.rule')[focus.index]?.querySelector('button'))?.focus();
    }
  };
  draw();
  return card('Rules', 'rules', 'Checked in order; the first rule whose clauses all match decides what the context gets.', list);
}

// ---- default rule and off variation -------------------------------------

export function defaultCard(flag, { readonly, onChange }) {
  return card('Default rule', 'default-rule', 'What a context that matched no target and no rule gets while the flag is on.',
    serveEditor({ holder: flag, key: 'fallthrough', flag, path: 'fallthrough', readonly, onChange, label: 'Serve' }));
}

export function offCard(flag, { readonly, onChange }) {
  const sel = select(flag.variations.map((_, i) => [String(i), variationLabel(flag, i)]), String(flag.off_variation), {
    'aria-label': 'Off variation', disabled: readonly, 'data-field': 'off_variation', 'data-testid': 'off-variation',
    onChange: (e) => { flag.off_variation = Number(e.target.value); onChange(); },
  });
  return card('When the flag is off', 'off', 'Served to everyone while the kill switch is off, and when a prerequisite fails.',
    h('div', { class: 'serve-line err-host' }, h('span', { class: 'serve-label' }, 'Serve'), sel));
}

// ---- variations ----------------------------------------------------------

/** Where variation `i` is used, as phrases, for the remove check. */
function usesOf(flag, i) {
  const uses = [];
  if (flag.off_variation === i) uses.push('the off variation');
  if (flag.fallthrough.variation === i) uses.push('the default rule');
  if (flag.fallthrough.rollout?.variations.some((w) => w.variation === i && w.weight > 0)) uses.push('the default rollout');
  flag.rules.forEach((r, k) => {
    if (r.serve.variation === i || r.serve.rollout?.variations.some((w) => w.variation === i && w.weight > 0)) uses.push(`rule ${k + 1}`);
  });
  if (flag.targets.some((t) => t.variation === i && t.values.length)) uses.push('individual targets');
  return uses;
}

/** Drops variation `i` and shifts every later index down by one. */
function removeVariation(flag, i) {
  const shift = (v) => (v > i ? v - 1 : v);
  flag.variations.splice(i, 1);
  flag.off_variation = shift(flag.off_variation);
  const fixServe = (s) => {
    if (s.variation !== undefined) s.variation = shift(s.variation);
    if (s.rollout) {
      s.rollout.variations = s.rollout.variations.filter((w) => w.variation !== i);
      s.rollout.variations.forEach((w) => { w.variation = shift(w.variation); });
    }
  };
  fixServe(flag.fallthrough);
  flag.rules.forEach((r) => fixServe(r.serve));
  flag.targets = flag.targets.filter((t) => t.variation !== i);
  flag.targets.forEach((t) => { t.variation = shift(t.variation); });
}

function valueEditor(flag, v, i, readonly, onChange, invalid) {
  const path = `variations[${i}].value`;
  if (flag.kind === 'boolean') {
    return h('span', { class: 'mono value-fixed', 'data-field': path }, String(v.value));
  }
  if (flag.kind === 'json') {
    const ta = h('textarea', {
      class: 'input mono', rows: 3, value: JSON.stringify(v.value, null, 2), disabled: readonly,
      'aria-label': `Variation ${i + 1} value (JSON)`, 'data-field': path,
    });
    const err = h('div', { class: 'field-error', hidden: true });
    ta.addEventListener('input', () => {
      try {
        v.value = JSON.parse(ta.value);
        err.hidden = true;
        invalid.delete(path);
      } catch (e) {
        err.textContent = `Not valid JSON: ${e.message}`;
        err.hidden = false;
        invalid.add(path);
      }
      onChange();
    });
    return h('div', { class: 'grow' }, ta, err);
  }
  const isNum = flag.kind === 'number';
  return h('input', {
    class: 'input mono', type: isNum ? 'number' : 'text', step: isNum ? 'any' : undefined, value: String(v.value),
    disabled: readonly, 'aria-label': `Variation ${i + 1} value`, 'data-field': path,
    onInput: (e) => {
      if (isNum) {
        const n = Number(e.target.value);
        v.value = e.target.value !== '' && Number.isFinite(n) ? n : e.target.value;
      } else v.value = e.target.value;
      onChange();
    },
  });
}

export function variationsCard(flag, { readonly, onChange, invalid }) {
  const list = h('div', { class: 'rows' });
  const draw = () => {
    put(list, ...flag.variations.map((v, i) => h('div', { class: 'var-row err-host', 'data-field': `variations[${i}]`, 'data-testid': `variation-${i}` },
      h('span', { class: `dot big c${i % 10}`, title: `Variation ${i}` }),
      valueEditor(flag, v, i, readonly, onChange, invalid),
      h('input', {
        class: 'input', value: v.name || '', placeholder: 'Name (optional)', disabled: readonly,
        'aria-label': `Variation ${i + 1} name`, 'data-field': `variations[${i}].name`,
        onInput: (e) => { if (e.target.value) v.name = e.target.value; else delete v.name; onChange(); },
      }),
      h('input', {
        class: 'input', value: v.description || '', placeholder: 'Description (optional)', disabled: readonly,
        'aria-label': `Variation ${i + 1} description`, 'data-field': `variations[${i}].description`,
        onInput: (e) => { if (e.target.value) v.description = e.target.value; else delete v.description; onChange(); },
      }),
      readonly || flag.kind === 'boolean' || flag.variations.length < 2 ? null : h('button', {
        type: 'button', class: 'btn icon-btn', 'aria-label': `Remove variation ${i + 1}`, title: 'Remove variation',
        onClick: () => {
          const uses = usesOf(flag, i);
          if (uses.length) {
            toast(`${valueText(v.value)} is still served by ${uses.join(', ')}. Change those first.`, 'error', 7000);
            return;
          }
          invalid.delete(`variations[${i}].value`);
          removeVariation(flag, i);
          onChange(true, true);
        },
      }, '×'))));
    if (!readonly && flag.kind !== 'boolean') {
      list.append(h('button', {
        type: 'button', class: 'btn small', 'data-testid': 'add-variation',
        onClick: () => {
          const value = flag.kind === 'number' ? flag.variations.length : flag.kind === 'json' ? {} : `variation-${flag.variations.length + 1}`;
          flag.variations.push({ value });
          // Existing rollouts get a 0% slice for the new variation.
          const grow = (s) => s.rollout?.variations.push({ variation: flag.variations.length - 1, weight: 0 });
          grow(flag.fallthrough);
          flag.rules.forEach((r) => grow(r.serve));
          onChange(true, true);
        },
      }, '+ Add variation'));
    }
  };
  draw();
  return card('Variations', 'variations', flag.kind === 'boolean'
    ? 'A boolean flag serves true or false; you can name them.'
    : `The ${flag.kind} values this flag can serve.`, list);
}

// ---- settings ------------------------------------------------------------

export function settingsCard(flag, { readonly, onChange }) {
  const name = h('input', {
    class: 'input', value: flag.name, disabled: readonly, id: 'flag-name', 'data-field': 'name',
    onInput: (e) => { flag.name = e.target.value; onChange(); },
  });
  const desc = h('textarea', {
    class: 'input', rows: 2, value: flag.description, disabled: readonly, id: 'flag-desc', 'data-field': 'description',
    onInput: (e) => { flag.description = e.target.value; onChange(); },
  });
  const tags = chipInput({ values: flag.tags, readonly, field: 'tags', label: 'Tags', placeholder: 'Add a tag…', onChange: () => onChange() });
  return card('Settings', 'settings', null,
    h('div', { class: 'field err-host' }, h('label', { for: 'flag-name' }, 'Name'), name),
    h('div', { class: 'field err-host' }, h('label', { for: 'flag-desc' }, 'Description'), desc),
    h('div', { class: 'field err-host' }, h('label', {}, 'Tags'), tags),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Kind'), h('dd', {}, flag.kind),
      h('dt', {}, 'Salt'), h('dd', { class: 'mono' }, flag.salt || '—')));
}
