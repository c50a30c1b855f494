// Environments: compare two environments of a project flag by flag, preview
// a promotion (its per-flag diff and the segments the target lacks), apply
// it as one change, and roll back a promotion as a whole.
// `#/promote?project=web&from=staging&to=production`.

import { put, h, select, toast, confirmDialog, spinner, empty } from '../dom.js';
import { api, get, can, explain } from '../api.js';
import { timeEl } from '../format.js';
import { scope } from '../scope.js';

const enc = encodeURIComponent;
const short = (v) => {
  const s = JSON.stringify(v);
  return s.length > 48 ? `${s.slice(0, 47)}…` : s;
};

export async function promotePage(ctx) {
  ctx.crumbs('Environments');
  ctx.render(spinner());
  const projects = (await get('/v1/projects?limit=1000')).projects;
  const project = projects.find((p) => p.key === (ctx.query.project || scope.project)) || projects.find((p) => p.key === 'default') || projects[0];
  if (!project) {
    ctx.render(h('div', { class: 'page' }, h('h1', {}, 'Environments'), empty('No projects yet.')));
    return;
  }
  const envs = project.environments.map((e) => e.key);
  const from = envs.includes(ctx.query.from) ? ctx.query.from : envs[Math.max(0, envs.length - 2)];
  const to = envs.includes(ctx.query.to) && ctx.query.to !== from ? ctx.query.to : envs.find((e) => e !== from);
  const target = project.environments.find((e) => e.key === to);
  const go = (p, f, t) => ctx.navigate(`#/promote?project=${enc(p)}&from=${enc(f)}&to=${enc(t || '')}`);
  const projectSel = select(projects.map((p) => [p.key, p.name || p.key]), project.key, { id: 'pr-project', 'data-testid': 'promote-project' });
  const fromSel = select(envs.map((e) => [e, e]), from, { id: 'pr-from', 'data-testid': 'promote-from' });
  const toSel = select(envs.map((e) => [e, e]), to, { id: 'pr-to', 'data-testid': 'promote-to' });
  projectSel.addEventListener('change', () => go(projectSel.value, '', ''));
  fromSel.addEventListener('change', () => go(project.key, fromSel.value, toSel.value));
  toSel.addEventListener('change', () => go(project.key, fromSel.value, toSel.value));

  const base = `/v1/projects/${enc(project.key)}`;
  const [comparison, promotions] = to
    ? await Promise.all([
      get(`${base}/compare?from=${enc(from)}&to=${enc(to)}`),
      get(`${base}/promotions?limit=20`),
    ])
    : [null, { promotions: [] }];

  const compareBody = h('tbody');
  const differing = comparison ? comparison.flags : [];
  put(compareBody, ...differing.map((d) => h('tr', { 'data-flag': d.key },
    h('td', { class: 'mono' }, d.key),
    h('td', {}, h('span', { class: `tag ${d.status === 'changed' ? '' : 'muted'}` }, d.status.replaceAll('_', ' '))),
    h('td', { class: 'small' }, d.fields.join(', ')))));
  if (!differing.length) {
    compareBody.append(h('tr', {}, h('td', { colspan: 3 }, empty(`Every flag is configured alike in ${from} and ${to}.`))));
  }

  const plan = h('div', { 'data-testid': 'promote-plan' });
  const err = h('div', { class: 'alert error', role: 'alert', hidden: true, 'data-testid': 'promote-error' });
  const body = { from, to, all: true };

  async function preview() {
    err.hidden = true;
    const dry = await api('POST', `${base}/promote`, { body: { ...body, dry_run: true } });
    const rows = dry.plan.flags.map((f) => h('tr', { 'data-flag': f.key },
      h('td', { class: 'mono' }, f.key),
      h('td', { class: 'small' }, ...f.changes.map((c) => h('div', {},
        h('strong', {}, c.field), ': ', h('code', {}, short(c.before)), ' → ', h('code', {}, short(c.after)))))));
    const missing = dry.plan.missing_segments;
    const apply = h('button', {
      class: 'btn primary', 'data-testid': 'promote-apply', disabled: !dry.plan.flags.length || missing.length > 0 || !can('editor'),
      onClick: () => promote(dry),
    }, `Promote ${dry.plan.flags.length} flags to ${to}`);
    put(plan,
      missing.length ? h('div', { class: 'alert warn', role: 'alert', 'data-testid': 'missing-segments' },
        h('strong', {}, `${to} lacks segments that promoted rules use: `),
        missing.map((m) => `${m.segment} (flag ${m.flag})`).join(', '), '. Create them there first.') : null,
      h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'plan-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Flag'), h('th', {}, `Changes in ${to}`))),
        h('tbody', {}, ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 2 }, empty('Nothing to promote.')))])))),
      h('p', { class: 'muted small' }, `${dry.plan.unchanged.length} flags are already alike. The promotion is one change: all of these flags, or none.`),
      apply);
  }

  async function promote(dry) {
    const ok = await confirmDialog({
      title: `Promote ${dry.plan.flags.length} flags to ${to}?`,
      danger: Boolean(target?.production),
      confirmLabel: 'Promote',
      confirmText: target?.production ? to : null,
      body: h('p', {}, `Their configuration in ${from} replaces the one in ${to}, as one change. `,
        target?.production ? h('strong', {}, `${to} is a production environment. `) : null,
        'It can be rolled back as a whole.'),
    });
    if (!ok) return;
    try {
      const done = await api('POST', `${base}/promote`, {
        body: { ...body, expected_versions: dry.expected_versions, source_versions: dry.source_versions },
      });
      toast(done.applied ? `Promoted ${done.promotion.flags.length} flags to ${to} (promotion ${done.promotion.id})` : 'Nothing to promote');
      go(project.key, from, to);
    } catch (e) {
      err.textContent = explain(e);
      err.hidden = false;
    }
  }

  async function rollback(p) {
    const ok = await confirmDialog({
      title: `Roll back promotion ${p.id}?`, confirmLabel: 'Roll back', danger: true,
      body: h('p', {}, `The ${p.flags.length} flags it changed in ${p.to} get their earlier configuration back, as one change.`),
    });
    if (!ok) return;
    try {
      await api('POST', `${base}/promotions/${p.id}/rollback`);
      toast(`Rolled back promotion ${p.id}`);
      go(project.key, from, to);
    } catch (e) {
      err.textContent = explain(e);
      err.hidden = false;
    }
  }

  const history = h('tbody', {}, ...promotions.promotions.map((p) => h('tr', { 'data-promotion': String(p.id) },
    h('td', { class: 'mono' }, String(p.id)),
    h('td', { class: 'nowrap' }, timeEl(p.at)),
    h('td', {}, p.actor),
    h('td', {}, `${p.from} → ${p.to}`),
    h('td', { class: 'num' }, String(p.flags.length)),
    h('td', { class: 'actions' }, p.rolled_back_by
      ? h('span', { class: 'muted small' }, 'rolled back')
      : can('editor') ? h('button', { class: 'btn small', 'data-testid': `rollback-${p.id}`, onClick: () => rollback(p) }, 'Roll back') : null))));
  if (!promotions.promotions.length) history.append(h('tr', {}, h('td', { colspan: 6 }, empty('No promotions yet.'))));

  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Environments'),
      h('span', { class: 'muted' }, `Compare two environments of ${project.name || project.key} and promote one's configuration to the other`))),
    h('div', { class: 'toolbar' },
      h('label', { for: 'pr-project' }, 'Project '), projectSel,
      h('label', { for: 'pr-from' }, ' From '), fromSel,
      h('label', { for: 'pr-to' }, ' to '), toSel),
    err,
    h('h2', {}, `Where ${from} and ${to} differ`),
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'compare-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Flag'), h('th', {}, 'Status'), h('th', {}, 'Fields that differ'))),
      compareBody)),
    h('p', {}, h('button', { class: 'btn', 'data-testid': 'promote-preview', onClick: () => preview().catch((e) => { err.textContent = explain(e); err.hidden = false; }) },
      `Preview promoting every flag from ${from} to ${to}`)),
    plan,
    h('h2', {}, 'Promotions'),
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'promotions-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Id'), h('th', {}, 'When'), h('th', {}, 'By'), h('th', {}, 'From → to'),
        h('th', { class: 'num' }, 'Flags'), h('th', {}, ''))),
      history))));
}
