// Segments: the list, the editor (included and excluded keys, rules), which
// flags use each segment, and a delete refused while a flag uses it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage, visit, ready, navigating, shot, api, uniq, boolFlag, saveChanges } from './harness.mjs';

test('create a segment, edit its keys and rules, see the flags that use it', async (t) => {
  const p = uniq('seg');
  const key = `vip-${p}`;
  const flag = `${p}-perks`;
  const { page, check } = await openPage(t, { allow: [{ status: 409, url: new RegExp(`/v1/segments/${key}$`) }] });
  await visit(page, '#/segments');
  await page.getByTestId('new-segment').click();
  await ready(page, '/new/segment');
  await page.getByLabel('Name').fill(`VIP ${p}`);
  assert.equal(await page.getByLabel('Key').inputValue(), key);
  await page.getByRole('button', { name: 'Create segment' }).click();
  await ready(page, `/segments/${key}`);

  const included = page.getByTestId('included').getByLabel('Included keys');
  await included.fill('alice, bob');
  await included.press('Enter');
  const excluded = page.getByTestId('excluded').getByLabel('Excluded keys');
  await excluded.fill('mallory');
  await excluded.press('Enter');
  await page.getByTestId('add-rule').click();
  const rule = page.getByTestId('rule').nth(0);
  await rule.getByLabel('Attribute').fill('plan');
  const ops = await rule.getByTestId('operator').locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(!ops.includes('segment_match'), 'segment rules cannot reference segments');
  assert.equal(ops.length, 15);
  await rule.getByTestId('operator').selectOption('in');
  await rule.getByLabel('Values').fill('gold');
  await rule.getByLabel('Values').press('Enter');
  await page.getByTestId('used-by').getByText('No flag uses this segment yet.').waitFor();
  const saved = page.waitForResponse((r) => r.url().endsWith(`/v1/segments/${key}`) && r.request().method() === 'PUT');
  await saveChanges(page);
  assert.equal((await saved).status(), 200);
  await page.getByTestId('segment-version').getByText('2').waitFor();
  const sg = await api('GET', `/v1/segments/${key}`);
  assert.deepEqual(sg.included, ['alice', 'bob']);
  assert.deepEqual(sg.excluded, ['mallory']);
  assert.deepEqual(sg.rules[0].clauses, [{ attribute: 'plan', operator: 'in', values: ['gold'], negate: false, case_insensitive: false }]);
  await shot(page, 'segment');

  // Its history has both versions.
  await navigating(page, `/segments/${key}/history`, () => page.getByRole('link', { name: 'History' }).click());
  assert.deepEqual(await page.getByTestId('versions').locator('tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.version)), ['2', '1']);
  assert.match(await page.getByTestId('diff-box').innerText(), /\+\s+"mallory"/);

  // A flag starts using it: the list and the editor both say so.
  await api('POST', '/v1/flags', boolFlag(flag, {
    rules: [{ id: 'vip', clauses: [{ attribute: 'key', operator: 'segment_match', values: [key] }], serve: { variation: 0 } }],
  }));
  await visit(page, '#/segments');
  const row = page.locator(`tr[data-key="${key}"]`);
  assert.match(await row.getByTestId('used-by').innerText(), new RegExp(flag));
  assert.match(await row.innerText(), /VIP[\s\S]*\b2\b[\s\S]*\b1\b[\s\S]*\b1\b/);
  await shot(page, 'segments');
  await row.click();
  await ready(page, `/segments/${key}`);
  await page.getByTestId('used-by').getByRole('link', { name: flag }).waitFor();

  // Deleting it is refused, naming the flag.
  await page.getByTestId('delete-segment').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(`Type ${key} to confirm`).fill(key);
  await dialog.getByRole('button', { name: `Delete ${key}` }).click();
  const err = page.getByTestId('delete-error');
  await err.waitFor();
  assert.match(await err.innerText(), new RegExp(`used by.*${flag}`));
  await api('GET', `/v1/segments/${key}`);

  // Its flag link leads to the flag.
  await page.getByTestId('used-by').getByRole('link', { name: flag }).click();
  await ready(page, `/flags/${flag}`);
  check();
});
