// The segments list (with the flags that use each) and the "new segment" form,
// in the top bar's environment: each environment has its own segments.

import { put, h, field, toast, empty, spinner } from '../dom.js';
import { api, getAll, can, explain } from '../api.js';
import { timeEl } from '../format.js';
import { scope, paths } from '../scope.js';

const enc = encodeURIComponent;

export async function segmentsPage(ctx) {
  ctx.crumbs('Segments', scope.env);
  ctx.render(spinner());
  const segments = await getAll(paths.segments(), 'segments');
  const editor = can('editor');
  const search = h('input', {
    type: 'search', class: 'input search', placeholder: 'Search by key or name', 'aria-label': 'Search segments', 'data-search': '',
  });
  const tbody = h('tbody');
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = segments.filter((sg) => !needle || sg.key.toLowerCase().includes(needle) || (sg.name || '').toLowerCase().includes(needle));
    put(tbody, ...shown.map((sg) => {
      const tr = h('tr', { class: 'row-link', tabindex: '0', 'data-key': sg.key },
        h('td', {}, h('a', { href: `#/segments/${enc(sg.key)}`, class: 'flag-name', tabindex: '-1' }, sg.name || sg.key),
          h('div', { class: 'mono small muted' }, sg.key)),
        h('td', { class: 'num' }, String(sg.included.length)),
        h('td', { class: 'num' }, String(sg.excluded.length)),
        h('td', { class: 'num' }, String(sg.rules.length)),
        h('td', { 'data-testid': 'used-by' }, sg.used_by.length
          ? sg.used_by.map((k) => h('a', { class: 'tag link', href: `#/flags/${enc(k)}` }, k))
          : h('span', { class: 'muted small' }, 'no flags')),
        h('td', { class: 'nowrap' }, timeEl(sg.updated_at), h('div', { class: 'small muted' }, `by ${sg.updated_by || 'unknown'}`)));
      const open = () => ctx.navigate(`#/segments/${enc(sg.key)}`);
      tr.addEventListener('click', (e) => { if (!e.target.closest('a, button')) open(); });
      tr.addEventListener('keydown', (e) => {
        if (e.target !== tr) return;
        if (e.key === 'Enter') open();
        if (e.key === 'ArrowDown' || e.key === 'j') { e.preventDefault(); tr.nextElementSibling?.focus(); }
        if (e.key === 'ArrowUp' || e.key === 'k') { e.preventDefault(); (tr.previousElementSibling || search).focus(); }
      });
      return tr;
    }));
    if (!shown.length) tbody.append(h('tr', {}, h('td', { colspan: 6 }, empty(segments.length ? 'No segments match.' : 'No segments yet. A segment is a reusable group of contexts that flag rules can target.'))));
  };
  search.addEventListener('input', draw);
  search.addEventListener('keydown', (e) => { if (e.key === 'ArrowDown') { e.preventDefault(); tbody.querySelector('tr[data-key]')?.focus(); } });
  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Segments'), h('span', { class: 'muted' }, `${segments.length} in all`)),
      editor ? h('a', { class: 'btn primary', href: '#/new/segment', 'data-testid': 'new-segment' }, '+ New segment') : null),
    h('div', { class: 'toolbar' }, search),
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'segments-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Segment'), h('th', { class: 'num' }, 'Included'), h('th', { class: 'num' }, 'Excluded'),
        h('th', { class: 'num' }, 'Rules'), h('th', {}, 'Used by'), h('th', {}, 'Last change'))),
      tbody))));
  draw();
}

export async function newSegmentPage(ctx) {
  ctx.crumbs(['Segments', '#/segments'], 'New segment');
  if (!can('editor')) {
    ctx.render(h('div', { class: 'page' }, h('div', { class: 'alert warn', role: 'alert' }, 'Creating segments needs the editor role or higher.')));
    return;
  }
  const name = h('input', { class: 'input', id: 'ns-name', placeholder: 'Beta testers', autocomplete: 'off' });
  const key = h('input', { class: 'input mono', id: 'ns-key', placeholder: 'beta-testers', autocomplete: 'off', required: true, 'data-field': 'key' });
  const desc = h('textarea', { class: 'input', id: 'ns-desc', rows: 2 });
  const err = h('div', { class: 'alert error', role: 'alert', hidden: true });
  let keyTouched = false;
  name.addEventListener('input', () => {
    if (!keyTouched) key.value = name.value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  });
  key.addEventListener('input', () => { keyTouched = true; });
  const create = h('button', { class: 'btn primary', type: 'submit' }, 'Create segment');
  const form = h('form', { class: 'card form narrow', 'aria-label': 'New segment' },
    field('Name', name), field('Key', key, 'Flag rules refer to the segment by this key.'), field('Description', desc), err,
    h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: '#/segments' }, 'Cancel'), create));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    create.disabled = true;
    err.hidden = true;
    try {
      const sg = await api('POST', paths.segments(), { body: { key: key.value.trim(), name: name.value.trim(), description: desc.value.trim() } });
      toast(`Created segment ${sg.key}`);
      ctx.navigate(`#/segments/${enc(sg.key)}`);
    } catch (ex) {
      create.disabled = false;
      err.textContent = explain(ex);
      err.hidden = false;
    }
  });
  ctx.render(h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', {}, 'New segment')), form));
  name.focus();
}
