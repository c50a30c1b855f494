// Sign in with a pasted token, see who and which role, stay signed in across
// a reload (sessionStorage), sign out; unknown, revoked and sdk tokens.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, ADMIN, openPage, shot, api, makeToken, ready, visit } from './harness.mjs';

test('sign in with a pasted token, see name and role, reload, sign out', async (t) => {
  const { page, check } = await openPage(t, { token: null, allow: [{ status: 401, url: /\/v1\/me$/ }] });
  await page.goto(`${BASE}/`);
  const token = page.getByLabel('Token');
  await token.waitFor();
  await shot(page, 'signin');

  await token.fill('not-a-real-token');
  await token.press('Enter');
  await page.getByTestId('signin-error').getByText('not known').waitFor();

  await token.fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await ready(page, '/flags');
  const who = page.getByTestId('whoami');
  assert.match(await who.innerText(), /admin[\s\S]*admin/);
  assert.equal(new URL(page.url()).hash, '#/flags');

  await page.reload();
  await ready(page, '/flags');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('vexil.token')), ADMIN);

  await page.getByTestId('sign-out').click();
  await token.waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('vexil.token')), null);
  await page.reload();
  await token.waitFor();
  check();
});

test('an sdk token is told it needs the viewer role', async (t) => {
  const sdk = await makeToken('sdk');
  const { page, check } = await openPage(t, { token: null });
  await page.goto(`${BASE}/`);
  await page.getByLabel('Token').fill(sdk.secret);
  await page.getByLabel('Token').press('Enter');
  await page.getByTestId('signin-error').getByText('needs the viewer role').waitFor();
  check();
});

test('a token revoked while signed in signs the user out with a reason', async (t) => {
  const viewer = await makeToken('viewer');
  const { page, check } = await openPage(t, { token: viewer.secret, allow: [{ status: 401, url: /\/v1\// }] });
  await visit(page, '#/flags');
  await page.getByTestId('whoami').getByText(viewer.name).waitFor();
  await api('DELETE', `/v1/tokens/${viewer.name}`);
  await page.getByRole('link', { name: 'Segments' }).click();
  await page.getByTestId('signin-error').getByText('no longer valid').waitFor();
  check();
});
