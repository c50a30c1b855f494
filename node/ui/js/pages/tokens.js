// Tokens (admin): create (the secret is shown once), list, revoke.

import { put, h, select, toast, confirmDialog, spinner } from '../dom.js';
import { api, get, session, explain } from '../api.js';
import { timeEl, roleBadge } from '../format.js';

const ROLE_HELP = {
  viewer: 'reads flags, segments, audit, cluster',
  editor: 'also changes flags and segments',
  admin: 'also manages tokens and membership',
  sdk: 'for SDKs: streams flags, reports metrics',
};

export async function tokensPage(ctx) {
  ctx.crumbs('Tokens');
  ctx.render(spinner());
  let tokens;
  try {
    tokens = (await get('/v1/tokens')).tokens;
  } catch (e) {
    if (e.status !== 403) throw e;
    ctx.render(h('div', { class: 'page' }, h('h1', {}, 'Tokens'),
      h('div', { class: 'alert warn', role: 'alert', 'data-testid': 'forbidden' },
        h('strong', {}, 'Managing tokens needs the admin role. '),
        `You are signed in as ${session.me.name} with the ${session.me.role} role (the API says: ${e.message}). Ask an admin for a token if you need one.`)));
    return;
  }
  const secretBox = h('div', { class: 'secret-slot' });
  const tbody = h('tbody');
  const name = h('input', { class: 'input mono', id: 'tok-name', placeholder: 'ci-deploy', required: true, autocomplete: 'off' });
  const role = select(Object.keys(ROLE_HELP).map((r) => [r, `${r} — ${ROLE_HELP[r]}`]), 'viewer', { id: 'tok-role' });
  const err = h('div', { class: 'alert error', role: 'alert', hidden: true, 'data-testid': 'token-error' });
  const form = h('form', { class: 'inline-form', 'aria-label': 'Create a token' },
    h('div', { class: 'field' }, h('label', { for: 'tok-name' }, 'Name'), name),
    h('div', { class: 'field' }, h('label', { for: 'tok-role' }, 'Role'), role),
    h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'create-token' }, 'Create token'));

  function draw() {
    put(tbody, ...tokens.map((t) => h('tr', { 'data-token': t.name },
      h('td', { class: 'mono' }, t.name, t.name === session.me.name ? h('span', { class: 'muted small' }, ' (you)') : null),
      h('td', {}, roleBadge(t.role)),
      h('td', { class: 'nowrap' }, timeEl(t.created_at)),
      h('td', {}, t.created_by),
      h('td', { class: 'actions' }, h('button', {
        class: 'btn small danger-text', 'data-testid': `revoke-${t.name}`, onClick: () => revoke(t),
      }, 'Revoke')))));
  }

  async function reload() {
    tokens = (await get('/v1/tokens')).tokens;
    draw();
  }

  async function revoke(t) {
    const self = t.name === session.me.name;
    const ok = await confirmDialog({
      title: `Revoke ${t.name}?`, danger: true, confirmLabel: `Revoke ${t.name}`,
      body: h('p', {}, `Requests with the ${t.role} token `, h('code', {}, t.name), ' fail from now on. This cannot be undone.',
        self ? h('strong', {}, ' It is the token you are signed in with: you will be signed out.') : null),
    });
    if (!ok) return;
    try {
      await api('DELETE', `/v1/tokens/${encodeURIComponent(t.name)}`);
      toast(`Revoked ${t.name}`);
      if (self) { session.onUnauthorized(); return; }
      await reload();
    } catch (e) {
      err.textContent = e.code === 'last_admin' ? `${explain(e)}: create another admin token first.` : explain(e);
      err.hidden = false;
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    try {
      const created = await api('POST', '/v1/tokens', { body: { name: name.value.trim(), role: role.value } });
      name.value = '';
      showSecret(created);
      await reload();
    } catch (ex) {
      err.textContent = explain(ex);
      err.hidden = false;
    }
  });

  function showSecret(t) {
    const value = h('input', { class: 'input mono secret', readOnly: true, value: t.secret, 'aria-label': `Secret of ${t.name}`, 'data-testid': 'secret' });
    const copy = h('button', {
      class: 'btn', type: 'button',
      onClick: async () => {
        value.select();
        try { await navigator.clipboard.writeText(t.secret); toast('Copied'); } catch { toast('Select the secret and copy it by hand', 'info'); }
      },
    }, 'Copy');
    put(secretBox, h('div', { class: 'alert ok secret-panel', role: 'status', 'data-testid': 'secret-panel' },
      h('strong', {}, `Token ${t.name} (${t.role}) created. Copy its secret now: it is shown only this once.`),
      h('div', { class: 'secret-line' }, value, copy,
        h('button', { class: 'btn ghost', type: 'button', onClick: () => put(secretBox) }, 'Done'))));
    value.focus();
    value.select();
  }

  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Tokens'),
      h('span', { class: 'muted' }, 'Only a hash of each secret is stored; a lost secret cannot be shown again.'))),
    h('section', { class: 'card' }, h('h2', {}, 'Create a token'), form, err),
    secretBox,
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'tokens-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, 'Created'), h('th', {}, 'By'), h('th', {}, ''))),
      tbody))));
  draw();
}
