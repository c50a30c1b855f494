// The cluster page (roles, term, indexes, lag, health; the leader
// highlighted; live refresh) and the monitoring page (evaluations per flag
// with a variation breakdown, errors, SSE subscribers per node, write
// latency, stale flags).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN, NODES, openPage, visit, shot, api, uniq, boolFlag, makeToken, WAIT } from './harness.mjs';

test('the cluster page shows each node, highlights the leader and refreshes live', async (t) => {
  const { leader, members } = await api('GET', '/v1/cluster');
  const { page, check } = await openPage(t);
  await visit(page, '#/cluster');
  const rows = page.getByTestId('cluster-table').locator('tr[data-node]');
  assert.equal(await rows.count(), NODES.length);
  assert.equal(await page.locator('tr.leader-row').count(), 1);
  const lead = page.locator(`tr[data-node="${leader}"]`);
  assert.match(await lead.getAttribute('class'), /leader-row/);
  await lead.getByTestId('leader-badge').waitFor();
  assert.match(await page.getByTestId('leader').innerText(), new RegExp(`node ${leader}`));
  assert.ok(Number(await page.getByTestId('term').innerText()) >= 1);
  for (const m of members) {
    const row = page.locator(`tr[data-node="${m.id}"]`);
    assert.equal(await row.getByTestId('health').innerText(), 'healthy');
    assert.match(await row.innerText(), m.id === leader ? /leader/ : /follower/);
    assert.match(await row.innerText(), new RegExp(m.client_addr.replace(/\./g, '\\.')));
  }
  assert.match(await page.getByTestId('healthy').innerText(), new RegExp(`${NODES.length} of ${NODES.length}`));
  const row = page.locator('tr[data-node="1"]');
  const applied = Number((await row.getByTestId('applied').innerText()).replace(/\D/g, ''));
  assert.ok(applied > 0);
  await shot(page, 'cluster');

  // A write shows up on every row without a reload.
  await api('POST', '/v1/flags', boolFlag(uniq('tick')));
  await page.waitForFunction(([before, n]) => {
    const cells = [...document.querySelectorAll('tr[data-node] [data-testid=applied]')];
    return cells.length === n && cells.every((c) => Number(c.textContent.replace(/\D/g, '')) > before);
  }, [applied, NODES.length], { timeout: WAIT });
  check();
});

test('an admin makes a follower the leader; a viewer gets no such button', async (t) => {
  const { leader, members } = await api('GET', '/v1/cluster');
  const target = members.find((m) => m.id !== leader && m.role === 'voter').id;
  const { page, check } = await openPage(t);
  await visit(page, '#/cluster');
  const row = page.locator(`tr[data-node="${target}"]`);
  await row.getByTestId('make-leader').waitFor();
  assert.equal(await page.locator(`tr[data-node="${leader}"]`).getByTestId('make-leader').count(), 0, 'none on the leader row');
  await row.getByTestId('make-leader').click();
  const dialog = page.getByRole('dialog', { name: `Make node ${target} the leader?` });
  await dialog.getByTestId('confirm').click();
  await row.getByTestId('leader-badge').waitFor();
  assert.match(await page.getByTestId('leader').innerText(), new RegExp(`node ${target}`));
  // Once it answered, the old leader can take it back: its button is live.
  await page.getByText(`Node ${target} leads`).waitFor();
  assert.ok(await page.locator(`tr[data-node="${leader}"]`).getByTestId('make-leader').isEnabled());
  assert.equal((await api('GET', '/v1/cluster')).leader, target);
  await shot(page, 'cluster-leader-moved');
  check();

  const viewer = await makeToken('viewer');
  const seen = await openPage(t, { token: viewer.secret });
  await visit(seen.page, '#/cluster');
  await seen.page.locator(`tr[data-node="${target}"]`).getByTestId('leader-badge').waitFor();
  assert.equal(await seen.page.getByTestId('make-leader').count(), 0);
  seen.check();
});

test('monitoring: evaluations by flag and variation, errors, subscribers, write latency, stale flags', async (t) => {
  const p = uniq('mon');
  const busy = `${p}-busy`;
  const idle = `${p}-idle`;
  await api('POST', '/v1/flags', boolFlag(busy, { variations: [{ value: true, name: 'treatment' }, { value: false, name: 'control' }] }));
  // Server-side evaluation counts too (every flag for one context: busy serves treatment).
  await api('POST', '/v1/evaluate', { context: { key: 'server-side-user' } });
  await api('POST', '/v1/flags', boolFlag(idle));
  const sdk = await makeToken('sdk');
  // SDKs report to whichever node they use: split the counts over the
  // first and the last node; the page (served by the first) sums them.
  const first = NODES[0];
  const last = NODES[NODES.length - 1];
  const report = async (node, counts) => {
    // A linearizable read first, so this node has applied the new flag.
    const seen = await fetch(`${node.url}/v1/flags/${busy}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
    assert.equal(seen.status, 200);
    const r = await fetch(`${node.url}/v1/sdk/metrics`, {
      method: 'POST', headers: { Authorization: `Bearer ${sdk.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ flags: { [busy]: counts } }),
    });
    assert.ok(r.ok);
    assert.equal((await r.json()).accepted.ignored, 0);
  };
  await report(first, { variations: { 0: 60, 1: 10 }, errors: 1 });
  await report(last, { variations: { 0: 30, 1: 20 }, errors: 2 });
  // An SDK connected to the last node's change feed while the page is open.
  const stream = new AbortController();
  const resp = await fetch(`${last.url}/v1/stream`, { headers: { Authorization: `Bearer ${sdk.secret}` }, signal: stream.signal });
  assert.equal(resp.status, 200);
  t.after(() => stream.abort());

  const { page, check } = await openPage(t);
  await visit(page, `#/monitoring?flag=${busy}`);

  assert.ok(Number((await page.getByTestId('tile-evals').innerText()).replace(/\D/g, '')) >= 124);
  assert.ok(Number((await page.getByTestId('tile-subscribers').innerText()).replace(/\D/g, '')) >= 1);
  assert.match(await page.getByTestId('tile-latency').innerText(), /ms/);

  const evals = page.getByTestId('evals-chart');
  assert.match(await evals.locator('.legend').innerText(), new RegExp(`${busy}\\s+124`));
  assert.ok(await evals.locator('rect.fill').count() > 0);

  const breakdown = page.getByTestId('breakdown-chart');
  assert.equal(await page.getByTestId('breakdown-flag').inputValue(), busy);
  const legend = await breakdown.locator('.legend').innerText();
  assert.match(legend, /treatment \(true\)\s+91/);
  assert.match(legend, /control \(false\)\s+30/);
  assert.match(legend, /errors\s+3/);

  assert.match(await page.getByTestId('errors-chart').locator('.legend').innerText(), new RegExp(`${busy}\\s+3`));

  const subs = page.getByTestId('subscribers-table').locator('tr[data-node]');
  assert.equal(await subs.count(), NODES.length);
  const onLast = page.getByTestId('subscribers-table').locator(`tr[data-node="${last.id}"]`);
  assert.ok(Number(await onLast.getByTestId('subscribers').innerText()) >= 1);
  const bars = await page.getByTestId('subscribers-chart').locator('rect.fill').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('width'))));
  assert.equal(bars.length, NODES.length);
  assert.ok(bars[bars.length - 1] > 0);

  const latency = await page.getByTestId('latency-stats').innerText();
  assert.match(latency, /p50 \d+(\.\d+)? ms/);
  assert.match(latency, /p99 \d+(\.\d+)? ms/);
  assert.ok(await page.getByTestId('latency-chart').locator('circle').count() > 0);

  const stale = page.getByTestId('stale-table');
  await stale.locator(`tr[data-key="${idle}"]`).getByTestId('stale-badge').waitFor();
  assert.match(await stale.locator(`tr[data-key="${idle}"]`).innerText(), /never/);
  assert.match(await stale.locator(`tr[data-key="${busy}"]`).innerText(), /active/);
  await shot(page, 'monitoring', { fullPage: true });

  // The flags list shows the same hour's evaluations.
  await visit(page, `#/flags?q=${p}`);
  assert.equal(await page.locator(`tr[data-key="${busy}"]`).getByTestId('evals-1h').innerText(), '124');
  assert.equal(await page.locator(`tr[data-key="${idle}"]`).getByTestId('evals-1h').innerText(), '0');
  check();
});
