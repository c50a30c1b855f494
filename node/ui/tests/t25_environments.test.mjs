// Projects and environments in the UI: the top bar's switcher, the flags list
// with every environment's state side by side, the flag page editing one
// environment at a time (its switch, its targeting, the shared definition),
// a production environment asking before a save, segments per environment,
// and a new flag made in every environment of the project.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openPage, visit, navigating, shot, api, uniq, boolFlag, stringFlag, saveChanges } from './harness.mjs';

const project = uniq('ui-env');
const base = `/v1/projects/${project}`;
const checkout = 'checkout';
const banner = 'banner';
const cfg = (env, key) => api('GET', `${base}/environments/${env}/flags/${key}`);

before(async () => {
  await api('POST', '/v1/projects', { key: project, name: 'Storefront' });
  for (const key of [checkout, banner]) await api('POST', `${base}/flags`, boolFlag(key, { enabled: false }));
  await api('POST', `${base}/environments/staging/flags/${checkout}/toggle`, { enabled: true });
  await api('POST', `${base}/environments/staging/segments`, { key: 'staff', name: 'Staff', included: ['ann'] });
});

/** Each row's environment states, as `{key: {env: on}}`. */
const states = (page) => page.locator('tr[data-key]').evaluateAll((rows) => Object.fromEntries(rows.map((r) => [
  r.dataset.key,
  Object.fromEntries([...r.querySelectorAll('[data-testid=env-states] [data-env]')].map((e) => [e.dataset.env, e.dataset.on === 'true'])),
])));

test('the switcher picks a project and an environment; the list shows each environment side by side', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, '#/flags');
  // A new browser starts in default's production, the unscoped routes' scope.
  assert.equal(await page.getByTestId('scope-project').inputValue(), 'default');
  assert.equal(await page.getByTestId('scope-env').inputValue(), 'production');
  await page.getByTestId('scope-production').waitFor();

  await navigating(page, '/flags', () => page.getByTestId('scope-project').selectOption(project));
  assert.equal(await page.getByTestId('scope-env').inputValue(), 'production');
  const prodStates = await states(page);
  assert.deepEqual(prodStates[checkout], { development: false, staging: true, production: false });
  assert.deepEqual(prodStates[banner], { development: false, staging: false, production: false });
  // The switches are production's.
  assert.equal(await page.locator(`tr[data-key=${checkout}] [data-testid=row-switch]`).getAttribute('aria-checked'), 'false');

  await navigating(page, '/flags', () => page.getByTestId('scope-env').selectOption('staging'));
  assert.equal(await page.getByTestId('scope-production').count(), 0);
  assert.equal(await page.locator(`tr[data-key=${checkout}] [data-testid=row-switch]`).getAttribute('aria-checked'), 'true');
  assert.match(await page.getByTestId('flags-scope').innerText(), /staging of Storefront/i);
  // The on/off filter is this environment's.
  await page.locator('[data-state-filter=true]').click();
  await page.waitForFunction((want) => [...document.querySelectorAll('tr[data-key]')].map((r) => r.dataset.key).join() === want, checkout);
  await shot(page, 'environments-list');

  // The choice is kept: a reload opens the same scope.
  await page.reload();
  await page.locator('body[data-ready="/flags"]').waitFor({ state: 'attached' });
  assert.equal(await page.getByTestId('scope-project').inputValue(), project);
  assert.equal(await page.getByTestId('scope-env').inputValue(), 'staging');
  check();
});

test('the flag page edits one environment: its switch and targeting; the definition is shared', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${banner}?project=${project}&env=staging`);
  const tabs = page.getByTestId('env-tabs');
  assert.equal(await tabs.locator('[aria-current=page]').getAttribute('data-env'), 'staging');

  // The switch turns it on in staging only, and the tab says so.
  await page.getByTestId('kill-switch').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Turn on ${banner} in staging?`).waitFor();
  await dialog.getByRole('button', { name: `Turn on ${banner}` }).click();
  await tabs.locator('[data-env=staging] [data-on=true]').waitFor();
  assert.equal((await cfg('staging', banner)).enabled, true);
  assert.equal((await cfg('production', banner)).enabled, false);

  // Targeting in staging (no question: staging is not production), with a
  // new name, which is the definition's: every environment gets it.
  const targets = page.getByTestId('targets-0').locator('.chip-input');
  await targets.fill('ann');
  await targets.press('Enter');
  await page.locator('#flag-name').fill('Holiday banner');
  await saveChanges(page, { production: false });
  await page.getByTestId('save-bar').waitFor({ state: 'hidden' });
  const staging = await cfg('staging', banner);
  const prod = await cfg('production', banner);
  assert.deepEqual(staging.targets, [{ variation: 0, values: ['ann'] }]);
  assert.deepEqual(prod.targets, []);
  assert.equal(staging.name, 'Holiday banner');
  assert.equal(prod.name, 'Holiday banner');
  assert.equal((await api('GET', `${base}/flags/${banner}`)).name, 'Holiday banner');
  await shot(page, 'environments-flag-staging');

  // The production tab opens production's configuration.
  await navigating(page, `/flags/${banner}`, () => tabs.locator('[data-env=production]').click());
  assert.equal(await page.getByTestId('scope-env').inputValue(), 'production');
  assert.equal(await page.getByTestId('kill-switch').getAttribute('aria-checked'), 'false');
  assert.equal(await page.getByTestId('targets-0').locator('.chip').count(), 0);
  check();
});

test('a save in a production environment asks first; cancelling saves nothing', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${checkout}?project=${project}&env=production`);
  const before = await cfg('production', checkout);
  const targets = page.getByTestId('targets-0').locator('.chip-input');
  await targets.fill('zed');
  await targets.press('Enter');

  await page.getByTestId('save').click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('production is a production environment').waitFor();
  await shot(page, 'environments-production-confirm');
  await dialog.getByTestId('cancel').click();
  assert.equal((await cfg('production', checkout)).version, before.version);
  await page.getByTestId('save-bar').waitFor(); // still unsaved

  await saveChanges(page);
  await page.getByTestId('save-bar').waitFor({ state: 'hidden' });
  const after = await cfg('production', checkout);
  assert.equal(after.version, before.version + 1);
  assert.deepEqual(after.targets, [{ variation: 0, values: ['zed'] }]);
  assert.deepEqual((await cfg('staging', checkout)).targets, []);
  check();
});

test('segments are per environment; a new flag is made in every environment, off', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, `#/segments?project=${project}&env=staging`);
  assert.deepEqual(await page.locator('tr[data-key]').evaluateAll((rs) => rs.map((r) => r.dataset.key)), ['staff']);
  await navigating(page, '/segments', () => page.getByTestId('scope-env').selectOption('development'));
  assert.equal(await page.locator('tr[data-key]').count(), 0);

  await visit(page, '#/new/flag');
  await page.locator('#nf-name').fill('Dark mode');
  await navigating(page, '/flags/dark-mode', () => page.getByRole('button', { name: 'Create flag' }).click());
  for (const env of ['development', 'staging', 'production']) {
    assert.equal((await cfg(env, 'dark-mode')).enabled, false, env);
  }
  assert.equal(await page.getByTestId('scope-env').inputValue(), 'development');
  check();
});

test('a deleted flag is restored from its history in every environment; variations are not removed per environment', async (t) => {
  const key = 'gone';
  await api('POST', `${base}/flags`, boolFlag(key, { enabled: false }));
  await api('POST', `${base}/environments/staging/flags/${key}/toggle`, { enabled: true });
  await api('DELETE', `${base}/flags/${key}`);
  const { page, check } = await openPage(t, { allow: [{ status: 404, url: new RegExp(`/flags/${key}$`) }] });
  await visit(page, `#/flags/${key}/history?project=${project}&env=staging`);
  await page.getByTestId('deleted-banner').getByTestId('restore').click();
  await navigating(page, `/flags/${key}/history`, () => page.getByRole('dialog').getByTestId('confirm').click());
  assert.equal((await cfg('staging', key)).enabled, true);
  assert.equal((await cfg('production', key)).enabled, false);

  // A removed variation would shift what every environment serves.
  await api('POST', `${base}/flags`, stringFlag('copy', { enabled: false }));
  await visit(page, `#/flags/copy?project=${project}&env=staging`);
  await page.getByRole('button', { name: 'Remove variation 3' }).click();
  await page.getByTestId('save-problem').getByText(/can be added here but not removed/).waitFor();
  assert.equal(await page.getByTestId('save').isDisabled(), true);
  check();
});
