// Environments: compare two environments of a project, preview a promotion
// (refused while the target lacks a segment), promote to production after
// typing its name, and roll the promotion back as a whole.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openPage, visit, navigating, shot, api, uniq, boolFlag } from './harness.mjs';

const project = uniq('ui-proj');
const plain = 'checkout';
const targeted = 'beta-banner';
const base = `/v1/projects/${project}`;

before(async () => {
  await api('POST', '/v1/projects', { key: project, name: 'UI shop' });
  for (const key of [plain, targeted, 'same']) {
    await api('POST', `${base}/flags`, boolFlag(key, { enabled: false }));
  }
  await api('POST', `${base}/environments/staging/flags/${plain}/toggle`, { enabled: true });
  await api('POST', `${base}/environments/staging/segments`, { key: 'beta', included: ['u1'] });
  const cfg = await api('GET', `${base}/environments/staging/flags/${targeted}`);
  cfg.rules = [{ id: 'r1', clauses: [{ attribute: 'key', operator: 'segment_match', values: ['beta'] }], serve: { variation: 0 } }];
  await api('PUT', `${base}/environments/staging/flags/${targeted}`, cfg, { headers: { 'If-Match': `"${cfg.version}"` } });
});

const flagsIn = (page, testid) => page.locator(`[data-testid=${testid}] tr[data-flag]`)
  .evaluateAll((rs) => rs.map((r) => r.dataset.flag));

test('compare two environments, preview and apply a promotion, and roll it back', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, `#/promote?project=${project}&from=staging&to=production`);
  assert.deepEqual(await flagsIn(page, 'compare-table'), [targeted, plain]);

  // The preview names the segment production lacks, and cannot be applied.
  await page.getByTestId('promote-preview').click();
  await page.getByTestId('missing-segments').waitFor();
  assert.match(await page.getByTestId('missing-segments').innerText(), /beta \(flag beta-banner\)/);
  assert.equal(await page.getByTestId('promote-apply').isDisabled(), true);
  const changes = await page.locator(`[data-testid=plan-table] tr[data-flag=${plain}]`).innerText();
  assert.match(changes, /enabled: false → true/);
  await shot(page, 'promote-preview');

  // With the segment in production, the promotion applies, once confirmed.
  await api('POST', `${base}/environments/production/segments`, { key: 'beta', included: ['u1'] });
  await page.getByTestId('promote-preview').click();
  await page.getByTestId('promote-apply').waitFor();
  await page.locator('[data-testid=promote-apply]:not([disabled])').waitFor();
  await page.getByTestId('promote-apply').click();
  await page.getByLabel('Type production to confirm').fill('production');
  await navigating(page, '/promote', () => page.getByTestId('confirm').click());
  assert.deepEqual(await flagsIn(page, 'compare-table'), []);
  const row = page.locator('[data-testid=promotions-table] tr[data-promotion]').first();
  assert.match(await row.innerText(), /staging → production\s+2/);
  const prod = await api('GET', `${base}/environments/production/flags/${plain}`);
  assert.equal(prod.enabled, true);
  await shot(page, 'promote-done');

  // Rolled back as a whole.
  const id = await row.getAttribute('data-promotion');
  await page.getByTestId(`rollback-${id}`).click();
  await navigating(page, '/promote', () => page.getByTestId('confirm').click());
  assert.deepEqual(await flagsIn(page, 'compare-table'), [targeted, plain]);
  assert.match(await page.locator(`tr[data-promotion="${id}"]`).innerText(), /rolled back/);
  assert.equal((await api('GET', `${base}/environments/production/flags/${plain}`)).enabled, false);
  check();
});
