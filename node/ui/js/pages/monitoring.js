// Monitoring: evaluations per second per flag (with a variation breakdown),
// evaluation errors, SSE subscribers per node, write latency, and stale
// flags. Counts come from every node (SDK reports and server-side
// evaluation), each since that node started.

import { put, h, select, spinner } from '../dom.js';
import { get, getAll } from '../api.js';
import { num, timeEl, fullTime, variationLabel, ago } from '../format.js';
import { stackedBars, lineChart, hBars } from '../charts.js';
import { loadMetrics } from '../metrics.js';

const REFRESH_MS = 5000;
const TOP = 8;
const DAY = 86_400_000;

export async function monitoringPage(ctx) {
  ctx.crumbs('Monitoring');
  ctx.render(spinner());
  const opts = {
    minutes: Number(ctx.query.minutes) || 60,
    flag: ctx.query.flag || '',
    staleDays: Number(ctx.query.stale) || 7,
  };
  let flags = await getAll('/v1/flags', 'flags');

  const windowSel = select([['15', 'Last 15 minutes'], ['30', 'Last 30 minutes'], ['60', 'Last hour']], opts.minutes, { 'aria-label': 'Time window', 'data-testid': 'window' });
  const flagSel = select([], opts.flag, { 'aria-label': 'Flag for the variation breakdown', 'data-testid': 'breakdown-flag' });
  const staleSel = select([['1', '1 day'], ['7', '7 days'], ['14', '14 days'], ['30', '30 days']], opts.staleDays, { 'aria-label': 'Stale after', 'data-testid': 'stale-days' });
  const sync = () => history.replaceState(null, '', `#/monitoring?minutes=${opts.minutes}&flag=${encodeURIComponent(opts.flag)}&stale=${opts.staleDays}`);
  windowSel.addEventListener('change', () => { opts.minutes = Number(windowSel.value); sync(); refresh(); });
  flagSel.addEventListener('change', () => { opts.flag = flagSel.value; sync(); refresh(); });
  staleSel.addEventListener('change', () => { opts.staleDays = Number(staleSel.value); sync(); refresh(); });

  const tiles = h('div', { class: 'tiles', 'data-testid': 'monitor-tiles' });
  const evalBox = h('div');
  const breakdownBox = h('div');
  const errorsBox = h('div');
  const subsBox = h('div');
  const latencyBox = h('div');
  const staleBox = h('div');
  const note = h('p', { class: 'muted small', 'data-testid': 'since-note' });
  const chartCard = (title, testid, controls, box, help) => h('section', { class: 'card', 'data-testid': testid },
    h('div', { class: 'card-head row' }, h('h2', {}, title), controls), help ? h('p', { class: 'muted small' }, help) : null, box);

  ctx.render(h('div', { class: 'page monitoring' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Monitoring'), note), h('div', { class: 'head-actions' }, windowSel)),
    tiles,
    h('div', { class: 'grid-2' },
      chartCard('Evaluations per second, by flag', 'chart-evals', null, evalBox, 'Per-minute averages, stacked by flag (the busiest flags; the rest are summed as “other”).'),
      chartCard('Variation breakdown', 'chart-breakdown', flagSel, breakdownBox, 'Evaluations per second of one flag, stacked by the variation served.'),
      chartCard('Evaluation errors', 'chart-errors', null, errorsBox, 'Evaluations that ended in an error (the caller got its default value), per minute.'),
      chartCard('SSE subscribers per node', 'chart-subscribers', null, subsBox, 'SDKs connected to each node’s change feed right now.'),
      chartCard('Write latency (this node)', 'chart-latency', null, latencyBox, 'Time to commit each write that reached this node, quorum fsync and forwarding included.'),
      chartCard('Stale flags', 'stale', h('label', { class: 'inline' }, 'No evaluations in ', staleSel), staleBox, null))));

  function drawTiles(m, lat) {
    const total1h = Object.values(m.totals1h).reduce((a, b) => a + b, 0);
    // The last full minute plus the current one, over the seconds they span.
    const n = m.labels.length;
    const recent = Object.values(m.perFlag).reduce((a, s) => a + s[n - 1] + (n > 1 ? s[n - 2] : 0), 0);
    const secs = (n > 1 ? 60 : 0) + Math.max(1, (Date.now() - m.labels[n - 1].getTime()) / 1000);
    const perSecNow = recent / secs;
    const errs = m.errors.reduce((a, b) => a + b, 0);
    const subs = m.nodes.reduce((a, n) => a + (n.subscribers || 0), 0);
    const t = (label, value, testid, cls = '') => h('div', { class: `tile ${cls}` }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value', 'data-testid': testid }, value));
    put(tiles, 
      t(`Evaluations (${opts.minutes} min)`, num(total1h), 'tile-evals'),
      t('Evaluations / s now', num(perSecNow, 2), 'tile-rate'),
      t(`Errors (${opts.minutes} min)`, num(errs), 'tile-errors', errs ? 'bad' : ''),
      t('SSE subscribers', num(subs), 'tile-subscribers'),
      t('Write p50 / p99', lat.overall.count ? `${num(lat.overall.p50_ms, 1)} / ${num(lat.overall.p99_ms, 1)} ms` : '—', 'tile-latency'));
  }

  function drawEvals(m) {
    const keys = Object.keys(m.perFlag).sort((a, b) => (m.totals1h[b] || 0) - (m.totals1h[a] || 0));
    const top = keys.slice(0, TOP);
    const rest = keys.slice(TOP);
    const series = top.map((k, i) => ({ label: k, colour: i, values: m.perFlag[k].map((v) => v / 60), total: num(m.totals1h[k] || 0) }));
    if (rest.length) {
      series.push({ label: `other (${rest.length})`, colour: 8, values: m.labels.map((_, i) => rest.reduce((a, k) => a + m.perFlag[k][i], 0) / 60) });
    }
    put(evalBox, stackedBars({ title: 'Evaluations per second by flag', labels: m.labels, series, testid: 'evals-chart' }));
  }

  function drawBreakdown(m) {
    const keys = Object.keys(m.perFlag).sort((a, b) => (m.totals1h[b] || 0) - (m.totals1h[a] || 0));
    const choices = [...new Set([...keys, ...flags.map((f) => f.key)])];
    if (!opts.flag && keys.length) opts.flag = keys[0];
    put(flagSel, ...choices.map((k) => h('option', { value: k, selected: k === opts.flag }, k)));
    const flag = flags.find((f) => f.key === opts.flag);
    const byVar = m.perFlagVariation[opts.flag] || {};
    const series = Object.keys(byVar).sort((a, b) => a - b).map((v) => ({
      label: flag ? variationLabel(flag, Number(v)) : `variation ${v}`, colour: Number(v),
      values: byVar[v].map((x) => x / 60), total: num(byVar[v].reduce((a, b) => a + b, 0)),
    }));
    const errs = m.perFlagErrors[opts.flag];
    if (errs?.some((x) => x > 0)) series.push({ label: 'errors', colour: 4, values: errs.map((x) => x / 60), total: num(errs.reduce((a, b) => a + b, 0)) });
    put(breakdownBox, stackedBars({ title: `Variations served by ${opts.flag || 'a flag'}`, labels: m.labels, series, testid: 'breakdown-chart' }));
  }

  function drawErrors(m) {
    const keys = Object.keys(m.perFlagErrors).filter((k) => m.perFlagErrors[k].some((x) => x > 0));
    const series = keys.slice(0, TOP).map((k, i) => ({ label: k, colour: (i + 4) % 10, values: m.perFlagErrors[k], total: num(m.perFlagErrors[k].reduce((a, b) => a + b, 0)) }));
    put(errorsBox, stackedBars({ title: 'Evaluation errors per minute', labels: m.labels, series, yFormat: (v) => num(v), testid: 'errors-chart', integer: true }));
  }

  function drawSubscribers(m) {
    const rows = m.nodes.map((n) => ({
      label: `node ${n.id}${n.is_leader ? ' ★' : ''}`, value: n.subscribers || 0, colour: n.id % 10,
      note: n.error ? `unreachable: ${n.error}` : undefined,
    }));
    put(subsBox, hBars({ title: 'SSE subscribers per node', rows, testid: 'subscribers-chart' }),
      h('table', { class: 'table compact', 'data-testid': 'subscribers-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', {}, 'Address'), h('th', { class: 'num' }, 'Subscribers'))),
        h('tbody', {}, m.nodes.map((n) => h('tr', { 'data-node': n.id },
          h('td', {}, `node ${n.id}`, n.is_leader ? h('span', { class: 'badge leader' }, '★ leader') : null),
          h('td', { class: 'mono small' }, n.client_addr),
          h('td', { class: 'num', 'data-testid': 'subscribers' }, n.error ? h('span', { class: 'bad small' }, `unreachable (${n.error})`) : num(n.subscribers)))))));
  }

  function drawLatency(lat) {
    const labels = lat.series.map((p) => new Date(p.at));
    const pick = (k) => lat.series.map((p) => (p.count ? p[k] : null));
    const o = lat.overall;
    put(latencyBox, 
      h('div', { class: 'stats', 'data-testid': 'latency-stats' },
        ['p50_ms', 'p90_ms', 'p99_ms', 'max_ms'].map((k) => h('span', { class: 'stat' }, h('span', { class: 'muted' }, k.replace('_ms', '')), ` ${o[k] === null ? '—' : `${num(o[k], 1)} ms`}`)),
        h('span', { class: 'stat' }, h('span', { class: 'muted' }, 'writes'), ` ${num(o.count)}`),
        o.failed ? h('span', { class: 'stat bad' }, h('span', { class: 'muted' }, 'refused'), ` ${num(o.failed)}`) : null),
      lineChart({
        title: 'Write latency per minute', labels, testid: 'latency-chart', yFormat: (v) => `${num(v, 1)} ms`,
        series: [{ label: 'p50', colour: 1, values: pick('p50_ms') }, { label: 'p99', colour: 2, values: pick('p99_ms') }],
      }));
  }

  function drawStale(m) {
    const cutoff = Date.now() - opts.staleDays * DAY;
    const rows = flags.map((f) => {
      const seen = m.lastSeen[f.key];
      const stale = !seen || new Date(seen).getTime() < cutoff;
      return { f, seen, stale };
    }).sort((a, b) => Number(b.stale) - Number(a.stale) || a.f.key.localeCompare(b.f.key));
    const staleCount = rows.filter((r) => r.stale).length;
    put(staleBox, 
      h('p', { class: 'small' }, h('strong', { 'data-testid': 'stale-count' }, `${staleCount} of ${flags.length}`),
        ` flags had no evaluation in the last ${opts.staleDays} day${opts.staleDays === 1 ? '' : 's'}`,
        m.since ? [' (counting since ', h('span', { title: fullTime(m.since) }, ago(m.since)), ', when the longest-running node started).'] : '.'),
      h('div', { class: 'scroll-box' }, h('table', { class: 'table compact', 'data-testid': 'stale-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Flag'), h('th', {}, 'Last evaluation'), h('th', { class: 'num' }, '7 days'), h('th', {}, ''))),
        h('tbody', {}, rows.map(({ f, seen, stale }) => h('tr', { 'data-key': f.key, class: stale ? 'stale' : '' },
          h('td', {}, h('a', { href: `#/flags/${encodeURIComponent(f.key)}?project=default&env=production`, class: 'mono' }, f.key)),
          h('td', {}, seen ? timeEl(seen) : h('span', { class: 'muted' }, 'never')),
          h('td', { class: 'num' }, num(m.totals7d[f.key] || 0)),
          h('td', {}, stale ? h('span', { class: 'badge stale-badge', 'data-testid': 'stale-badge' }, 'stale') : h('span', { class: 'badge ok-badge' }, 'active'))))))));
  }

  async function refresh() {
    const [m, lat, fresh] = await Promise.all([
      loadMetrics(opts.minutes),
      get(`/v1/ui/write-latency?minutes=${opts.minutes}`),
      getAll('/v1/flags', 'flags'),
    ]);
    if (!ctx.alive) return;
    flags = fresh;
    put(note, `Across ${m.nodes.length} node${m.nodes.length === 1 ? '' : 's'}; each counts since it started`,
      m.since ? [' (earliest: ', h('span', { title: fullTime(m.since) }, fullTime(m.since)), ')'] : '', '. Refreshes every 5 s.');
    drawTiles(m, lat);
    drawEvals(m);
    drawBreakdown(m);
    drawErrors(m);
    drawSubscribers(m);
    drawLatency(lat);
    drawStale(m);
    ctx.main.dataset.refreshed = String(Date.now());
  }

  await refresh();
  ctx.every(REFRESH_MS, refresh);
}

