// History: every version, a diff between any two, one-click rollback with a
// confirmation; deleting a flag and restoring it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage, visit, ready, shot, api, uniq, boolFlag } from './harness.mjs';

async function update(key, change) {
  const f = await api('GET', `/v1/flags/${key}`);
  return api('PUT', `/v1/flags/${key}`, { ...f, ...change }, { headers: { 'If-Match': `"${f.version}"` } });
}

test('every version is listed, any two can be compared, and rollback asks first', async (t) => {
  const key = uniq('hist');
  await api('POST', '/v1/flags', boolFlag(key, { name: 'First name' }));
  await update(key, { name: 'Second name' });
  await api('POST', `/v1/flags/${key}/toggle`, { enabled: false });
  await update(key, { name: 'Third name', tags: ['late'] });

  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('history-tab').click();
  await ready(page, `/flags/${key}/history`);
  const rows = page.getByTestId('versions').locator('tbody tr');
  assert.equal(await rows.count(), 4);
  assert.deepEqual(await rows.evaluateAll((rs) => rs.map((r) => r.dataset.version)), ['4', '3', '2', '1']);
  assert.match(await rows.nth(3).innerText(), /flag\.create[\s\S]*admin/);
  assert.match(await rows.nth(1).innerText(), /flag\.toggle/);

  // Default: the latest against the one before.
  const diff = page.getByTestId('diff-box');
  await diff.getByText('Changes from version 3 to version 4').waitFor();
  assert.match(await diff.innerText(), /\+\s+"name": "Third name"/);

  // Any two: 1 and 2.
  await page.getByTestId('cmp-a-1').check();
  await page.getByTestId('cmp-b-2').check();
  await diff.getByText('Changes from version 1 to version 2').waitFor();
  const text = await diff.getByTestId('diff').innerText();
  assert.match(text, /-\s+"name": "First name"/);
  assert.match(text, /\+\s+"name": "Second name"/);
  assert.doesNotMatch(text, /"enabled"/);
  await shot(page, 'history');

  // Roll back to version 1: cancel first, then confirm.
  await page.getByTestId('rollback-1').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Roll back ${key} to version 1?`).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await api('GET', `/v1/flags/${key}`)).version, 4);
  await page.getByTestId('rollback-1').click();
  await dialog.getByRole('button', { name: 'Roll back to version 1' }).click();
  await page.locator('tr[data-version="5"]').getByText('flag.rollback').waitFor();
  const f = await api('GET', `/v1/flags/${key}`);
  assert.equal(f.name, 'First name');
  assert.equal(f.enabled, true);
  assert.deepEqual(f.tags, []);
  check();
});

test('delete a flag, find it among recently deleted, and restore it', async (t) => {
  const key = uniq('gone');
  await api('POST', '/v1/flags', boolFlag(key, { name: 'Short lived', tags: ['tmp'] }));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('delete-flag').click();
  const dialog = page.getByRole('dialog');
  const confirm = dialog.getByRole('button', { name: `Delete ${key}` });
  assert.equal(await confirm.isDisabled(), true);
  await dialog.getByLabel(`Type ${key} to confirm`).fill(key);
  await confirm.click();
  await ready(page, '/flags');
  await api('GET', `/v1/flags/${key}`, undefined, { expect: 404 });

  const deleted = page.getByTestId('deleted-flags');
  await deleted.locator('summary').click();
  await deleted.getByRole('link', { name: key }).click();
  await ready(page, `/flags/${key}/history`);
  const banner = page.getByTestId('deleted-banner');
  assert.match(await banner.innerText(), /This flag was deleted by admin/);
  await shot(page, 'history-deleted');
  await banner.getByTestId('restore').click();
  await dialog.getByRole('button', { name: `Restore ${key}` }).click();
  await page.locator('tr[data-version="3"]').getByText('flag.restore').waitFor();
  const f = await api('GET', `/v1/flags/${key}`);
  assert.equal(f.name, 'Short lived');
  assert.deepEqual(f.tags, ['tmp']);
  check();
});
