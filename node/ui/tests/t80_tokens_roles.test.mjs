// Tokens (admin): create with the secret shown once, list, revoke. Roles: a
// viewer sees no edit controls; a forbidden page says which role it needs.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { BASE, openPage, visit, ready, navigating, shot, api, uniq, boolFlag, makeToken } from './harness.mjs';

const p = uniq('roles');
const flag = `${p}-flag`;
const segment = `${p}-seg`;

before(async () => {
  await api('POST', '/v1/segments', { key: segment, included: ['a'], rules: [{ id: 'r', clauses: [{ attribute: 'plan', operator: 'in', values: ['gold'] }] }] });
  await api('POST', '/v1/flags', boolFlag(flag, {
    rules: [{ id: 'r1', clauses: [{ attribute: 'country', operator: 'in', values: ['NZ'] }], serve: { variation: 1 } }],
    targets: [{ variation: 0, values: ['qa'] }],
  }));
  const f = await api('GET', `/v1/flags/${flag}`);
  await api('PUT', `/v1/flags/${flag}`, { ...f, name: 'Renamed' }, { headers: { 'If-Match': '"1"' } });
});

const me = async (secret, expect = 200) => {
  const r = await fetch(`${BASE}/v1/me`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(r.status, expect);
  return r.status === 200 ? r.json() : null;
};

test('an admin creates a token and sees its secret once, lists it, and revokes it', async (t) => {
  const name = uniq('ci-deploy');
  const { page, check } = await openPage(t, { allow: [{ status: 409, url: /\/v1\/tokens\/admin$/ }] });
  await visit(page, '#/tokens');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Role').selectOption('editor');
  await page.getByTestId('create-token').click();
  const panel = page.getByTestId('secret-panel');
  await panel.waitFor();
  assert.match(await panel.innerText(), /shown only this once/);
  const secret = await panel.getByTestId('secret').inputValue();
  assert.match(secret, /^vxl_editor_[0-9a-f]{64}$/);
  assert.deepEqual(await me(secret), { name, role: 'editor' });
  const row = page.locator(`tr[data-token="${name}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /editor[\s\S]*admin/);
  await shot(page, 'tokens');

  // Leaving and coming back: the secret is gone for good.
  await visit(page, '#/flags');
  await visit(page, '#/tokens');
  assert.equal(await page.getByTestId('secret-panel').count(), 0);
  assert.equal(await page.content().then((html) => html.includes(secret)), false);

  await row.getByTestId(`revoke-${name}`).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Revoke ${name}?`).waitFor();
  await dialog.getByRole('button', { name: `Revoke ${name}` }).click();
  await row.waitFor({ state: 'detached' });
  await me(secret, 401);

  // The last admin token cannot go (only tried when it is the only one).
  const admins = (await api('GET', '/v1/tokens')).tokens.filter((x) => x.role === 'admin');
  if (admins.length === 1 && admins[0].name === 'admin') {
    await page.locator('tr[data-token="admin"]').getByTestId('revoke-admin').click();
    await dialog.getByText('the token you are signed in with').waitFor();
    await dialog.getByRole('button', { name: 'Revoke admin' }).click();
    await page.getByTestId('token-error').getByText('last admin token cannot be revoked').waitFor();
  }
  check();
});

test('a viewer sees no edit controls anywhere, and Tokens says it needs admin', async (t) => {
  const viewer = await makeToken('viewer');
  const { page, check } = await openPage(t, { token: viewer.secret, allow: [{ status: 403, url: /\/v1\/tokens$/ }] });
  await visit(page, '#/flags');
  await page.locator(`tr[data-key="${flag}"]`).first().waitFor();
  assert.equal(await page.getByTestId('new-flag').count(), 0);
  assert.equal(await page.getByRole('switch').count(), 0);
  assert.match(await page.locator(`tr[data-key="${flag}"] .pill`).innerText(), /On/);

  await visit(page, `#/flags/${flag}`);
  assert.equal(await page.getByTestId('kill-switch').count(), 0);
  assert.equal(await page.getByTestId('flag-state').innerText(), 'On');
  for (const id of ['add-rule', 'add-clause', 'add-prerequisite', 'add-variation', 'delete-flag', 'save', 'rule-up', 'rule-delete']) {
    assert.equal(await page.getByTestId(id).count(), 0, `${id} is hidden from viewers`);
  }
  assert.equal(await page.locator('.chip-x').count(), 0);
  assert.equal(await page.locator('.chip-input').count(), 0);
  assert.equal(await page.locator('fieldset.cards').evaluate((f) => f.disabled), true);
  await page.getByText('qa', { exact: true }).waitFor();
  // Viewers can still test the flag.
  await page.getByTestId('evaluate').click();
  await page.getByTestId('test-reason').waitFor();
  await shot(page, 'flag-viewer');

  await navigating(page, `/flags/${flag}/history`, () => page.getByTestId('history-tab').click());
  assert.equal(await page.locator('[data-testid^=rollback-]').count(), 0);

  await visit(page, '#/segments');
  assert.equal(await page.getByTestId('new-segment').count(), 0);
  await visit(page, `#/segments/${segment}`);
  assert.equal(await page.getByTestId('add-rule').count(), 0);
  assert.equal(await page.getByTestId('delete-segment').count(), 0);

  await visit(page, '#/new/flag');
  await page.getByText('Creating flags needs the editor role').waitFor();

  await visit(page, '#/tokens');
  const forbidden = page.getByTestId('forbidden');
  assert.match(await forbidden.innerText(), /needs the admin role/);
  assert.match(await forbidden.innerText(), new RegExp(`signed in as ${viewer.name} with the viewer role`));
  assert.match(await forbidden.innerText(), /admin role or higher/);
  await shot(page, 'tokens-forbidden');

  // Read-only pages work.
  for (const page_ of ['#/audit', '#/cluster', '#/monitoring']) await visit(page, page_);
  check();
});

test('an editor can edit flags, but Tokens says it needs admin', async (t) => {
  const editor = await makeToken('editor');
  const { page, check } = await openPage(t, { token: editor.secret, allow: [{ status: 403, url: /\/v1\/tokens$/ }] });
  await visit(page, `#/flags/${flag}`);
  await page.getByTestId('kill-switch').waitFor();
  await page.getByTestId('add-rule').waitFor();
  await visit(page, '#/tokens');
  assert.match(await page.getByTestId('forbidden').innerText(), /with the editor role[\s\S]*admin role or higher/);
  await ready(page, '/tokens');
  check();
});
