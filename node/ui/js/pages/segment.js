// The segment editor: included and excluded keys, rules, the flags that use
// it, saving with If-Match, and delete (refused while flags use it). A
// segment belongs to one environment: the top bar's.

import { put, h, trashIcon, chipInput, toast, confirmDialog, spinner } from '../dom.js';
import { api, get, can, explain } from '../api.js';
import { timeEl, sortKeys, ruleId } from '../format.js';
import { clauseList, newClause, attributeSuggestions } from '../clauses.js';
import { applyErrors } from '../errors.js';
import { jsonDiff } from '../diff.js';
import { scope, paths, isLegacy, confirmProduction } from '../scope.js';

const enc = encodeURIComponent;
const canon = (v) => JSON.stringify(sortKeys(v));

function editable(seg) {
  const s = structuredClone(seg);
  delete s.used_by;
  s.rules ??= [];
  return s;
}

export async function segmentPage(ctx) {
  const key = ctx.params.key;
  ctx.crumbs(['Segments', '#/segments'], scope.env, key);
  ctx.render(spinner());
  let loaded;
  try {
    loaded = await get(paths.segment(key));
  } catch (e) {
    if (e.status !== 404) throw e;
    ctx.render(h('div', { class: 'page' }, h('div', { class: 'alert warn', role: 'alert' },
      `There is no segment ${key} in ${scope.project}/${scope.env} now. `, h('a', { href: `#/segments/${enc(key)}/history` }, 'Open its history'))));
    return;
  }
  const readonly = !can('editor');
  const st = { original: editable(loaded), usedBy: loaded.used_by, draft: null, errors: [], unplaced: [] };
  st.draft = structuredClone(st.original);
  const dirty = () => canon(st.draft) !== canon(st.original);
  ctx.guard = () => !readonly && dirty();

  const head = h('div', { class: 'page-head' });
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', { class: 'flag-main' });
  const side = h('aside', { class: 'flag-side' });
  const saveBar = h('div', { class: 'save-bar', hidden: true, 'data-testid': 'save-bar' });

  function onChange(structural = false) {
    if (structural) st.errors = [];
    drawSaveBar();
  }

  function drawHead() {
    const sg = st.original;
    put(head, h('div', { class: 'title-block' },
      h('h1', { 'data-testid': 'segment-title' }, sg.name || sg.key),
      h('div', { class: 'sub' }, h('code', { class: 'key' }, sg.key), h('span', { class: 'badge kind' }, 'segment'))));
    put(side, h('section', { class: 'card small-card', 'data-testid': 'used-by', 'aria-label': 'Used by' },
      h('h2', {}, 'Used by'),
      st.usedBy.length
        ? h('ul', { class: 'plain' }, st.usedBy.map((k) => h('li', {}, h('a', { href: `#/flags/${enc(k)}`, class: 'mono' }, k))))
        : h('p', { class: 'muted small' }, 'No flag uses this segment yet.')),
    h('section', { class: 'card small-card' }, h('h2', {}, 'Details'),
      h('dl', { class: 'facts' }, h('dt', {}, 'Version'), h('dd', { 'data-testid': 'segment-version' }, String(sg.version)),
        h('dt', {}, 'Updated'), h('dd', {}, timeEl(sg.updated_at), ` by ${sg.updated_by || 'unknown'}`))));
  }

  function rulesBox() {
    const list = h('div', { class: 'rules' });
    const draw = () => {
      put(list, ...st.draft.rules.map((rule, i) => h('div', { class: 'rule', 'data-field': `rules[${i}]`, 'data-testid': 'rule' },
        h('div', { class: 'rule-head err-host' }, h('span', { class: 'rule-num' }, i === 0 ? 'Rule 1' : `or Rule ${i + 1}`),
          readonly ? null : h('button', {
            type: 'button', class: 'btn icon-btn danger-text', 'aria-label': `Delete rule ${i + 1}`,
            onClick: () => { st.draft.rules.splice(i, 1); draw(); onChange(true); },
          }, trashIcon())),
        clauseList({ clauses: rule.clauses, path: `rules[${i}]`, readonly, segments: null, onChange }))));
      if (!st.draft.rules.length) list.append(h('p', { class: 'muted small' }, 'No rules: only the included keys are in this segment.'));
      if (!readonly) {
        list.append(h('button', {
          type: 'button', class: 'btn', 'data-testid': 'add-rule',
          onClick: () => { st.draft.rules.push({ id: ruleId(), clauses: [newClause()] }); draw(); onChange(true); },
        }, '+ Add rule'));
      }
    };
    draw();
    return list;
  }

  function drawBody() {
    const sg = st.draft;
    const chips = (list, label, testid) => h('div', { class: 'err-host', 'data-testid': testid },
      chipInput({ values: sg[list], readonly, field: list, label, placeholder: 'Add context keys…', onChange: () => onChange() }));
    put(body, attributeSuggestions(), h('fieldset', { class: 'cards', disabled: readonly || undefined },
      h('legend', { class: 'sr-only' }, `Segment ${key}`),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Included'),
        h('p', { class: 'muted small' }, 'Context keys always in this segment.')), chips('included', 'Included keys', 'included')),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Excluded'),
        h('p', { class: 'muted small' }, 'Context keys never in this segment, even when a rule matches (included wins over excluded).')), chips('excluded', 'Excluded keys', 'excluded')),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Rules'),
        h('p', { class: 'muted small' }, 'A context is in the segment when all clauses of any rule match.')), rulesBox()),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Settings')),
        h('div', { class: 'field err-host' }, h('label', { for: 'seg-name' }, 'Name'), h('input', {
          class: 'input', id: 'seg-name', value: sg.name, 'data-field': 'name', onInput: (e) => { sg.name = e.target.value; onChange(); },
        })),
        h('div', { class: 'field err-host' }, h('label', { for: 'seg-desc' }, 'Description'), h('textarea', {
          class: 'input', id: 'seg-desc', rows: 2, value: sg.description, 'data-field': 'description', onInput: (e) => { sg.description = e.target.value; onChange(); },
        }))),
      readonly ? null : dangerCard()));
    st.unplaced = applyErrors(body, st.errors);
    drawSaveBar();
  }

  function dangerCard() {
    const err = h('div', { class: 'alert error', role: 'alert', hidden: true, 'data-testid': 'delete-error' });
    return h('section', { class: 'card danger-zone' }, h('div', { class: 'card-head' }, h('h2', {}, 'Delete segment'),
      h('p', { class: 'muted small' }, 'Only a segment no flag uses can be deleted.')), err,
    h('button', {
      type: 'button', class: 'btn danger', 'data-testid': 'delete-segment',
      onClick: async () => {
        const ok = await confirmDialog({ title: `Delete segment ${key}?`, body: 'Its history stays and it can be restored.', confirmLabel: `Delete ${key}`, danger: true, confirmText: key });
        if (!ok) return;
        try {
          await api('DELETE', paths.segment(key));
          st.draft = structuredClone(st.original);
          toast(`Deleted segment ${key}`);
          ctx.navigate('#/segments');
        } catch (e) {
          err.textContent = explain(e);
          err.hidden = false;
        }
      },
    }, 'Delete this segment'));
  }

  function drawSaveBar() {
    if (readonly) return;
    const isDirty = dirty();
    if (!st.errors.length) st.unplaced = [];
    saveBar.hidden = !isDirty && !st.errors.length;
    put(saveBar, 
      h('div', { class: 'save-msg' }, h('strong', {}, isDirty ? 'Unsaved changes' : 'Not saved'),
        st.errors.length ? h('div', { class: 'save-errors', role: 'alert', 'data-testid': 'save-errors' },
          'The API refused the change (see the marked fields).', st.unplaced.map((e) => h('div', {}, `${e.field}: ${e.message}`))) : null),
      h('div', { class: 'save-actions' },
        h('button', { class: 'btn', disabled: !isDirty, 'data-testid': 'discard', onClick: () => { st.draft = structuredClone(st.original); st.errors = []; drawBody(); } }, 'Discard'),
        h('button', { class: 'btn primary', disabled: !isDirty, 'data-testid': 'save', onClick: save }, 'Save changes')));
  }

  function reloadFrom(seg) {
    st.original = editable(seg);
    st.usedBy = seg.used_by || st.usedBy;
    st.draft = structuredClone(st.original);
    st.errors = [];
    put(banner);
    drawHead();
    drawBody();
  }

  async function save() {
    if (!await confirmProduction(`Save changes to segment ${key}`)) return;
    try {
      const saved = await api('PUT', paths.segment(key), {
        body: { ...st.draft, version: st.original.version }, headers: { 'If-Match': `"${st.original.version}"` },
      });
      reloadFrom(saved);
      toast(`Saved segment ${key} as version ${saved.version}`);
    } catch (e) {
      if (e.status === 400 && e.fieldErrors?.length) { st.errors = e.fieldErrors; drawBody(); return; }
      if (e.status === 409 && e.code === 'version_conflict') {
        const latest = await get(paths.segment(key)).catch(() => null);
        put(banner, h('div', { class: 'alert warn', role: 'alert', 'data-testid': 'conflict' },
          h('strong', {}, 'Someone else changed this segment while you were editing.'),
          h('p', {}, latest ? `It is now version ${latest.version} (by ${latest.updated_by}). Your changes are not saved.` : 'Your changes are not saved.'),
          latest ? h('div', { class: 'alert-actions' }, h('button', { class: 'btn primary', 'data-testid': 'reload-latest', onClick: () => reloadFrom(latest) }, 'Reload the latest version (discards your changes)')) : null,
          latest ? jsonDiff(st.original, editable(latest), { beforeLabel: `version ${st.original.version}`, afterLabel: `version ${latest.version}` }) : null));
        return;
      }
      toast(explain(e), 'error', 8000);
    }
  }

  drawHead();
  ctx.render(h('div', { class: 'page flag-page' }, head,
    h('nav', { class: 'tabs', 'aria-label': 'Segment' },
      h('a', { class: 'tab active', href: `#/segments/${enc(key)}`, 'aria-current': 'page' }, 'Segment'),
      h('a', { class: 'tab', href: `#/segments/${enc(key)}/history` }, 'History'),
      h('a', { class: 'tab', href: `#/audit?segment=${enc(isLegacy() ? key : `${scope.project}/${scope.env}/${key}`)}` }, 'Audit log')),
    banner, h('div', { class: 'flag-grid' }, body, side), saveBar));
  drawBody();
}
