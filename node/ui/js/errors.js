// Puts API validation errors next to the field they name. Editors mark their
// controls with `data-field="rules[0].clauses[1].values[0]"` (the API's JSON
// path); an error whose exact path has no control goes to the nearest
// ancestor path that has one (`values[3]` → `values` → the clause).

import { h } from './dom.js';

/** `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ''. */
export function parentPath(path) {
  const m = path.match(/^(.*)(\[\d+\]|\.[^.[\]]+)$/);
  return m ? m[1] : '';
}

function find(root, path) {
  for (let p = path; p; p = parentPath(p)) {
    const el = root.querySelector(`[data-field="${CSS.escape(p)}"]`);
    if (el) return el;
  }
  return null;
}

/**
 * Clears earlier marks in `root`, then marks each error's control and adds
 * its message beside it. Returns the errors no control could take.
 */
export function applyErrors(root, errors) {
  root.querySelectorAll('.field-error[data-error-for]').forEach((e) => e.remove());
  root.querySelectorAll('.invalid').forEach((e) => { e.classList.remove('invalid'); e.removeAttribute('aria-invalid'); });
  const unplaced = [];
  for (const err of errors) {
    const el = find(root, err.field);
    if (!el) { unplaced.push(err); continue; }
    el.classList.add('invalid');
    el.setAttribute('aria-invalid', 'true');
    const chip = el.classList.contains('chip') ? el.textContent.replace(/×$/, '') : null;
    const msg = h('div', { class: 'field-error', role: 'alert', 'data-error-for': err.field },
      chip ? h('code', {}, chip) : null, chip ? ': ' : null, err.message);
    const host = el.closest('.err-host, .clause, .rollout, .serve');
    if (host) host.append(msg);
    else el.after(msg);
  }
  return unplaced;
}
