// The audit log: filter by flag, segment, actor, action and time; each entry
// expands to a before/after diff.

import { put, h, select, spinner, empty } from '../dom.js';
import { get, qs } from '../api.js';
import { timeEl, actionBadge, fullTime } from '../format.js';
import { jsonDiff } from '../diff.js';

const ACTIONS = [
  'flag.create', 'flag.update', 'flag.toggle', 'flag.delete', 'flag.rollback', 'flag.restore',
  'segment.create', 'segment.update', 'segment.delete', 'segment.rollback', 'segment.restore',
  'token.create', 'token.revoke',
  'cluster.member_add', 'cluster.member_remove', 'cluster.leader_transfer',
];

/** `datetime-local` value (local time) ↔ RFC 3339. */
function toRfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * A flag's or segment's page, in the target's own project and environment:
 * `flag:checkout` is `default`'s `production`, `flag:web/staging/checkout`
 * one environment's, `flag:web/checkout` a definition (the project's page).
 */
function targetLink(target) {
  const [kind, ...rest] = target.split(':');
  const parts = rest.join(':').split('/');
  const key = parts.pop();
  const [project, env] = parts.length ? parts : ['default', 'production'];
  const where = `?project=${encodeURIComponent(project)}${env ? `&env=${encodeURIComponent(env)}` : ''}`;
  if (kind === 'flag') return h('a', { href: `#/flags/${encodeURIComponent(key)}${where}`, class: 'mono' }, target);
  if (kind === 'segment') return h('a', { href: `#/segments/${encodeURIComponent(key)}${where}`, class: 'mono' }, target);
  return h('span', { class: 'mono' }, target);
}

export async function auditPage(ctx) {
  ctx.crumbs('Audit log');
  const f = {
    flag: ctx.query.flag || '', segment: ctx.query.segment || '', actor: ctx.query.actor || '',
    action: ctx.query.action || '', since: ctx.query.since || '', until: ctx.query.until || '',
  };
  const input = (name, label, props = {}) => h('input', {
    class: 'input', name, value: f[name], 'aria-label': label, placeholder: label, autocomplete: 'off', ...props,
  });
  const flagIn = input('flag', 'Flag key', { class: 'input mono', 'data-testid': 'audit-flag' });
  const segIn = input('segment', 'Segment key', { class: 'input mono' });
  const actorIn = input('actor', 'Actor (token name)', { 'data-testid': 'audit-actor' });
  const actionSel = select([['', 'Any action'], ...ACTIONS.map((a) => [a, a])], f.action, { name: 'action', 'aria-label': 'Action', 'data-testid': 'audit-action' });
  const sinceIn = h('input', { class: 'input', type: 'datetime-local', name: 'since', value: toLocal(f.since), 'aria-label': 'Since', 'data-testid': 'audit-since' });
  const untilIn = h('input', { class: 'input', type: 'datetime-local', name: 'until', value: toLocal(f.until), 'aria-label': 'Until', 'data-testid': 'audit-until' });
  const tbody = h('tbody');
  const more = h('div', { class: 'more' });
  const apply = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'audit-apply' }, 'Filter');
  const clear = h('button', { class: 'btn', type: 'button', onClick: () => ctx.navigate('#/audit') }, 'Clear');
  const form = h('form', { class: 'filters', 'aria-label': 'Audit filters' },
    h('label', { class: 'f' }, h('span', {}, 'Flag'), flagIn),
    h('label', { class: 'f' }, h('span', {}, 'Segment'), segIn),
    h('label', { class: 'f' }, h('span', {}, 'Actor'), actorIn),
    h('label', { class: 'f' }, h('span', {}, 'Action'), actionSel),
    h('label', { class: 'f' }, h('span', {}, 'Since'), sinceIn),
    h('label', { class: 'f' }, h('span', {}, 'Until'), untilIn),
    h('div', { class: 'f actions' }, apply, clear));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = {
      flag: flagIn.value.trim(), segment: segIn.value.trim(), actor: actorIn.value.trim(), action: actionSel.value,
      since: toRfc3339(sinceIn.value), until: toRfc3339(untilIn.value),
    };
    ctx.navigate(`#/audit${qs(next)}`);
  });
  actionSel.addEventListener('change', () => form.requestSubmit());

  function entryRows(e) {
    const detail = h('tr', { class: 'detail', hidden: true }, h('td', { colspan: 6 },
      jsonDiff(e.before, e.after, { beforeLabel: 'before', afterLabel: 'after' }),
      h('div', { class: 'muted small' }, `Request ${e.request_id} · log index ${e.id} · ${fullTime(e.at)}`)));
    const btn = h('button', {
      class: 'btn small', 'aria-expanded': 'false', 'data-testid': 'show-diff',
      onClick: () => {
        detail.hidden = !detail.hidden;
        btn.setAttribute('aria-expanded', String(!detail.hidden));
        btn.textContent = detail.hidden ? 'Show diff' : 'Hide diff';
      },
    }, 'Show diff');
    const row = h('tr', { 'data-entry': e.id, 'data-action': e.action },
      h('td', { class: 'nowrap' }, timeEl(e.at)),
      h('td', {}, e.actor),
      h('td', {}, actionBadge(e.action)),
      h('td', {}, targetLink(e.target)),
      h('td', { class: 'num' }, e.version ?? '—'),
      h('td', { class: 'actions' }, btn));
    return [row, detail];
  }

  async function load(cursor = null) {
    const page = await get(`/v1/audit${qs({ ...f, limit: 50, cursor })}`);
    if (!ctx.alive) return;
    if (!cursor) put(tbody);
    for (const e of page.entries) tbody.append(...entryRows(e));
    if (!tbody.children.length) tbody.append(h('tr', {}, h('td', { colspan: 6 }, empty('No audit entries match these filters.'))));
    put(more, page.next_cursor ? h('button', { class: 'btn', 'data-testid': 'audit-more', onClick: () => load(page.next_cursor) }, 'Load older entries') : null);
  }

  tbody.append(h('tr', {}, h('td', { colspan: 6 }, spinner())));
  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Audit log'),
      h('span', { class: 'muted' }, 'Every change, who made it and when, written in the same Raft entry as the change.'))),
    h('div', { class: 'card' }, form),
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'audit-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Actor'), h('th', {}, 'Action'), h('th', {}, 'Target'),
        h('th', { class: 'num' }, 'Version'), h('th', {}, ''))),
      tbody), more)));
  await load();
}
