// The flags list: search by key or name, filter by tag and on/off, each
// flag's state, variations, last change and evaluations in the last hour;
// keyboard use; creating a flag.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openPage, visit, ready, shot, api, uniq, boolFlag, stringFlag } from './harness.mjs';

const p = uniq('list');
const checkout = `${p}-checkout`;
const banner = `${p}-banner`;
const ranking = `${p}-ranking`;

before(async () => {
  await api('POST', '/v1/flags', boolFlag(checkout, { name: 'Checkout v2', tags: [`${p}-web`], description: 'The new checkout' }));
  await api('POST', '/v1/flags', stringFlag(banner, { name: 'Banner copy', tags: [`${p}-web`, `${p}-marketing`], enabled: false }));
  await api('POST', '/v1/flags', {
    key: ranking, name: `Search ranking ${p}`, kind: 'number', variations: [{ value: 1 }, { value: 2.5 }],
    off_variation: 0, fallthrough: { variation: 1 }, enabled: true,
  });
  await api('POST', '/v1/sdk/metrics', { flags: { [checkout]: { variations: { 0: 7, 1: 3 }, errors: 0 } } });
});

/**
 * Waits until the search box's query (debounced) has been applied: the
 * address carries it and the rows are those of the new answer. Without the
 * first wait, an unfiltered list that already shows `keys` would pass at once
 * and the search would redraw the rows later, under the test's feet.
 */
async function searched(page, text, keys) {
  await page.waitForFunction((want) => new URLSearchParams(location.hash.split('?')[1] || '').get('q') === want, text);
  await waitForRows(page, keys);
}

/** The keys of the rows shown, in order. */
const shown = (page) => page.locator('tr[data-key]').evaluateAll((rows) => rows.map((r) => r.dataset.key));

async function waitForRows(page, keys) {
  await page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('tr[data-key]')].map((r) => r.dataset.key);
    return JSON.stringify(got) === JSON.stringify(want);
  }, keys);
}

test('search by key or name, filter by tag and state, see state, variations, last change, evaluations', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, '#/flags');
  const search = page.getByTestId('flag-search');
  await search.fill(p);
  await searched(page, p, [banner, checkout, ranking].sort());

  const row = page.locator(`tr[data-key="${checkout}"]`);
  assert.match(await row.innerText(), /Checkout v2/);
  assert.match(await row.innerText(), /true[\s\S]*false/);
  assert.match(await row.innerText(), /by admin/);
  assert.equal(await row.getByTestId('evals-1h').innerText(), '10');
  assert.equal(await row.getByRole('switch').getAttribute('aria-checked'), 'true');
  assert.equal(await page.locator(`tr[data-key="${banner}"]`).getByRole('switch').getAttribute('aria-checked'), 'false');
  assert.match(await page.locator(`tr[data-key="${banner}"]`).innerText(), /alpha[\s\S]*beta[\s\S]*gamma/i);
  await shot(page, 'flags');

  await search.fill(`search ranking ${p}`);
  await searched(page, `search ranking ${p}`, [ranking]);

  await search.fill(p);
  await searched(page, p, [banner, checkout, ranking].sort());
  await page.getByTestId('tag-filter').selectOption(`${p}-marketing`);
  await waitForRows(page, [banner]);
  await page.getByTestId('tag-filter').selectOption('');
  await page.locator('[data-state-filter="false"]').click();
  await waitForRows(page, [banner]);
  await page.locator('[data-state-filter="true"]').click();
  await waitForRows(page, [checkout, ranking].sort());
  assert.match(page.url(), /enabled=true/);
  await page.locator('[data-state-filter="all"]').click();
  await waitForRows(page, [banner, checkout, ranking].sort());
  assert.deepEqual(await shown(page), [banner, checkout, ranking].sort());
  check();
});

test('keyboard: / searches, arrows move, Enter opens, t toggles after a confirmation', async (t) => {
  const { page, check } = await openPage(t);
  await visit(page, '#/flags');
  await page.locator('tr[data-key]').first().waitFor();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'flag-search');
  await page.keyboard.type(p);
  await searched(page, p, [banner, checkout, ranking].sort());
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.key), checkout);

  // t asks first; Escape leaves the flag alone.
  await page.keyboard.press('t');
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Turn off ${checkout} in production?`).waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await api('GET', `/v1/flags/${checkout}`)).enabled, true);

  await page.locator(`tr[data-key="${checkout}"]`).focus();
  await page.keyboard.press('t');
  await dialog.getByRole('button', { name: `Turn off ${checkout}` }).click();
  await page.locator(`tr[data-key="${checkout}"] [role=switch][aria-checked="false"]`).waitFor();
  assert.equal((await api('GET', `/v1/flags/${checkout}`)).enabled, false);
  await api('POST', `/v1/flags/${checkout}/toggle`, { enabled: true });

  await page.locator(`tr[data-key="${ranking}"]`).focus();
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Enter');
  await ready(page, `/flags/${checkout}`);
  await page.getByTestId('flag-title').getByText('Checkout v2').waitFor();
  assert.equal(new URL(page.url()).hash, `#/flags/${checkout}`);
  check();
});

test('create a flag with the New flag form; a taken key is reported at the key', async (t) => {
  const { page, check } = await openPage(t, { allow: [{ status: 409, url: /\/v1\/flags$/ }] });
  await visit(page, '#/flags');
  await page.getByTestId('new-flag').click();
  await ready(page, '/new/flag');
  await page.getByLabel('Name').fill(`Dark mode ${p}`);
  assert.equal(await page.getByLabel('Key').inputValue(), `dark-mode-${p}`);
  await page.getByLabel('Kind').selectOption('string');
  await page.getByLabel('Tags').fill('ui, beta');
  await shot(page, 'flag-new');
  await page.getByRole('button', { name: 'Create flag' }).click();
  await ready(page, `/flags/dark-mode-${p}`);
  await page.getByTestId('flag-title').getByText(`Dark mode ${p}`).waitFor();
  const created = await api('GET', `/v1/flags/dark-mode-${p}`);
  assert.equal(created.kind, 'string');
  assert.equal(created.enabled, false);
  assert.deepEqual(created.tags, ['ui', 'beta']);

  await visit(page, '#/new/flag');
  await page.getByLabel('Key').fill(checkout);
  await page.getByRole('button', { name: 'Create flag' }).click();
  const err = page.locator('[data-field="key"] + .field-error');
  await err.getByText('already exists').waitFor();
  check();
});
