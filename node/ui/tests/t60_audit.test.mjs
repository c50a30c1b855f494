// The audit log: filter by flag, actor, action and time; each entry shows a
// before/after diff.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openPage, visit, navigating, shot, api, uniq, boolFlag, makeToken } from './harness.mjs';

const key = uniq('audited');
let editor;

before(async () => {
  editor = await makeToken('editor');
  await api('POST', '/v1/flags', boolFlag(key, { name: 'Before rename' }));
  const f = await api('GET', `/v1/flags/${key}`);
  await api('PUT', `/v1/flags/${key}`, { ...f, name: 'Renamed by editor' }, { token: editor.secret, headers: { 'If-Match': '"1"' } });
  await api('POST', `/v1/flags/${key}/toggle`, { enabled: false });
  await api('POST', '/v1/flags', boolFlag(uniq('other')));
});

/** `[action, actor, target]` of each row shown. */
const rows = (page) => page.locator('[data-testid=audit-table] tr[data-entry]').evaluateAll((rs) => rs.map((r) => {
  const cells = r.querySelectorAll('td');
  return [r.dataset.action, cells[1].innerText, cells[3].innerText];
}));

/** A `datetime-local` value `hours` from now. */
function local(hours) {
  const d = new Date(Date.now() + hours * 3_600_000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

test('filter the audit log by flag, actor, action and time; see each change as a diff', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, '#/audit');
  const filter = () => page.getByTestId('audit-apply').click();

  await page.getByTestId('audit-flag').fill(key);
  await navigating(page, '/audit', filter);
  assert.deepEqual(await rows(page), [
    ['flag.toggle', 'admin', `flag:${key}`],
    ['flag.update', editor.name, `flag:${key}`],
    ['flag.create', 'admin', `flag:${key}`],
  ]);
  assert.equal(await page.getByTestId('audit-flag').inputValue(), key);

  await page.getByTestId('audit-actor').fill(editor.name);
  await navigating(page, '/audit', filter);
  assert.deepEqual(await rows(page), [['flag.update', editor.name, `flag:${key}`]]);

  // Each entry expands to its before/after diff.
  const entry = page.locator('[data-testid=audit-table] tr[data-entry]').first();
  await entry.getByTestId('show-diff').click();
  const diff = page.locator('tr.detail:not([hidden])').getByTestId('diff');
  await diff.waitFor();
  assert.match(await diff.innerText(), /-\s+"name": "Before rename"[\s\S]*\+\s+"name": "Renamed by editor"/);
  await shot(page, 'audit');

  await page.getByTestId('audit-actor').fill('');
  await navigating(page, '/audit', () => page.getByTestId('audit-action').selectOption('flag.toggle'));
  assert.deepEqual(await rows(page), [['flag.toggle', 'admin', `flag:${key}`]]);

  // Time: nothing since tomorrow, nothing until yesterday, all three around now.
  // Choosing an action applies the filter at once (a navigation of its own).
  await navigating(page, '/audit', () => page.getByTestId('audit-action').selectOption(''));
  await page.getByTestId('audit-since').fill(local(24));
  await navigating(page, '/audit', filter);
  assert.deepEqual(await rows(page), []);
  await page.getByText('No audit entries match these filters.').waitFor();

  await page.getByTestId('audit-since').fill('');
  await page.getByTestId('audit-until').fill(local(-24));
  await navigating(page, '/audit', filter);
  assert.deepEqual(await rows(page), []);

  await page.getByTestId('audit-since').fill(local(-1));
  await page.getByTestId('audit-until').fill(local(1));
  await navigating(page, '/audit', filter);
  assert.equal((await rows(page)).length, 3);
  assert.match(page.url(), /since=.*until=/);
  check();
});

test('a flag page links to its audit entries', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  await navigating(page, '/audit', () => page.getByRole('link', { name: 'Audit log' }).last().click());
  assert.equal((await rows(page)).length, 3);
  check();
});
