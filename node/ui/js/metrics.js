// Evaluation counts from every node (`GET /v1/ui/nodes`), summed into one
// per-minute timeline. Each node counts what reached it (SDK reports and
// server-side evaluation) since it started.

import { get } from './api.js';

const MINUTE = 60_000;

/**
 * `{labels, perFlag, perFlagVariation, perFlagErrors, errors, totals1h,
 *   totals7d, lastSeen, since, nodes}` for the last `minutes` minutes.
 */
export async function loadMetrics(minutes = 60) {
  const r = await get(`/v1/ui/nodes?minutes=${minutes}`);
  const end = Math.floor(Date.now() / MINUTE) * MINUTE;
  const labels = [];
  for (let i = minutes - 1; i >= 0; i -= 1) labels.push(new Date(end - i * MINUTE));
  const slot = (at) => {
    const i = minutes - 1 - Math.round((end - Math.floor(new Date(at).getTime() / MINUTE) * MINUTE) / MINUTE);
    return i >= 0 && i < minutes ? i : -1;
  };
  const zeros = () => new Array(minutes).fill(0);
  const perFlag = {};
  const perFlagVariation = {};
  const perFlagErrors = {};
  const errors = zeros();
  const totals1h = {};
  const totals7d = {};
  const lastSeen = {};
  let since = null;
  for (const node of r.nodes) {
    const m = node.metrics;
    if (!m) continue;
    if (!since || m.since < since) since = m.since;
    for (const [k, v] of Object.entries(m.totals_7d || {})) totals7d[k] = (totals7d[k] || 0) + v;
    for (const [k, t] of Object.entries(m.last_seen || {})) if (!lastSeen[k] || t > lastSeen[k]) lastSeen[k] = t;
    for (const minute of m.series || []) {
      const i = slot(minute.at);
      if (i < 0) continue;
      for (const [key, c] of Object.entries(minute.flags)) {
        perFlag[key] ??= zeros();
        perFlagVariation[key] ??= {};
        perFlagErrors[key] ??= zeros();
        for (const [v, n] of Object.entries(c.variations || {})) {
          perFlagVariation[key][v] ??= zeros();
          perFlagVariation[key][v][i] += n;
          perFlag[key][i] += n;
          totals1h[key] = (totals1h[key] || 0) + n;
        }
        const errs = c.errors || 0;
        perFlagErrors[key][i] += errs;
        perFlag[key][i] += errs;
        totals1h[key] = (totals1h[key] || 0) + errs;
        errors[i] += errs;
      }
    }
  }
  return { labels, perFlag, perFlagVariation, perFlagErrors, errors, totals1h, totals7d, lastSeen, since, nodes: r.nodes, servedBy: r.node };
}
