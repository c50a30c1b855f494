// The flags list (search, tag and on/off filters, keyboard navigation,
// every environment's state side by side, evaluations in the last hour) and
// the "new flag" form. Both work in the top bar's project and environment.

import { put, h, toast, switchButton, field, select, empty, spinner } from '../dom.js';
import { api, get, getAll, qs, can, explain } from '../api.js';
import { timeEl, num, variationTag, valueText } from '../format.js';
import { sparkline } from '../charts.js';
import { loadMetrics } from '../metrics.js';
import { confirmToggle } from './toggle.js';
import { scope, paths, isLegacy, environments, envChip } from '../scope.js';

export async function flagsPage(ctx) {
  ctx.crumbs('Flags', scope.project);
  const q = { q: ctx.query.q || '', tag: ctx.query.tag || '', enabled: ctx.query.enabled || '' };
  const editor = can('editor');

  const search = h('input', {
    type: 'search', class: 'input search', placeholder: 'Search by key or name', value: q.q,
    'aria-label': 'Search flags by key or name', 'data-search': '', 'data-testid': 'flag-search',
  });
  const tagSel = select([['', 'All tags']], q.tag, { 'aria-label': 'Filter by tag', 'data-testid': 'tag-filter' });
  const stateBtns = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Filter by state' },
    [['', 'All'], ['true', 'On'], ['false', 'Off']].map(([v, label]) => h('button', {
      type: 'button', class: 'seg', 'aria-pressed': String(q.enabled === v), 'data-state-filter': v || 'all',
      onClick: () => { q.enabled = v; syncUrl(); load(); },
    }, label)));
  const tbody = h('tbody');
  const table = h('table', { class: 'table flags-table', 'data-testid': 'flags-table' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'col-state' }, 'State'), h('th', {}, 'Flag'), h('th', {}, 'Environments'), h('th', {}, 'Variations'),
      h('th', {}, 'Last change'), h('th', { class: 'num' }, 'Evaluations (1 h)'))),
    tbody);
  const more = h('div', { class: 'more' });
  const count = h('span', { class: 'muted', 'data-testid': 'flag-count' });
  const deleted = h('div', { class: 'deleted-box' });

  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Flags'), h('div', { class: 'muted', 'data-testid': 'flags-scope' },
        'States, switches and targeting in ', envChip(), ` of ${projectName()}. `, count)),
      editor && h('a', { class: 'btn primary', href: '#/new/flag', 'data-testid': 'new-flag', accesskey: 'n' }, '+ New flag')),
    h('div', { class: 'toolbar' }, search, tagSel, stateBtns),
    h('div', { class: 'card flush' }, table, more),
    h('p', { class: 'kbd-help muted' },
      h('kbd', {}, '/'), ' search · ', h('kbd', {}, '↑'), h('kbd', {}, '↓'), ' or ', h('kbd', {}, 'j'), h('kbd', {}, 'k'), ' move · ',
      h('kbd', {}, 'Enter'), ' open', editor ? [' · ', h('kbd', {}, 't'), ' toggle'] : null),
    deleted));

  let metrics = null;
  let loadSeq = 0;
  /** key → {environment: {enabled, version, rules, targets}}, from the project's list. */
  let sideBySide = new Map();
  const envs = environments();

  /** Each environment's state, the current one outlined. */
  function envStates(flag) {
    const states = sideBySide.get(flag.key);
    if (!states) return null;
    return h('div', { class: 'env-states', 'data-testid': 'env-states' }, envs.filter((e) => states[e.key]).map((e) => {
      const on = states[e.key].enabled;
      return h('span', {
        class: `env-state${on ? ' on' : ''}${e.key === scope.env ? ' current' : ''}`, envColor: e.color,
        'data-env': e.key, 'data-on': String(on), title: `${e.name || e.key}: ${on ? 'on' : 'off'}`,
      }, h('span', { class: 'env-dot', 'aria-hidden': 'true' }), e.key, h('span', { class: 'sr-only' }, on ? ' on' : ' off'));
    }));
  }

  function syncUrl() {
    const hash = `#/flags${qs(q)}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    stateBtns.querySelectorAll('button').forEach((b) => {
      b.setAttribute('aria-pressed', String((b.dataset.stateFilter === 'all' ? '' : b.dataset.stateFilter) === q.enabled));
    });
  }

  function row(flag) {
    const tr = h('tr', { tabindex: '0', class: 'row-link', 'data-key': flag.key, 'aria-label': `Flag ${flag.key}` });
    const open = () => ctx.navigate(`#/flags/${encodeURIComponent(flag.key)}`);
    tr.addEventListener('click', (e) => { if (!e.target.closest('button, a')) open(); });
    tr.addEventListener('keydown', (e) => {
      if (e.target !== tr) return;
      if (e.key === 'Enter') { e.preventDefault(); open(); } else if (e.key === 't' && editor) { e.preventDefault(); toggle(flag); }
    });
    const evals = metrics?.totals1h[flag.key] || 0;
    const spark = metrics?.perFlag[flag.key];
    tr.append(
      h('td', { class: 'col-state' }, editor
        ? switchButton({ on: flag.enabled, label: `${flag.key} is ${flag.enabled ? 'on' : 'off'}`, onToggle: () => toggle(flag), testid: 'row-switch' })
        : h('span', { class: `pill ${flag.enabled ? 'on' : 'off'}` }, flag.enabled ? 'On' : 'Off')),
      h('td', {},
        h('a', { href: `#/flags/${encodeURIComponent(flag.key)}`, class: 'flag-name', tabindex: '-1' }, flag.name || flag.key),
        h('div', { class: 'mono small muted' }, flag.key),
        flag.tags.length ? h('div', { class: 'tags' }, flag.tags.map((t) => h('span', { class: 'tag' }, t))) : null),
      h('td', {}, envStates(flag)),
      h('td', {}, h('div', { class: 'var-list' },
        flag.variations.slice(0, 4).map((_, i) => variationTag(flag, i)),
        flag.variations.length > 4 ? h('span', { class: 'muted' }, `+${flag.variations.length - 4}`) : null)),
      h('td', { class: 'nowrap' }, timeEl(flag.updated_at), h('div', { class: 'small muted' }, `by ${flag.updated_by || 'unknown'}`)),
      h('td', { class: 'num nowrap' }, spark ? sparkline(spark) : null, metrics
        ? h('span', { class: 'evals', 'data-testid': 'evals-1h' }, num(evals))
        : h('span', { class: 'muted', title: `Counted per environment: GET /v1/projects/${scope.project}/environments/${scope.env}/metrics/evaluations` }, '—')));
    return tr;
  }

  async function toggle(flag) {
    const done = await confirmToggle(flag);
    if (!done) return;
    const here = sideBySide.get(flag.key)?.[scope.env];
    if (here) here.enabled = done.enabled; // the side-by-side chip follows the switch
    load();
  }

  async function load(cursor = null) {
    loadSeq += 1;
    const seq = loadSeq;
    // A keyboard user who toggled a row keeps their place when the rows are redrawn.
    const focused = document.activeElement?.closest?.('tr[data-key]')?.dataset.key ?? null;
    if (!cursor) put(tbody, h('tr', {}, h('td', { colspan: 6 }, spinner())));
    const page = await get(`${paths.flags()}${qs({ q: q.q, tag: q.tag, enabled: q.enabled, limit: 200, cursor })}`);
    if (seq !== loadSeq || !ctx.alive) return;
    if (!cursor) put(tbody);
    for (const f of page.flags) tbody.append(row(f));
    if (focused && (document.activeElement === document.body || !document.activeElement)) {
      [...tbody.querySelectorAll('tr[data-key]')].find((r) => r.dataset.key === focused)?.focus();
    }
    count.textContent = `${tbody.querySelectorAll('tr[data-key]').length} shown`;
    if (!tbody.children.length) {
      tbody.append(h('tr', {}, h('td', { colspan: 6 }, empty(
        q.q || q.tag || q.enabled ? 'No flags match these filters.' : 'No flags yet.',
        editor && !(q.q || q.tag || q.enabled) ? h('a', { class: 'btn primary', href: '#/new/flag' }, 'Create your first flag') : null))));
    }
    put(more, page.next_cursor
      ? h('button', { class: 'btn', onClick: () => load(page.next_cursor) }, 'Load more')
      : null);
  }

  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (!ctx.alive) return; q.q = search.value.trim(); syncUrl(); load().catch(fail); }, 200);
  });
  // A search typed just before leaving must not rewrite the next page's address.
  ctx.onLeave(() => clearTimeout(timer));
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'Enter') {
      const first = tbody.querySelector('tr[data-key]');
      if (first) { e.preventDefault(); if (e.key === 'Enter' && tbody.querySelectorAll('tr[data-key]').length === 1) first.click(); else first.focus(); }
    }
  });
  tagSel.addEventListener('change', () => { q.tag = tagSel.value; syncUrl(); load().catch(fail); });
  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr[data-key]');
    if (!tr || e.target !== tr) return;
    let next = null;
    if (e.key === 'ArrowDown' || e.key === 'j') next = tr.nextElementSibling;
    if (e.key === 'ArrowUp' || e.key === 'k') next = tr.previousElementSibling || search;
    if (next) { e.preventDefault(); next.focus(); }
  });
  const fail = (e) => { if (ctx.alive) toast(explain(e), 'error'); };

  // Tags, each environment's state and metrics in parallel with the first
  // page. The project's list needs a token that reaches the project (or
  // some of its environments); without it the rows show this environment.
  // Evaluation counts are kept per environment and the UI's summary is
  // `default`'s `production`'s, so other scopes leave the column empty.
  const [all, m] = await Promise.all([
    getAll(paths.projectFlags(), 'flags').catch(() => getAll(paths.flags(), 'flags')),
    isLegacy() ? loadMetrics(60).catch(() => null) : null,
  ]);
  metrics = m;
  sideBySide = new Map(all.filter((f) => f.environments).map((f) => [f.key, f.environments]));
  const tags = [...new Set(all.flatMap((f) => f.tags))].sort();
  for (const t of tags) tagSel.append(h('option', { value: t, selected: t === q.tag }, t));
  await load();
  if (isLegacy()) await recentlyDeleted(deleted, new Set(all.map((f) => f.key))).catch((e) => toast(explain(e), 'error'));
}

const projectName = () => scope.projects.find((p) => p.key === scope.project)?.name || scope.project;

/** Flags whose last change was a delete: a way back to their history and Restore. */
async function recentlyDeleted(box, live) {
  const audit = await get('/v1/audit?action=flag.delete&limit=50');
  const seen = new Set();
  const gone = audit.entries.filter((e) => {
    const key = e.target.replace(/^flag:/, '');
    if (live.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (!gone.length) return;
  put(box, h('details', { class: 'card deleted', 'data-testid': 'deleted-flags' },
    h('summary', {}, `Recently deleted flags (${gone.length})`),
    h('ul', { class: 'plain' }, gone.map((e) => {
      const key = e.target.replace(/^flag:/, '');
      return h('li', {}, h('a', { href: `#/flags/${encodeURIComponent(key)}/history` }, h('span', { class: 'mono' }, key)),
        h('span', { class: 'muted' }, ' deleted by ', e.actor, ' '), timeEl(e.at));
    }))));
}

// ---- new flag ------------------------------------------------------------

const DEFAULT_VARIATIONS = {
  boolean: [{ value: true }, { value: false }],
  string: [{ value: 'on', name: 'on' }, { value: 'off', name: 'off' }],
  number: [{ value: 1 }, { value: 0 }],
  json: [{ value: { enabled: true } }, { value: {} }],
};

export async function newFlagPage(ctx) {
  ctx.crumbs(['Flags', '#/flags'], 'New flag');
  const where = isLegacy() ? null : h('p', { class: 'muted' }, `It is created in every environment of project ${scope.project}, off in each.`);
  if (!can('editor')) {
    ctx.render(h('div', { class: 'page' }, h('div', { class: 'alert warn', role: 'alert' },
      'Creating flags needs the editor role or higher. You are signed in with the viewer role.')));
    return;
  }
  const name = h('input', { class: 'input', id: 'nf-name', placeholder: 'New checkout', autocomplete: 'off' });
  const key = h('input', { class: 'input mono', id: 'nf-key', placeholder: 'new-checkout', autocomplete: 'off', required: true, 'data-field': 'key' });
  const desc = h('textarea', { class: 'input', id: 'nf-desc', rows: 2, 'data-field': 'description' });
  const tags = h('input', { class: 'input', id: 'nf-tags', placeholder: 'checkout, web', 'data-field': 'tags' });
  const kind = select([['boolean', 'Boolean (true / false)'], ['string', 'String'], ['number', 'Number'], ['json', 'JSON']], 'boolean', { id: 'nf-kind' });
  const preview = h('div', { class: 'hint' });
  const err = h('div', { class: 'alert error', role: 'alert', hidden: true });
  let keyTouched = false;
  name.addEventListener('input', () => {
    if (!keyTouched) key.value = name.value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  });
  key.addEventListener('input', () => { keyTouched = true; });
  const showPreview = () => {
    put(preview, 'Starts with variations ', DEFAULT_VARIATIONS[kind.value].map((v, i) => [i ? ', ' : '', h('code', {}, valueText(v.value))]),
      '; you can change them after creating it. It starts off in every environment.');
  };
  kind.addEventListener('change', showPreview);
  showPreview();
  const create = h('button', { class: 'btn primary', type: 'submit' }, 'Create flag');
  const form = h('form', { class: 'card form narrow', 'aria-label': 'New flag' },
    field('Name', name), field('Key', key, 'Letters, digits, ".", "_" and "-". SDKs use the key; it cannot change later.'),
    field('Description', desc), field('Tags', tags, 'Comma-separated.'), field('Kind', kind), preview, err,
    h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: '#/flags' }, 'Cancel'), create));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    create.disabled = true;
    err.hidden = true;
    form.querySelectorAll('.field-error').forEach((x) => x.remove());
    const variations = structuredClone(DEFAULT_VARIATIONS[kind.value]);
    const body = {
      key: key.value.trim(), name: name.value.trim(), description: desc.value.trim(),
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
      kind: kind.value, variations, enabled: false,
      off_variation: variations.length - 1, fallthrough: { variation: 0 },
    };
    try {
      const flag = await api('POST', isLegacy() ? '/v1/flags' : paths.projectFlags(), { body });
      toast(`Created ${flag.key}`);
      ctx.navigate(`#/flags/${encodeURIComponent(flag.key)}`);
    } catch (ex) {
      create.disabled = false;
      const fe = ex.fieldErrors || [];
      const placed = fe.filter((x) => {
        const el = form.querySelector(`[data-field="${x.field.replace(/\[\d+\]$/, '')}"]`);
        if (el) el.after(h('div', { class: 'field-error', role: 'alert' }, x.message));
        return !!el;
      });
      if (placed.length < fe.length || !fe.length) { err.textContent = explain(ex); err.hidden = false; }
    }
  });
  ctx.render(h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'New flag'), where)), form));
  name.focus();
}
