// History of a flag or segment in the top bar's environment: every version,
// a diff between any two, and one-click rollback (or restore, once deleted)
// with a confirmation.

import { put, h, confirmDialog, toast, spinner } from '../dom.js';
import { api, getAll, can, explain } from '../api.js';
import { timeEl, actionBadge, fullTime } from '../format.js';
import { jsonDiff } from '../diff.js';
import { scope, paths, isLegacy } from '../scope.js';

const enc = encodeURIComponent;

export async function historyPage(ctx, kind) {
  const key = ctx.params.key;
  const noun = kind === 'flags' ? 'flag' : 'segment';
  const base = `#/${kind}/${enc(key)}`;
  ctx.crumbs([kind === 'flags' ? 'Flags' : 'Segments', `#/${kind}`], [key, base], `History in ${scope.env}`);
  ctx.render(spinner());
  const versions = await getAll(`${paths.versioned(kind, key)}/versions`, 'versions');
  const editor = can('editor');
  const latest = versions[0];
  const deleted = latest && latest.state === null;
  const lastLive = versions.find((v) => v.state !== null);

  // The two versions being compared: B newer, A older. Defaults: latest vs the one before.
  const sel = { a: versions[1]?.version ?? latest.version, b: latest.version };
  const diffBox = h('div', { class: 'card', 'data-testid': 'diff-box' });
  const byVersion = Object.fromEntries(versions.map((v) => [v.version, v]));

  async function rollback(v, restoring) {
    const ok = await confirmDialog({
      title: restoring ? `Restore ${key}?` : `Roll back ${key} to version ${v.version}?`,
      body: h('p', {}, restoring
        ? ['The deleted ', noun, ' ', h('code', {}, key), ` comes back exactly as it was in version ${v.version} (${fullTime(v.at)}), as a new version.`]
        : ['This makes a new version of ', h('code', {}, key), ` with the content of version ${v.version}, saved ${fullTime(v.at)} by ${v.actor}. SDKs get it at once.`]),
      confirmLabel: restoring ? `Restore ${key}` : `Roll back to version ${v.version}`,
    });
    if (!ok) return;
    try {
      let path = `${paths.versioned(kind, key)}/rollback`;
      let version = v.version;
      if (restoring && kind === 'flags' && !isLegacy()) {
        // A deleted flag comes back whole, in every environment of its
        // project, from its definition's last version (each environment
        // with its last configuration).
        const defs = await getAll(`${paths.definition(key)}/versions`, 'versions');
        const live = defs.find((d) => d.state !== null);
        if (!live) throw new Error(`${key} has no definition to restore`);
        path = `${paths.definition(key)}/rollback`;
        version = live.version;
      }
      const res = await api('POST', path, { body: { version } });
      toast(restoring ? `Restored ${key} as version ${res.version}` : `Rolled back ${key}: now version ${res.version}`);
      ctx.navigate(`${base}/history`);
    } catch (e) {
      toast(explain(e), 'error', 8000);
    }
  }

  function drawDiff() {
    const a = byVersion[sel.a];
    const b = byVersion[sel.b];
    const [older, newer] = a.version <= b.version ? [a, b] : [b, a];
    put(diffBox, 
      h('h2', {}, `Changes from version ${older.version} to version ${newer.version}`),
      jsonDiff(older.state, newer.state, { beforeLabel: `version ${older.version}`, afterLabel: `version ${newer.version}` }));
  }

  const radio = (which, v) => h('input', {
    type: 'radio', name: `cmp-${which}`, value: String(v.version), checked: sel[which] === v.version,
    'aria-label': `Compare version ${v.version} as ${which === 'a' ? 'the older' : 'the newer'} side`,
    'data-testid': `cmp-${which}-${v.version}`,
    onChange: () => { sel[which] = v.version; drawDiff(); },
  });

  const rows = versions.map((v) => h('tr', { 'data-version': v.version },
    h('td', { class: 'cmp' }, radio('a', v)), h('td', { class: 'cmp' }, radio('b', v)),
    h('td', { class: 'mono' }, `v${v.version}`),
    h('td', {}, actionBadge(v.action)),
    h('td', { class: 'nowrap' }, timeEl(v.at)),
    h('td', {}, v.actor),
    h('td', { class: 'actions' }, editor && v.state !== null && (v.version !== latest.version)
      ? h('button', { class: 'btn small', 'data-testid': `rollback-${v.version}`, onClick: () => rollback(v, deleted) }, deleted ? 'Restore this version' : 'Roll back to this')
      : v.version === latest.version && !deleted ? h('span', { class: 'muted small' }, 'current') : null)));

  const deletedBanner = deleted ? h('div', { class: 'alert warn', role: 'status', 'data-testid': 'deleted-banner' },
    h('strong', {}, `This ${noun} was deleted`), ` by ${latest.actor} `, timeEl(latest.at), ` (version ${latest.version}). `,
    editor && lastLive ? h('button', { class: 'btn primary', 'data-testid': 'restore', onClick: () => rollback(lastLive, true) }, `Restore version ${lastLive.version}`) : null) : null;

  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, lastLive?.state?.name || key),
      h('div', { class: 'sub' }, h('code', { class: 'key' }, key), h('span', { class: 'badge kind' }, noun)))),
    h('nav', { class: 'tabs', 'aria-label': noun },
      deleted ? null : h('a', { class: 'tab', href: base }, kind === 'flags' ? 'Targeting' : 'Segment'),
      h('a', { class: 'tab active', href: `${base}/history`, 'aria-current': 'page' }, 'History'),
      h('a', { class: 'tab', href: `#/audit?${noun}=${enc(key)}` }, 'Audit log')),
    deletedBanner,
    h('div', { class: 'card flush' },
      h('table', { class: 'table', 'data-testid': 'versions' },
        h('thead', {}, h('tr', {}, h('th', { title: 'Older side of the diff' }, 'A'), h('th', { title: 'Newer side of the diff' }, 'B'),
          h('th', {}, 'Version'), h('th', {}, 'Change'), h('th', {}, 'When'), h('th', {}, 'By'), h('th', {}, ''))),
        h('tbody', {}, rows))),
    h('p', { class: 'muted small' }, 'Pick any two versions in columns A and B to compare them.'),
    diffBox));
  drawDiff();
}
