// A node that stops answering: the cluster page marks it unreachable (the
// others stay healthy) and the monitoring page reports it instead of
// failing. Runs last: it kills a follower of the cluster under test.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODES, openPage, visit, shot, api, WAIT } from './harness.mjs';

test('a killed follower shows as unreachable on the cluster and monitoring pages', async (t) => {
  const { leader } = await api('GET', '/v1/cluster');
  const victim = NODES.find((n) => n.id !== NODES[0].id && n.id !== leader && n.pid);
  if (!victim) {
    t.skip('needs a cluster of three nodes with known process ids (scripts/test.d/20-ui.sh)');
    return;
  }
  process.kill(victim.pid, 'SIGKILL');

  const { page, check } = await openPage(t);
  await visit(page, '#/cluster');
  const row = page.locator(`tr[data-node="${victim.id}"]`);
  await row.locator('[data-testid=health]', { hasText: 'unreachable' }).waitFor({ timeout: WAIT });
  assert.match(await row.getAttribute('class'), /unhealthy/);
  assert.match(await page.getByTestId('healthy').innerText(), new RegExp(`${NODES.length - 1} of ${NODES.length}`));
  await page.locator(`tr[data-node="${leader}"].leader-row`).waitFor();
  await shot(page, 'cluster-node-down');

  await visit(page, '#/monitoring');
  const sub = page.getByTestId('subscribers-table').locator(`tr[data-node="${victim.id}"]`);
  assert.match(await sub.innerText(), /unreachable|error|refused|no answer/i);
  check();
});
