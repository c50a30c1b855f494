// The shell: sign-in, the sidebar, and hash routing (`#/flags/new-checkout`).
// Each page is an async function `(ctx) => void` that renders into ctx.main;
// see `Ctx` below for what it may use.

import { put, h, s, confirmDialog, toast } from './dom.js';
import { api, session, setToken, signOut, can, explain, ApiError } from './api.js';
import { roleBadge } from './format.js';
import { flagsPage, newFlagPage } from './pages/flags.js';
import { flagPage } from './pages/flag.js';
import { historyPage } from './pages/history.js';
import { segmentsPage, newSegmentPage } from './pages/segments.js';
import { segmentPage } from './pages/segment.js';
import { auditPage } from './pages/audit.js';
import { clusterPage } from './pages/cluster.js';
import { monitoringPage } from './pages/monitoring.js';
import { tokensPage } from './pages/tokens.js';
import { promotePage } from './pages/promote.js';
import { scope, loadScope, choose, environments, environment } from './scope.js';

const ROUTES = [
  ['/flags', flagsPage, 'flags'],
  ['/new/flag', newFlagPage, 'flags'], // not /flags/new: "new" is a valid flag key
  ['/flags/:key', flagPage, 'flags'],
  ['/flags/:key/history', (ctx) => historyPage(ctx, 'flags'), 'flags'],
  ['/segments', segmentsPage, 'segments'],
  ['/new/segment', newSegmentPage, 'segments'],
  ['/segments/:key', segmentPage, 'segments'],
  ['/segments/:key/history', (ctx) => historyPage(ctx, 'segments'), 'segments'],
  ['/promote', promotePage, 'promote'],
  ['/audit', auditPage, 'audit'],
  ['/cluster', clusterPage, 'cluster'],
  ['/monitoring', monitoringPage, 'monitoring'],
  ['/tokens', tokensPage, 'tokens'],
];

const ICONS = {
  flags: 'M5 3v18M5 4h12l-3 4 3 4H5',
  segments: 'M8 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm8 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM2 20c0-3 3-5 6-5s6 2 6 5m0-4.5c.6-.3 1.3-.5 2-.5 3 0 6 2 6 5',
  audit: 'M6 3h9l4 4v14H6zM9 10h7M9 14h7M9 18h4',
  promote: 'M4 7h13l-3-3M20 17H7l3 3',
  cluster: 'M4 5h16v5H4zM4 14h16v5H4zM7 7.5h.01M7 16.5h.01',
  monitoring: 'M3 20h18M6 16l4-6 4 3 5-8',
  tokens: 'M14 10a4 4 0 1 0-3.5 4L9 16H7v2H5v2H3v-3l6.5-6.5A4 4 0 0 0 14 10zm2-2h.01',
};
const NAV = [
  ['flags', 'Flags'], ['segments', 'Segments'], ['promote', 'Environments'], ['audit', 'Audit log'],
  ['cluster', 'Cluster'], ['monitoring', 'Monitoring'], ['tokens', 'Tokens'],
];

const app = document.getElementById('app');
let current = null; // { ctx, cleanups, hash }

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/flags';
  const [path, query = ''] = raw.split('?');
  return { path, query: Object.fromEntries(new URLSearchParams(query)) };
}

function match(path) {
  const parts = path.split('/').filter(Boolean);
  for (const [pattern, page, section] of ROUTES) {
    const pp = pattern.split('/').filter(Boolean);
    if (pp.length !== parts.length) continue;
    const params = {};
    let ok = true;
    pp.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(parts[i]);
      else if (p !== parts[i]) ok = false;
    });
    if (ok) return { page, params, section };
  }
  return null;
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function icon(name) {
  return s('svg', { viewBox: '0 0 24 24', class: 'icon', 'aria-hidden': 'true' },
    s('path', { d: ICONS[name], fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));
}

/** The project and environment switcher: every page works in that scope. */
function scopeSwitch(section, params) {
  if (!scope.projects.length) return null;
  const projectSel = h('select', { class: 'input small', 'aria-label': 'Project', 'data-testid': 'scope-project' },
    scope.projects.map((p) => h('option', { value: p.key, selected: p.key === scope.project }, p.name || p.key)));
  const envSel = h('select', { class: 'input small', 'aria-label': 'Environment', 'data-testid': 'scope-env' },
    environments().map((e) => h('option', { value: e.key, selected: e.key === scope.env }, e.name || e.key)));
  // A flag is in every environment of its project, so its page stays; a
  // segment is in one, so its page goes back to the list.
  const go = (project, env) => {
    const stay = project === scope.project && section === 'flags' && params.key;
    const path = stay ? location.hash.replace(/^#/, '').split('?')[0] : `/${section || 'flags'}`;
    navigate(`#${path}?project=${encodeURIComponent(project)}&env=${encodeURIComponent(env)}`);
  };
  projectSel.addEventListener('change', () => go(projectSel.value, ''));
  envSel.addEventListener('change', () => go(scope.project, envSel.value));
  const env = environment();
  return h('div', { class: 'scope-switch', envColor: env?.color || '#8a8fa3', 'data-testid': 'scope' },
    h('span', { class: 'env-dot', 'aria-hidden': 'true' }), projectSel, h('span', { class: 'sep' }, '/'), envSel,
    env?.production ? h('span', { class: 'badge prod', 'data-testid': 'scope-production' }, 'Production') : null);
}

function shell(section, params = {}) {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    NAV.map(([id, label]) => h('a', {
      href: `#/${id}`, class: `nav-link${id === section ? ' active' : ''}`,
      'aria-current': id === section ? 'page' : undefined, 'data-nav': id,
    }, icon(id), h('span', {}, label))));
  const me = session.me;
  const user = h('div', { class: 'user', 'data-testid': 'whoami' },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, me.name.slice(0, 1).toUpperCase()),
    h('span', { class: 'user-name' }, me.name), roleBadge(me.role),
    h('button', { class: 'btn ghost small', 'data-testid': 'sign-out', onClick: () => doSignOut() }, 'Sign out'));
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const layout = h('div', { class: 'shell' },
    h('aside', { class: 'sidebar' },
      h('a', { class: 'brand', href: '#/flags' },
        h('img', { src: '/ui/favicon.svg', alt: '', width: 26, height: 26 }), h('span', {}, 'Vexil')),
      nav,
      h('div', { class: 'sidebar-foot' }, session.node ? `Served by node ${session.node}` : '')),
    h('div', { class: 'main-col' }, h('header', { class: 'topbar', envColor: environment()?.color || 'transparent' },
      h('div', { class: 'crumbs', id: 'crumbs' }), scopeSwitch(section, params), user), main));
  put(app, layout);
  return main;
}

function cleanup() {
  if (!current) return;
  current.alive = false;
  for (const f of current.cleanups) {
    try { f(); } catch { /* a page's cleanup must not break navigation */ }
  }
  current = null;
}

/** What a page gets. */
class Ctx {
  constructor(main, params, query, state) {
    this.main = main;
    this.params = params;
    this.query = query;
    this.state = state;
    /** Returns true when the page has unsaved changes. */
    this.guard = null;
  }

  get alive() { return this.state.alive; }

  /** Replaces the page's content (ignored once the user has moved on). */
  render(...children) {
    if (this.alive) put(this.main, ...children.flat());
  }

  crumbs(...parts) {
    const el = document.getElementById('crumbs');
    if (!el || !this.alive) return;
    put(el, ...parts.flatMap((p, i) => [i ? h('span', { class: 'sep' }, '/') : null,
      Array.isArray(p) ? h('a', { href: p[1] }, p[0]) : h('span', {}, p)]));
  }

  /** Runs `f` when the user leaves the page (stop timers here). */
  onLeave(f) { this.state.cleanups.push(f); }

  /** `setTimeout` that stops when the page goes away. */
  every(ms, f) {
    let timer = null;
    const tick = async () => {
      if (!this.alive) return;
      try { await f(); } catch (e) { if (this.alive) toast(explain(e), 'error'); }
      if (this.alive) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    this.onLeave(() => clearTimeout(timer));
  }

  navigate(hash) { navigate(hash); }
}

async function route() {
  if (!session.me) return;
  const { path, query } = parseHash();
  const hit = match(path);
  if (query.project && !scope.projects.some((p) => p.key === query.project)) await loadScope(); // made since sign-in
  if (query.project || query.env) choose(query.project || scope.project, query.env || '');
  cleanup();
  delete document.body.dataset.ready;
  const main = shell(hit?.section, hit?.params);
  document.title = 'Vexil';
  const state = { alive: true, cleanups: [], hash: location.hash };
  const ctx = new Ctx(main, hit?.params || {}, query, state);
  current = state;
  current.ctx = ctx;
  if (!hit) {
    ctx.render(h('div', { class: 'page' }, h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/flags' }, 'Go to flags'))));
    document.body.dataset.ready = path;
    return;
  }
  try {
    await hit.page(ctx);
  } catch (e) {
    if (!ctx.alive) return;
    ctx.render(h('div', { class: 'page' }, h('div', { class: 'alert error', role: 'alert', 'data-testid': 'page-error' }, explain(e))));
  }
  if (!ctx.alive) return;
  main.focus({ preventScroll: true });
  // The page and everything it fetched first are in place (tests wait for this).
  document.body.dataset.ready = path;
  document.body.dataset.routes = String(Number(document.body.dataset.routes || 0) + 1);
}

window.addEventListener('hashchange', async (e) => {
  if (current?.ctx?.guard?.()) {
    const oldHash = new URL(e.oldURL).hash;
    const leave = await confirmDialog({
      title: 'Discard unsaved changes?',
      body: 'You have changes that are not saved. Leaving this page discards them.',
      confirmLabel: 'Discard changes', danger: true,
    });
    // replaceState puts the old address back without another hashchange.
    if (!leave) { history.replaceState(null, '', oldHash); return; }
  }
  route();
});

window.addEventListener('beforeunload', (e) => {
  if (current?.ctx?.guard?.()) e.preventDefault();
});

// "/" focuses the page's search box, wherever focus is (except in a field).
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
  const search = document.querySelector('[data-search]');
  if (search) { e.preventDefault(); search.focus(); search.select?.(); }
});

// ---- sign in -----------------------------------------------------------

function signInPage(message = null) {
  cleanup();
  const token = h('input', {
    id: 'token', type: 'password', class: 'input mono', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'vxl_admin_…', required: true, 'aria-describedby': 'token-hint',
  });
  const err = h('div', { class: 'alert error', role: 'alert', hidden: !message, 'data-testid': 'signin-error' }, message || '');
  const btn = h('button', { class: 'btn primary wide', type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin-card', 'aria-label': 'Sign in' },
    h('div', { class: 'signin-brand' }, h('img', { src: '/ui/favicon.svg', alt: '', width: 40, height: 40 }), h('span', {}, 'Vexil')),
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste an API token. It stays in this browser tab only and is forgotten when the tab closes.'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Token'), token,
      h('div', { class: 'hint', id: 'token-hint' }, 'A new node prints its first admin token once and saves it in ', h('code', {}, 'vexil-data/admin-token'), '.')),
    err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    btn.disabled = true;
    err.hidden = true;
    const secret = token.value.trim();
    try {
      const me = await api('GET', '/v1/me', { token: secret });
      if (me.role === 'sdk') {
        throw new Error('This is an sdk token: it can read flags for an SDK but cannot use the admin UI, which needs the viewer role or higher.');
      }
      setToken(secret);
      session.me = me;
      await Promise.all([loadNode(), loadScope()]);
      if (!location.hash || location.hash === '#/signin') history.replaceState(null, '', '#/flags');
      route();
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 401 ? 'That token is not known to this cluster (it may have been revoked).' : explain(ex);
      err.hidden = false;
      btn.disabled = false;
      token.focus();
      token.select();
    }
  });
  put(app, h('div', { class: 'signin' }, form));
  token.focus();
  document.body.dataset.ready = 'signin';
}

async function loadNode() {
  try {
    const c = await api('GET', '/v1/cluster');
    session.node = c.node;
  } catch { session.node = null; }
}

function doSignOut(message = null) {
  signOut();
  if (history.replaceState) history.replaceState(null, '', location.pathname);
  signInPage(message);
}

session.onUnauthorized = () => {
  if (session.me) doSignOut('Your token is no longer valid (it may have been revoked). Sign in again.');
};

async function boot() {
  if (!session.token) { signInPage(); return; }
  try {
    session.me = await api('GET', '/v1/me');
    if (!can('viewer')) throw new Error('This token cannot use the admin UI.');
    await Promise.all([loadNode(), loadScope()]);
    route();
  } catch (e) {
    signOut();
    signInPage(e instanceof ApiError && e.status === 401 ? 'Your saved token is no longer valid. Sign in again.' : explain(e));
  }
}

boot();
