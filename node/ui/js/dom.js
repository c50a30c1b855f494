// Small DOM helpers: `h` builds elements, and a handful of components
// (modal, toast, chips, switch) that every page shares. No framework: a page
// is a function that returns an element and re-renders the parts it owns.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setProp(el, key, value) {
  if (value === undefined || value === null || value === false) return;
  if (key === 'class') el.className = value;
  else if (key === 'text') el.textContent = value;
  else if (key === 'dataset') Object.assign(el.dataset, value);
  else if (key.startsWith('on') && typeof value === 'function') {
    el.addEventListener(key.slice(2).toLowerCase(), value);
  } else if (['value', 'checked', 'disabled', 'selected', 'readOnly', 'indeterminate'].includes(key)) {
    el[key] = value;
  } else if (key === 'ref') value(el);
  // An environment's colour, as the CSS variable `--env`: set through the
  // CSSOM, which the Content-Security-Policy (no inline styles) allows.
  else if (key === 'envColor') el.style.setProperty('--env', String(value));
  else el.setAttribute(key, value === true ? '' : String(value));
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** `h('button', {class: 'btn', onClick}, 'Save')` */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) setProp(el, k, v);
  append(el, children);
  return el;
}

/** Replaces `el`'s children; skips null/false and flattens arrays like `h`. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An SVG element (attributes only). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

let uid = 0;
/** A fresh element id, for label/for pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

// ---- modal ---------------------------------------------------------------

/**
 * A confirmation dialog. Resolves to true when confirmed. `confirmText`, when
 * given, must be typed before the confirm button enables (for deletions).
 */
export function confirmDialog({ title, body, confirmLabel = 'Confirm', danger = false, confirmText = null }) {
  return new Promise((resolve) => {
    let typed = null;
    const ok = h('button', { class: danger ? 'btn danger' : 'btn primary', type: 'submit', 'data-testid': 'confirm' }, confirmLabel);
    const cancel = h('button', { class: 'btn', type: 'button', 'data-testid': 'cancel' }, 'Cancel');
    if (confirmText) {
      ok.disabled = true;
      typed = h('input', {
        class: 'input mono', 'aria-label': `Type ${confirmText} to confirm`, autocomplete: 'off',
        onInput: () => { ok.disabled = typed.value !== confirmText; },
      });
    }
    const form = h('form', { method: 'dialog', class: 'modal-body' },
      h('h2', { class: 'modal-title' }, title),
      h('div', { class: 'modal-text' }, body),
      typed && h('label', { class: 'field' }, h('span', {}, 'Type ', h('code', {}, confirmText), ' to confirm'), typed),
      h('div', { class: 'modal-actions' }, cancel, ok));
    const dialog = h('dialog', { class: 'modal', 'aria-label': title }, form);
    let result = false;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (ok.disabled) return;
      result = true;
      dialog.close();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    (typed || ok).focus();
  });
}

/** A dialog holding arbitrary content with a close button. */
export function infoDialog({ title, body, closeLabel = 'Close' }) {
  return new Promise((resolve) => {
    const close = h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'close' }, closeLabel);
    const dialog = h('dialog', { class: 'modal wide', 'aria-label': title },
      h('form', { method: 'dialog', class: 'modal-body' },
        h('h2', { class: 'modal-title' }, title),
        h('div', { class: 'modal-text' }, body),
        h('div', { class: 'modal-actions' }, close)));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(); });
    document.body.append(dialog);
    dialog.showModal();
    close.focus();
  });
}

// ---- toasts --------------------------------------------------------------

/** A short message in the corner; `kind` is ok, error or info. */
export function toast(message, kind = 'ok', ms = 4000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

// ---- chips ---------------------------------------------------------------

/**
 * An editable list of values shown as chips. Enter, comma or Tab adds what
 * was typed; Backspace in an empty box removes the last chip; pasting a list
 * splits it on commas and new lines. `parse` turns typed text into a value,
 * `format` a value into chip text. `field` is the JSON path of the list, so
 * API errors can find each chip (`field[i]`).
 */
export function chipInput({ values, onChange, placeholder = 'Add a value…', readonly = false,
  field = null, label = 'Values', parse = (t) => t, format = (v) => String(v), suggestions = null, typing = true }) {
  const wrap = h('div', { class: `chips${readonly ? ' readonly' : ''}`, 'data-field': field || undefined });
  const input = readonly || !typing ? null : h('input', {
    class: 'chip-input', placeholder, 'aria-label': label, autocomplete: 'off',
    list: suggestions ? suggestions : undefined,
  });
  // Chips are redrawn before the input, which stays in place (and focused).
  const draw = () => {
    wrap.querySelectorAll(':scope > .chip, :scope > .muted').forEach((c) => c.remove());
    values.forEach((v, i) => {
      const chip = h('span', { class: 'chip', 'data-field': field ? `${field}[${i}]` : undefined },
        h('span', { class: 'chip-text' }, format(v)),
        !readonly && h('button', {
          type: 'button', class: 'chip-x', 'aria-label': `Remove ${format(v)}`, title: 'Remove',
          onClick: () => { values.splice(i, 1); draw(); onChange(values); input?.focus(); },
        }, '×'));
      if (input) wrap.insertBefore(chip, input);
      else wrap.append(chip);
    });
    if (!input && values.length === 0) wrap.append(h('span', { class: 'muted small' }, 'none'));
  };
  const add = (text) => {
    const parts = text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean);
    if (!parts.length) return false;
    for (const p of parts) values.push(parse(p));
    draw();
    onChange(values);
    return true;
  };
  if (input) wrap.append(input);
  if (input) {
    const take = () => {
      const text = input.value;
      input.value = '';
      return add(text);
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ',' || (e.key === 'Tab' && input.value.trim())) {
        if (input.value.trim() || e.key === 'Enter') e.preventDefault();
        take();
      } else if (e.key === 'Backspace' && input.value === '' && values.length) {
        values.pop();
        draw();
        onChange(values);
      }
    });
    input.addEventListener('paste', (e) => {
      const text = e.clipboardData?.getData('text') || '';
      if (/[,\n]/.test(text)) { e.preventDefault(); add(text); }
    });
    input.addEventListener('blur', () => { if (input.value.trim()) take(); });
    wrap.addEventListener('click', (e) => { if (e.target === wrap) input.focus(); });
  }
  draw();
  return wrap;
}

// ---- switch --------------------------------------------------------------

/** An on/off switch button. `onToggle(next)` decides what happens. */
export function switchButton({ on, label, onToggle, disabled = false, testid = 'kill-switch' }) {
  const btn = h('button', {
    type: 'button', role: 'switch', class: `switch${on ? ' on' : ''}`, 'aria-checked': on ? 'true' : 'false',
    'aria-label': label, 'data-testid': testid, disabled,
    onClick: (e) => { e.stopPropagation(); onToggle(!on); },
  }, h('span', { class: 'switch-knob' }), h('span', { class: 'switch-text' }, on ? 'On' : 'Off'));
  return btn;
}

// ---- misc ----------------------------------------------------------------

/** A labelled form field wrapper. */
export function field(labelText, control, hint = null) {
  const id = control.id || nextId();
  control.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id }, labelText),
    control,
    hint && h('div', { class: 'hint' }, hint));
}

/** `<select>` from `[value, label]` pairs. */
export function select(options, value, props = {}) {
  const el = h('select', { class: 'input', ...props });
  for (const [v, label] of options) {
    el.append(h('option', { value: String(v), selected: String(v) === String(value) }, label));
  }
  return el;
}

/** A small trash-can icon for delete buttons. */
export function trashIcon() {
  return s('svg', { viewBox: '0 0 24 24', class: 'icon', 'aria-hidden': 'true' },
    s('path', { d: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));
}

export function empty(text, action = null) {
  return h('div', { class: 'empty' }, h('p', {}, text), action);
}

export function spinner(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spin' }), text);
}
