// The kill switch, shared by the flags list and the flag page: a confirmation
// that names the flag and the environment and says what everyone there will
// get, then the toggle.

import { h, confirmDialog, toast } from '../dom.js';
import { api, explain } from '../api.js';
import { variationLabel } from '../format.js';
import { scope, paths, environments, isProduction } from '../scope.js';

/** Asks, then flips `flag`. Resolves to the updated flag, or null. */
export async function confirmToggle(flag) {
  const turnOn = !flag.enabled;
  // With one environment there is nothing to name; with several, say which.
  const where = environments().length > 1 ? ` in ${scope.env}` : '';
  const ok = await confirmDialog({
    title: `Turn ${turnOn ? 'on' : 'off'} ${flag.key}${where}?`,
    body: [turnOn
      ? h('p', {}, 'Targeting for ', h('strong', {}, flag.name || flag.key), ' (', h('code', {}, flag.key),
        `) takes effect at once for every SDK and evaluation${where}.`)
      : h('p', {}, `Every context${where} will get the off variation, `, h('strong', {}, variationLabel(flag, flag.off_variation)),
        ', from ', h('strong', {}, flag.name || flag.key), ' (', h('code', {}, flag.key), '), at once.'),
    isProduction() ? h('p', { class: 'warn-text', 'data-testid': 'production-note' }, `${scope.env} is a production environment.`) : null],
    confirmLabel: turnOn ? `Turn on ${flag.key}` : `Turn off ${flag.key}`,
    danger: !turnOn,
  });
  if (!ok) return null;
  try {
    const updated = await api('POST', `${paths.flag(flag.key)}/toggle`, { body: { enabled: turnOn } });
    toast(`${flag.key} is now ${updated.enabled ? 'on' : 'off'}`);
    return updated;
  } catch (e) {
    toast(explain(e), 'error', 8000);
    return null;
  }
}
