// The flag page: kill switch, targeting editor, variations, settings, the
// "test this flag" box, saving with If-Match (stale versions show the
// conflict and offer a reload), and API errors placed next to their field.
// It edits one environment at a time (the tabs above the targeting switch
// between them); name, description, tags and variations are the flag's
// definition, shared by every environment of its project.

import { put, h, switchButton, toast, confirmDialog, spinner } from '../dom.js';
import { api, get, getAll, can, explain } from '../api.js';
import { timeEl, sortKeys, variationLabel } from '../format.js';
import { attributeSuggestions } from '../clauses.js';
import { rollouts, rolloutTotal } from '../serve.js';
import { jsonDiff } from '../diff.js';
import { applyErrors } from '../errors.js';
import { confirmToggle } from './toggle.js';
import { scope, paths, isLegacy, environments, confirmProduction } from '../scope.js';
import {
  prerequisitesCard, targetsCard, rulesCard, defaultCard, offCard, variationsCard, settingsCard,
} from './flag-cards.js';

const enc = encodeURIComponent;
const canon = (v) => JSON.stringify(sortKeys(v));
/** The fields of a flag's definition (`FlagDefinition`): the rest is configuration. */
const DEFINITION = ['key', 'name', 'description', 'tags', 'kind', 'variations', 'salt'];
const definitionChanged = (a, b) => DEFINITION.some((k) => canon(a[k] ?? null) !== canon(b[k] ?? null));

/** A copy with every rollout listing every variation, so the editor and the
 * dirty check see one shape. */
export function normalize(flag) {
  const f = structuredClone(flag);
  for (const k of ['tags', 'targets', 'rules', 'prerequisites']) f[k] ??= [];
  const fill = (s) => {
    if (!s.rollout) return;
    const have = new Set(s.rollout.variations.map((w) => w.variation));
    f.variations.forEach((_, i) => { if (!have.has(i)) s.rollout.variations.push({ variation: i, weight: 0 }); });
    s.rollout.variations.sort((a, b) => a.variation - b.variation);
  };
  fill(f.fallthrough);
  f.rules.forEach((r) => { r.description ??= ''; fill(r.serve); });
  return f;
}

export async function flagPage(ctx) {
  const key = ctx.params.key;
  ctx.crumbs(['Flags', '#/flags'], key);
  ctx.render(spinner());
  let loaded;
  try {
    loaded = await get(paths.flag(key));
  } catch (e) {
    if (e.status !== 404) throw e;
    ctx.render(h('div', { class: 'page' }, h('div', { class: 'alert warn', role: 'alert', 'data-testid': 'flag-missing' },
      `There is no flag ${key} now. If it was deleted, its history can restore it. `,
      h('a', { href: `#/flags/${enc(key)}/history` }, 'Open its history'))));
    return;
  }
  // The definition carries every environment's configuration (for the
  // tabs) and its own version; a token scoped to some environments may not
  // read it, and then the tabs show no states.
  const [allFlags, segments, definition] = await Promise.all([
    getAll(paths.flags(), 'flags'), getAll(paths.segments(), 'segments'),
    get(paths.definition(key)).catch(() => null),
  ]);
  const readonly = !can('editor');
  const st = {
    original: normalize(loaded), draft: null, errors: [], conflict: null, invalid: new Set(), saving: false, definition,
  };
  st.draft = structuredClone(st.original);

  const head = h('div', { class: 'page-head' });
  const envTabs = h('nav', { class: 'env-tabs', 'aria-label': 'Environments', 'data-testid': 'env-tabs' });
  const meta = h('div', { class: 'meta' });
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', { class: 'flag-main' });
  const saveBar = h('div', { class: 'save-bar', hidden: true, 'data-testid': 'save-bar' });
  const side = h('aside', { class: 'flag-side' }, testBox(key, () => st), detailsBox(st));

  const dirty = () => canon(st.draft) !== canon(st.original);
  ctx.guard = () => !readonly && dirty();

  function drawHead() {
    const f = st.original;
    put(head, 
      h('div', { class: 'title-block' },
        h('h1', { 'data-testid': 'flag-title' }, f.name || f.key),
        h('div', { class: 'sub' }, h('code', { class: 'key' }, f.key), h('span', { class: 'badge kind' }, f.kind),
          f.tags.map((t) => h('a', { class: 'tag', href: `#/flags?tag=${enc(t)}` }, t)))),
      h('div', { class: 'head-actions' },
        readonly
          ? h('span', { class: `pill big ${f.enabled ? 'on' : 'off'}`, 'data-testid': 'flag-state' }, f.enabled ? 'On' : 'Off')
          : [h('div', { class: 'switch-caption' }, h('strong', {}, f.enabled ? 'On' : 'Off'), h('br'),
            f.enabled ? 'serving targeting' : ['everyone gets ', variationLabel(f, f.off_variation)]),
          switchButton({ on: f.enabled, label: `Kill switch: ${f.key} is ${f.enabled ? 'on' : 'off'}`, onToggle: toggle })]));
    put(meta, 
      h('nav', { class: 'tabs', 'aria-label': 'Flag' },
        h('a', { class: 'tab active', href: `#/flags/${enc(key)}`, 'aria-current': 'page' }, 'Targeting'),
        h('a', { class: 'tab', href: `#/flags/${enc(key)}/history`, 'data-testid': 'history-tab' }, 'History'),
        h('a', { class: 'tab', href: `#/audit?flag=${enc(isLegacy() ? key : `${scope.project}/${scope.env}/${key}`)}` }, 'Audit log')),
      h('span', { class: 'muted small', 'data-testid': 'flag-version' }, `Version ${f.version} · updated `, timeEl(f.updated_at), ` by ${f.updated_by || 'unknown'}`));
  }

  /** One tab per environment with its state there; the current one is edited. */
  function drawEnvTabs() {
    const envs = environments();
    if (envs.length < 2) return;
    put(envTabs, h('span', { class: 'muted small' }, 'Environment:'), envs.map((e) => {
      const cfg = e.key === scope.env ? st.original : st.definition?.environments?.[e.key];
      const current = e.key === scope.env;
      return h('a', {
        class: 'env-tab', envColor: e.color, href: `#/flags/${enc(key)}?env=${enc(e.key)}`,
        'aria-current': current ? 'page' : undefined, 'data-env': e.key,
      }, h('span', { class: 'env-dot', 'aria-hidden': 'true' }), e.name || e.key,
      cfg ? h('span', { class: `pill ${cfg.enabled ? 'on' : 'off'}`, 'data-on': String(cfg.enabled) }, cfg.enabled ? 'On' : 'Off') : null);
    }));
  }

  function onChange(structural = false, redrawAll = false) {
    if (structural) st.errors = [];
    if (redrawAll) drawBody();
    drawSaveBar();
  }

  function drawBody() {
    const f = st.draft;
    const opts = { readonly, allFlags, segments, onChange, invalid: st.invalid };
    const offNote = !st.original.enabled ? h('div', { class: 'alert info', 'data-testid': 'off-note' },
      'This flag is off: every context gets ', h('strong', {}, variationLabel(f, f.off_variation)),
      '. The targeting below applies once it is turned on.') : null;
    const cards = h('fieldset', { class: 'cards', disabled: readonly || undefined },
      h('legend', { class: 'sr-only' }, `Targeting of ${key}`),
      offNote,
      prerequisitesCard(f, opts), targetsCard(f, opts), rulesCard(f, opts), defaultCard(f, opts), offCard(f, opts),
      variationsCard(f, opts), settingsCard(f, opts),
      readonly ? null : dangerCard());
    put(body, attributeSuggestions(), cards);
    st.unplaced = applyErrors(body, st.errors);
    drawSaveBar();
  }

  function problems() {
    const out = [];
    for (const [path, serve] of rollouts(st.draft)) {
      const t = rolloutTotal(serve);
      if (t !== 100000) out.push(`${path === 'fallthrough' ? 'The default rule' : `Rule ${Number(path.match(/\d+/)[0]) + 1}`}: rollout weights total ${t / 1000}%, not 100%.`);
    }
    for (const p of st.invalid) out.push(`${p}: not valid JSON.`);
    // Every environment's targeting names variations by position: removing
    // one here would shift what the others serve. Adding one is safe.
    if (!isLegacy() && st.draft.variations.length < st.original.variations.length) {
      out.push(`Variations can be added here but not removed: every environment of ${scope.project} serves them by position, so removing one would change what the others serve.`);
    }
    return out;
  }

  function drawSaveBar() {
    if (readonly) return;
    if (!st.errors.length) st.unplaced = [];
    const unplaced = st.unplaced || [];
    const isDirty = dirty();
    const probs = problems();
    saveBar.hidden = !isDirty && !st.errors.length;
    const errs = st.errors.length
      ? h('div', { class: 'save-errors', role: 'alert', 'data-testid': 'save-errors' },
        `The API refused the change (${st.errors.length} problem${st.errors.length === 1 ? '' : 's'}, shown next to the fields).`,
        unplaced.map((e) => h('div', {}, `${e.field}: ${e.message}`)))
      : null;
    const save = h('button', {
      class: 'btn primary', 'data-testid': 'save', disabled: !isDirty || probs.length > 0 || st.saving,
      onClick: saveNow,
    }, st.saving ? 'Saving…' : 'Save changes');
    put(saveBar, 
      h('div', { class: 'save-msg' },
        h('strong', {}, isDirty ? 'Unsaved changes' : 'Not saved'),
        probs.map((p) => h('div', { class: 'bad small', 'data-testid': 'save-problem' }, p)), errs),
      h('div', { class: 'save-actions' },
        h('button', { class: 'btn', 'data-testid': 'discard', disabled: !isDirty, onClick: discard }, 'Discard'), save));
  }

  function discard() {
    st.draft = structuredClone(st.original);
    st.errors = [];
    st.invalid.clear();
    drawBody();
  }

  function reloadFrom(flag) {
    // The definition (its version, the other environments' states) is read
    // again too, so the next save starts from it.
    get(paths.definition(key)).then((d) => { st.definition = d; drawEnvTabs(); }).catch(() => {});
    st.original = normalize(flag);
    st.draft = structuredClone(st.original);
    st.errors = [];
    st.conflict = null;
    st.invalid.clear();
    put(banner);
    drawHead();
    drawEnvTabs();
    drawBody();
    put(side, testBox(key, () => st), detailsBox(st));
  }

  /**
   * Outside `default`'s `production` a change to the definition is its own
   * write, made first (a new variation can then be served by a rule). It
   * rewrites every environment's copy, so this environment's configuration
   * is then expected one version on; anything else means someone else wrote
   * it meanwhile, shown as a conflict. A definition change the other
   * environments refuse (a removed variation one of them serves) saves
   * nothing.
   */
  async function saveDefinition() {
    if (isLegacy() || !definitionChanged(st.draft, st.original)) return null;
    // Read just before writing: a write to this configuration since the
    // page loaded (or to the definition, which rewrites every
    // environment's) shows here, before anything is written.
    let def;
    try {
      def = await get(paths.definition(key));
    } catch (e) {
      if (e.status === 403) throw new Error('Your token does not reach every environment of this project, so the flag\'s name, tags and variations (shared by all of them) cannot be changed here.');
      throw e;
    }
    if (def.environments?.[scope.env]?.version !== st.original.version) {
      throw Object.assign(new Error(`${key} changed in ${scope.env} meanwhile`), { status: 409, code: 'version_conflict' });
    }
    const body = { project: scope.project, version: def.version };
    for (const k of DEFINITION) body[k] = st.draft[k];
    const saved = await api('PUT', paths.definition(key), { body, headers: { 'If-Match': `"${def.version}"` } });
    st.definition = saved;
    // From here the saved definition is the starting point, even if the
    // configuration's write below fails.
    const before = st.original.version;
    for (const k of DEFINITION) st.original[k] = structuredClone(st.draft[k]);
    const now = saved.environments?.[scope.env];
    if (!now || now.version !== before + 1) {
      throw Object.assign(new Error(`${key} changed in ${scope.env} meanwhile`), { status: 409, code: 'version_conflict' });
    }
    st.original.version = now.version;
    st.draft.version = now.version;
    return now;
  }

  async function saveNow() {
    if (!await confirmProduction(`Save changes to ${key}`)) return;
    st.saving = true;
    drawSaveBar();
    try {
      const afterDefinition = await saveDefinition();
      const saved = afterDefinition && !dirty() ? afterDefinition : await api('PUT', paths.flag(key), {
        body: { ...st.draft, version: st.original.version },
        headers: { 'If-Match': `"${st.original.version}"` },
      });
      st.saving = false;
      reloadFrom(saved);
      toast(`Saved ${key} as version ${saved.version}`);
    } catch (e) {
      st.saving = false;
      if (e.status === 400 && e.fieldErrors?.length) {
        st.errors = e.fieldErrors;
        drawBody();
        body.querySelector('.invalid')?.scrollIntoView({ block: 'center' });
        return;
      }
      drawSaveBar();
      if (e.status === 409 && e.code === 'version_conflict') await showConflict();
      else toast(explain(e), 'error', 8000);
    }
  }

  async function showConflict() {
    let latest = null;
    try { latest = await get(paths.flag(key)); } catch { /* shown as unknown below */ }
    st.conflict = latest;
    const diffBox = h('div', { class: 'conflict-diff', hidden: true });
    const who = latest
      ? [` by ${latest.updated_by || 'someone'} `, timeEl(latest.updated_at), ` (it is now version ${latest.version}; you started from version ${st.original.version})`]
      : [' (it may have been deleted)'];
    put(banner, h('div', { class: 'alert warn conflict', role: 'alert', 'data-testid': 'conflict' },
      h('strong', {}, 'Someone else changed this flag while you were editing.'),
      h('p', {}, `${key} was changed`, ...who, '. Your changes are not saved.'),
      h('div', { class: 'alert-actions' },
        latest ? h('button', { class: 'btn primary', 'data-testid': 'reload-latest', onClick: () => reloadFrom(latest) }, 'Reload the latest version (discards your changes)') : null,
        latest ? h('button', {
          class: 'btn', onClick: (e) => { diffBox.hidden = !diffBox.hidden; e.target.textContent = diffBox.hidden ? 'Show their changes' : 'Hide their changes'; },
        }, 'Show their changes') : null),
      latest ? (diffBox.append(jsonDiff(st.original, normalize(latest), { beforeLabel: `version ${st.original.version} (yours started here)`, afterLabel: `version ${latest.version}` })), diffBox) : null));
    banner.scrollIntoView({ block: 'start' });
  }

  async function toggle() {
    const updated = await confirmToggle(st.original);
    if (!updated) return;
    if (updated.version !== st.original.version + 1 && dirty()) {
      // Someone else changed it too: keep the draft, but say so.
      st.original.enabled = updated.enabled;
      drawHead();
      await showConflict();
      return;
    }
    for (const k of ['enabled', 'version', 'updated_at', 'updated_by']) {
      st.original[k] = updated[k];
      st.draft[k] = updated[k];
    }
    drawHead();
    drawEnvTabs();
    drawBody();
    put(side, testBox(key, () => st), detailsBox(st));
  }

  function dangerCard() {
    const err = h('div', { class: 'alert error', role: 'alert', hidden: true, 'data-testid': 'delete-error' });
    return h('section', { class: 'card danger-zone', 'aria-label': 'Delete flag' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Delete flag'),
        h('p', { class: 'muted small' }, 'SDKs stop seeing it at once. Its history stays, and it can be restored from there.')),
      err,
      h('button', {
        type: 'button', class: 'btn danger', 'data-testid': 'delete-flag',
        onClick: async () => {
          const ok = await confirmDialog({
            title: `Delete ${key}?`, danger: true, confirmLabel: `Delete ${key}`, confirmText: key,
            body: h('p', {}, 'Every SDK will stop serving ', h('code', {}, key), environments().length > 1 ? ` in every environment of project ${scope.project}` : null,
              ' and fall back to its default value.'),
          });
          if (!ok) return;
          try {
            await api('DELETE', isLegacy() ? paths.flag(key) : paths.definition(key));
            st.draft = structuredClone(st.original); // nothing left to guard
            toast(`Deleted ${key}. Restore it from its history.`);
            ctx.navigate('#/flags');
          } catch (e) {
            err.textContent = explain(e);
            err.hidden = false;
          }
        },
      }, 'Delete this flag'));
  }

  drawHead();
  drawEnvTabs();
  ctx.render(h('div', { class: 'page flag-page' }, head, envTabs, meta, banner,
    h('div', { class: 'flag-grid' }, body, side), saveBar));
  drawBody();
}

// ---- side panels ---------------------------------------------------------

function detailsBox(st) {
  const f = st.original;
  return h('section', { class: 'card small-card', 'aria-label': 'Details' },
    h('h2', {}, 'Details'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Created'), h('dd', {}, timeEl(f.created_at)),
      h('dt', {}, 'Version'), h('dd', {}, String(f.version)),
      h('dt', {}, 'Rules'), h('dd', {}, String(f.rules.length)),
      h('dt', {}, 'Targets'), h('dd', {}, String(f.targets.reduce((a, t) => a + t.values.length, 0)))));
}

const REASONS = {
  OFF: () => 'The flag is off, so it serves the off variation.',
  TARGET_MATCH: () => 'The context key is an individual target.',
  FALLTHROUGH: () => 'No target or rule matched: the default rule applies.',
  RULE_MATCH: (r, flag) => {
    const rule = flag.rules.find((x) => x.id === r.rule_id);
    return `Matched rule ${r.rule_index + 1}${rule?.description ? ` (“${rule.description}”)` : ''}, id ${r.rule_id}.`;
  },
  PREREQUISITE_FAILED: (r) => `Prerequisite ${r.prerequisite} did not serve the required variation.`,
  ERROR: (r) => `Evaluation failed: ${r.error_kind}.`,
};

/** "Test this flag": a context in, the value and the reason out. */
function testBox(key, getState) {
  const input = h('textarea', {
    class: 'input mono', rows: 6, id: 'test-context', spellcheck: 'false', 'aria-label': 'Context (JSON)',
    value: '{\n  "key": "user-1",\n  "country": "NZ",\n  "groups": ["beta"]\n}',
  });
  const out = h('div', { class: 'test-result', 'aria-live': 'polite', 'data-testid': 'test-result' });
  // Each run clears the last answer and marks the box busy until this run's
  // answer is shown, so an old answer is never read as the new one.
  let runs = 0;
  const run = async () => {
    runs += 1;
    const mine = runs;
    out.setAttribute('aria-busy', 'true');
    put(out);
    let context;
    try {
      context = JSON.parse(input.value);
      if (!context || typeof context !== 'object' || Array.isArray(context)) throw new Error('the context must be a JSON object');
    } catch (e) {
      put(out, h('div', { class: 'field-error' }, `Not a valid context: ${e.message}`));
      out.setAttribute('aria-busy', 'false');
      return;
    }
    const st = getState();
    try {
      const r = await api('POST', paths.evaluate(), { body: { flag: key, context } });
      if (mine !== runs) return;
      const flag = st.original;
      const why = (REASONS[r.reason.kind] || (() => r.reason.kind))(r.reason, flag);
      put(out, 
        h('div', { class: 'result-value' },
          r.variation !== null && r.variation !== undefined ? h('span', { class: `dot big c${r.variation % 10}` }) : null,
          h('code', { 'data-testid': 'test-value' }, JSON.stringify(r.value)),
          r.variation !== null && r.variation !== undefined ? h('span', { class: 'muted' }, ` variation ${r.variation_name ?? r.variation}`) : null),
        h('div', { class: 'reason', 'data-testid': 'test-reason' }, h('span', { class: 'badge' }, r.reason.kind), ' ', why,
          r.in_rollout ? ' Picked by the percentage rollout.' : ''),
        st.original && canon(st.draft) !== canon(st.original)
          ? h('p', { class: 'muted small' }, `This is the saved version ${st.original.version}; unsaved edits are not evaluated.`) : null);
    } catch (e) {
      if (mine !== runs) return;
      put(out, h('div', { class: 'field-error' }, explain(e)));
    }
    if (mine === runs) out.setAttribute('aria-busy', 'false');
  };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
  return h('section', { class: 'card small-card test-box', 'aria-label': 'Test this flag', 'data-testid': 'test-box' },
    h('h2', {}, 'Test this flag'),
    h('label', { for: 'test-context', class: 'small muted' }, 'Context (JSON): ', h('code', {}, 'key'), ' is the targeting key'),
    input,
    h('button', { class: 'btn primary wide', 'data-testid': 'evaluate', onClick: run }, 'Evaluate'),
    out);
}

