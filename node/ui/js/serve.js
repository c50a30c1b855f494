// What a rule or the default rule serves: one variation, or a percentage
// rollout with a slider and a number per variation that must total 100%.

import { put, h, select } from './dom.js';
import { variationLabel } from './format.js';

const FULL = 100_000; // weights are thousandths of a percent

export function rolloutTotal(serve) {
  return serve.rollout ? serve.rollout.variations.reduce((a, v) => a + (v.weight || 0), 0) : FULL;
}

/** Every rollout in a flag with its path, for the save button's check. */
export function rollouts(flag) {
  const out = [];
  flag.rules.forEach((r, i) => { if (r.serve.rollout) out.push([`rules[${i}].serve`, r.serve]); });
  if (flag.fallthrough.rollout) out.push(['fallthrough', flag.fallthrough]);
  return out;
}

function pct(weight) {
  return Math.round(weight) / 1000;
}

/**
 * The editor for `holder[key]` (a Serve). Switching to a rollout starts with
 * everything on the variation that was served.
 */
export function serveEditor({ holder, key, flag, path, readonly, onChange, label = 'Serve' }) {
  const box = h('div', { class: 'serve', 'data-field': path });
  const draw = () => {
    const serve = holder[key];
    const isRollout = !!serve.rollout;
    const options = flag.variations.map((_, i) => [String(i), variationLabel(flag, i)]);
    options.push(['rollout', 'a percentage rollout']);
    const pick = select(options, isRollout ? 'rollout' : String(serve.variation), {
      'aria-label': label, 'data-testid': 'serve-select', disabled: readonly, 'data-field': `${path}.variation`,
      onChange: (e) => {
        const v = e.target.value;
        if (v === 'rollout') {
          const start = isRollout ? 0 : serve.variation;
          holder[key] = {
            rollout: {
              variations: flag.variations.map((_, i) => ({ variation: i, weight: i === start ? FULL : 0 })),
              bucket_by: 'key',
            },
          };
        } else {
          holder[key] = { variation: Number(v) };
        }
        draw();
        onChange(true);
      },
    });
    put(box, h('div', { class: 'serve-line' }, h('span', { class: 'serve-label' }, label), pick));
    if (isRollout) box.append(rolloutEditor(serve.rollout, flag, `${path}.rollout`, readonly, onChange));
  };
  draw();
  return box;
}

function rolloutEditor(rollout, flag, path, readonly, onChange) {
  // One slice per variation, in variation order, so every variation has a row.
  const byVar = new Map(rollout.variations.map((wv) => [wv.variation, wv]));
  flag.variations.forEach((_, i) => {
    if (!byVar.has(i)) { const wv = { variation: i, weight: 0 }; rollout.variations.push(wv); byVar.set(i, wv); }
  });
  rollout.variations.sort((a, b) => a.variation - b.variation);
  const total = h('div', { class: 'rollout-total', 'data-testid': 'rollout-total', 'aria-live': 'polite' });
  const showTotal = () => {
    const t = rollout.variations.reduce((a, v) => a + v.weight, 0);
    total.className = `rollout-total ${t === FULL ? 'ok' : 'bad'}`;
    total.textContent = t === FULL ? 'Total 100%' : `Total ${pct(t)}% — weights must total 100%`;
  };
  const rows = rollout.variations.map((wv, k) => {
    const slider = h('input', {
      type: 'range', min: 0, max: 100, step: 0.1, value: pct(wv.weight), class: 'slider', disabled: readonly,
      'aria-label': `Weight of ${variationLabel(flag, wv.variation)} (slider)`,
    });
    const number = h('input', {
      type: 'number', min: 0, max: 100, step: 0.001, value: pct(wv.weight), class: 'input pct', disabled: readonly,
      'aria-label': `Weight of ${variationLabel(flag, wv.variation)} in percent`, 'data-testid': `weight-${wv.variation}`,
      'data-field': `${path}.variations[${k}].weight`,
    });
    const set = (v, from) => {
      const p = Math.min(100, Math.max(0, Number(v) || 0));
      wv.weight = Math.round(p * 1000);
      if (from !== slider) slider.value = String(pct(wv.weight));
      if (from !== number) number.value = String(pct(wv.weight));
      showTotal();
      onChange();
    };
    slider.addEventListener('input', () => set(slider.value, slider));
    number.addEventListener('input', () => set(number.value, number));
    return h('div', { class: 'rollout-row' },
      h('span', { class: 'var-tag' }, h('span', { class: `dot c${wv.variation % 10}` }), variationLabel(flag, wv.variation)),
      slider, h('span', { class: 'pct-box' }, number, '%'));
  });
  const bucket = h('input', {
    class: 'input mono small-input', value: rollout.bucket_by, disabled: readonly, 'aria-label': 'Bucket by attribute',
    list: 'attr-suggestions', 'data-field': `${path}.bucket_by`,
    onInput: (e) => { rollout.bucket_by = e.target.value.trim(); onChange(); },
  });
  showTotal();
  return h('div', { class: 'rollout', 'data-field': `${path}.variations` },
    rows, total,
    h('div', { class: 'serve-line small' }, h('span', { class: 'muted' }, 'Bucket contexts by'), bucket,
      h('span', { class: 'muted' }, ' (the same value always lands in the same slice)')));
}
