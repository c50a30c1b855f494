// The flag page: the kill switch, the targeting editor (targets, rules with
// every operator, segment picker, rollouts, prerequisites, default and off
// variation, reordering), variations, "test this flag", API validation
// errors beside their field, and a stale save.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openPage, visit, ready, shot, api, uniq, boolFlag, stringFlag, saveChanges } from './harness.mjs';

const p = uniq('edit');
const segment = `${p}-beta`;
const prereq = `${p}-payments`;

before(async () => {
  await api('POST', '/v1/segments', { key: segment, name: 'Beta testers', included: ['alice'] });
  await api('POST', '/v1/flags', boolFlag(prereq, { name: 'Payments v3' }));
});

const saved = (page, key) => page.waitForResponse((r) => r.url().endsWith(`/v1/flags/${key}`) && r.request().method() === 'PUT');

test('the kill switch asks, naming the flag, then turns it off and on', async (t) => {
  const key = `${p}-kill`;
  await api('POST', '/v1/flags', boolFlag(key, { name: 'Kill me' }));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  const sw = page.getByTestId('kill-switch');
  assert.equal(await sw.getAttribute('aria-checked'), 'true');

  await sw.click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`Turn off ${key} in production?`).waitFor();
  assert.match(await dialog.innerText(), /Every context in production will get the off variation, false/);
  assert.match(await dialog.innerText(), /production is a production environment/);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await sw.getAttribute('aria-checked'), 'true');
  assert.equal((await api('GET', `/v1/flags/${key}`)).enabled, true);

  await sw.click();
  await dialog.getByRole('button', { name: `Turn off ${key}` }).click();
  await page.locator('[data-testid=kill-switch][aria-checked="false"]').waitFor();
  await page.getByTestId('off-note').waitFor();
  assert.equal((await api('GET', `/v1/flags/${key}`)).enabled, false);
  await shot(page, 'flag-off');

  await page.getByTestId('kill-switch').click();
  await dialog.getByRole('button', { name: `Turn on ${key}` }).click();
  await page.locator('[data-testid=kill-switch][aria-checked="true"]').waitFor();
  assert.equal((await api('GET', `/v1/flags/${key}`)).enabled, true);
  check();
});

test('edit targeting: targets, rules, segment, rollout, prerequisites, default and off variation; reorder; save', async (t) => {
  const key = `${p}-target`;
  await api('POST', '/v1/flags', stringFlag(key, { name: 'Pricing page' }));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);

  // Individual targets for "Alpha".
  const targets = page.getByTestId('targets-0').locator('.chip-input');
  await targets.fill('alice');
  await targets.press('Enter');
  await targets.fill('bob');
  await targets.press('Enter');

  // Rule 1: country in NZ, AU (ignore case) and NOT email ends with @corp.example → Beta.
  await page.getByTestId('add-rule').click();
  const r1 = page.getByTestId('rule').nth(0);
  await r1.getByLabel('Rule 1 description').fill('Down under');
  await r1.getByLabel('Attribute').fill('country');
  await r1.getByTestId('operator').selectOption('in');
  const v1 = r1.getByLabel('Values');
  await v1.fill('NZ');
  await v1.press('Enter');
  await v1.fill('AU');
  await v1.press('Enter');
  await r1.getByTestId('case-insensitive').check();
  await r1.getByTestId('add-clause').click();
  const c2 = r1.locator('.clause').nth(1);
  await c2.getByLabel('Attribute').fill('email');
  await c2.getByTestId('operator').selectOption('ends_with');
  await c2.getByLabel('Values').fill('@corp.example');
  await c2.getByLabel('Values').press('Enter');
  await c2.getByTestId('negate').check();
  await r1.getByTestId('serve-select').selectOption('1');

  // Rule 2: in the segment → a 50/30/20 rollout.
  await page.getByTestId('add-rule').click();
  const r2 = page.getByTestId('rule').nth(1);
  await r2.getByTestId('operator').selectOption('segment_match');
  await r2.getByTestId('segment-picker').selectOption(segment);
  await r2.getByText(`Beta testers (${segment})`).waitFor();
  await r2.getByTestId('serve-select').selectOption('rollout');
  await r2.getByTestId('weight-0').fill('50');
  await page.getByTestId('save-problem').getByText('total 50%').waitFor();
  assert.equal(await page.getByTestId('save').isDisabled(), true);
  await r2.getByTestId('weight-1').fill('30');
  await r2.getByTestId('weight-2').fill('20');
  await r2.getByTestId('rollout-total').getByText('Total 100%').waitFor();
  assert.equal(await r2.locator('input[type=range]').nth(0).inputValue(), '50');

  // Move the segment rule first.
  await r2.getByTestId('rule-up').click();
  assert.match(await page.getByTestId('rule').nth(0).innerText(), /Beta testers/);

  // Prerequisite, default rule, off variation.
  await page.getByTestId('add-prerequisite').click();
  await page.getByLabel('Prerequisite 1 flag').selectOption(prereq);
  await page.getByLabel('Prerequisite 1 variation').selectOption('0');
  await page.getByTestId('default-rule').getByTestId('serve-select').selectOption('2');
  await page.getByTestId('off-variation').selectOption('1');
  await shot(page, 'flag-targeting', { fullPage: true });

  const done = saved(page, key);
  await saveChanges(page);
  assert.equal((await done).status(), 200);
  await page.getByTestId('save-bar').waitFor({ state: 'hidden' });

  const f = await api('GET', `/v1/flags/${key}`);
  assert.deepEqual(f.targets, [{ variation: 0, values: ['alice', 'bob'] }]);
  assert.equal(f.rules.length, 2);
  assert.deepEqual(f.rules[0].clauses.map((c) => [c.operator, c.values]), [['segment_match', [segment]]]);
  assert.deepEqual(f.rules[0].serve.rollout.variations.map((w) => w.weight), [50000, 30000, 20000]);
  assert.equal(f.rules[1].description, 'Down under');
  assert.deepEqual(f.rules[1].clauses, [
    { attribute: 'country', operator: 'in', values: ['NZ', 'AU'], negate: false, case_insensitive: true },
    { attribute: 'email', operator: 'ends_with', values: ['@corp.example'], negate: true, case_insensitive: false },
  ]);
  assert.deepEqual(f.rules[1].serve, { variation: 1 });
  assert.deepEqual(f.prerequisites, [{ flag: prereq, variation: 0 }]);
  assert.deepEqual(f.fallthrough, { variation: 2 });
  assert.equal(f.off_variation, 1);
  assert.equal(f.version, 2);
  check();
});

test('the operator picker offers every operator, and each one saves', async (t) => {
  const key = `${p}-ops`;
  await api('POST', '/v1/flags', boolFlag(key));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('add-rule').click();
  const rule = page.getByTestId('rule').nth(0);
  const ops = await rule.getByTestId('operator').locator('option').evaluateAll((os) => os.map((o) => o.value));
  const want = {
    in: 'gold', starts_with: 'ad', ends_with: '.nz', contains: 'x', matches: '^a.*z$',
    lt: '10', lte: '10', gt: '1', gte: '1.5', before: '2030-01-01T00:00:00Z', after: '1700000000000',
    semver_eq: '1.2.3', semver_lt: '2.0.0', semver_gt: '1.0.0', in_cidr: '10.0.0.0/8', segment_match: segment,
  };
  assert.deepEqual(ops, Object.keys(want));
  for (const [i, op] of ops.entries()) {
    if (i > 0) await rule.getByTestId('add-clause').click();
    const clause = rule.locator('.clause').nth(i);
    await clause.getByTestId('operator').selectOption(op);
    if (op === 'segment_match') {
      await clause.getByTestId('segment-picker').selectOption(want[op]);
    } else {
      await clause.getByLabel('Attribute').fill(`attr${i}`);
      await clause.getByLabel('Values').fill(want[op]);
      await clause.getByLabel('Values').press('Enter');
    }
  }
  const done = saved(page, key);
  await saveChanges(page);
  assert.equal((await done).status(), 200);
  const f = await api('GET', `/v1/flags/${key}`);
  assert.deepEqual(f.rules[0].clauses.map((c) => c.operator), ops);
  const values = Object.fromEntries(f.rules[0].clauses.map((c) => [c.operator, c.values[0]]));
  assert.equal(values.lt, 10);
  assert.equal(values.gte, 1.5);
  assert.equal(values.after, 1700000000000);
  assert.equal(values.before, '2030-01-01T00:00:00Z');
  assert.equal(values.in, 'gold');
  check();
});

test('test this flag: a context gives the value and the reason', async (t) => {
  const key = `${p}-test`;
  await api('POST', '/v1/flags', boolFlag(key, {
    targets: [{ variation: 1, values: ['vip'] }],
    rules: [{ id: 'nz', description: 'New Zealand', clauses: [{ attribute: 'country', operator: 'in', values: ['NZ'] }], serve: { variation: 1 } }],
  }));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  const box = page.getByTestId('test-box');
  const ctx = box.getByLabel('Context (JSON)');
  const run = async (context) => {
    await ctx.fill(context);
    // The click marks the result busy at once; it is idle again only once this
    // run's answer is on the page.
    await box.getByTestId('evaluate').click();
    await box.locator('[data-testid="test-result"][aria-busy="false"]').waitFor();
    return [await box.getByTestId('test-value').innerText(), await box.getByTestId('test-reason').innerText()];
  };
  let [value, reason] = await run('{"key": "u1", "country": "NZ"}');
  assert.equal(value, 'false');
  assert.match(reason, /RULE_MATCH.*Matched rule 1 \(“New Zealand”\), id nz/);
  await shot(page, 'flag-test-box');
  [value, reason] = await run('{"key": "u2", "country": "FR"}');
  assert.equal(value, 'true');
  assert.match(reason, /FALLTHROUGH/);
  [value, reason] = await run('{"key": "vip"}');
  assert.equal(value, 'false');
  assert.match(reason, /TARGET_MATCH/);

  await ctx.fill('{"key": ');
  await box.getByTestId('evaluate').click();
  await box.getByText('Not a valid context').waitFor();

  await api('POST', `/v1/flags/${key}/toggle`, { enabled: false });
  [value, reason] = await run('{"key": "u1", "country": "NZ"}');
  assert.equal(value, 'false');
  assert.match(reason, /OFF/);
  check();
});

test('API validation errors appear next to the field they name', async (t) => {
  const key = `${p}-invalid`;
  await api('POST', '/v1/flags', boolFlag(key));
  const { page, check } = await openPage(t, { allow: [{ status: 400, url: new RegExp(`/v1/flags/${key}$`) }] });
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('add-rule').click();
  const rule = page.getByTestId('rule').nth(0);
  const c0 = rule.locator('.clause').nth(0);
  await c0.getByLabel('Attribute').fill('age');
  await c0.getByTestId('operator').selectOption('lt');
  await c0.getByLabel('Values').fill('abc');
  await c0.getByLabel('Values').press('Enter');
  await rule.getByTestId('add-clause').click();
  const c1 = rule.locator('.clause').nth(1);
  await c1.getByLabel('Attribute').fill('');
  await c1.getByTestId('operator').selectOption('matches');
  await c1.getByLabel('Values').fill('(');
  await c1.getByLabel('Values').press('Enter');

  const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/flags/${key}`) && r.status() === 400);
  await saveChanges(page);
  await refused;
  const e0 = c0.locator('.field-error[data-error-for="rules[0].clauses[0].values[0]"]');
  await e0.waitFor();
  assert.match(await e0.innerText(), /abc.*expected a number/);
  assert.equal(await c0.locator('.chip.invalid .chip-text').innerText(), 'abc');
  assert.match(await c1.locator('.field-error[data-error-for="rules[0].clauses[1].attribute"]').innerText(), /needs an attribute/);
  assert.equal(await c1.getByLabel('Attribute').getAttribute('aria-invalid'), 'true');
  assert.match(await c1.locator('.field-error[data-error-for="rules[0].clauses[1].values[0]"]').innerText(), /regex/);
  await page.getByTestId('save-errors').waitFor();
  await shot(page, 'flag-validation', { keepScroll: true });

  // Fix them and save.
  await c0.getByRole('button', { name: 'Remove abc' }).click();
  await c0.getByLabel('Values').fill('42');
  await c0.getByLabel('Values').press('Enter');
  await c1.getByLabel('Attribute').fill('email');
  await c1.getByRole('button', { name: 'Remove (' }).click();
  await c1.getByLabel('Values').fill('^a');
  await c1.getByLabel('Values').press('Enter');
  const ok = saved(page, key);
  await saveChanges(page);
  assert.equal((await ok).status(), 200);
  await page.locator('.field-error').first().waitFor({ state: 'detached' });
  const f = await api('GET', `/v1/flags/${key}`);
  assert.deepEqual(f.rules[0].clauses[0].values, [42]);
  check();
});

test('variations: rename, add and remove an unused one', async (t) => {
  const key = `${p}-vars`;
  await api('POST', '/v1/flags', stringFlag(key));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  const card = page.getByTestId('variations');
  await card.getByLabel('Variation 2 name').fill('Second');
  await card.getByTestId('add-variation').click();
  await card.getByLabel('Variation 4 value').fill('delta');
  await card.getByRole('button', { name: 'Remove variation 3' }).click();
  const done = saved(page, key);
  await saveChanges(page);
  assert.equal((await done).status(), 200);
  const f = await api('GET', `/v1/flags/${key}`);
  assert.deepEqual(f.variations.map((v) => v.value), ['alpha', 'beta', 'delta']);
  assert.equal(f.variations[1].name, 'Second');
  check();
});

test('saving a stale version shows the conflict and offers a reload', async (t) => {
  const key = `${p}-stale`;
  await api('POST', '/v1/flags', boolFlag(key, { name: 'Original name' }));
  const { page, check } = await openPage(t, { allow: [{ status: 409, url: new RegExp(`/v1/flags/${key}$`) }] });
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('settings').getByLabel('Description').fill('my edit');

  const theirs = await api('GET', `/v1/flags/${key}`);
  await api('PUT', `/v1/flags/${key}`, { ...theirs, name: 'Changed elsewhere' }, { headers: { 'If-Match': '"1"' } });

  await saveChanges(page);
  const banner = page.getByTestId('conflict');
  await banner.waitFor();
  assert.match(await banner.innerText(), /changed by admin/);
  assert.match(await banner.innerText(), /now version 2; you started from version 1/);
  await banner.getByRole('button', { name: 'Show their changes' }).click();
  assert.match(await banner.getByTestId('diff').innerText(), /-\s+"name": "Original name",[\s\S]*\+\s+"name": "Changed elsewhere"/);
  await shot(page, 'flag-conflict');

  await banner.getByTestId('reload-latest').click();
  await page.getByTestId('flag-title').getByText('Changed elsewhere').waitFor();
  assert.equal(await page.getByTestId('settings').getByLabel('Description').inputValue(), '');
  await page.getByTestId('save-bar').waitFor({ state: 'hidden' });
  assert.equal((await api('GET', `/v1/flags/${key}`)).description, '');
  check();
});

test('leaving a page with unsaved changes asks first', async (t) => {
  const key = `${p}-guard`;
  await api('POST', '/v1/flags', boolFlag(key));
  const { page, check } = await openPage(t);
  await visit(page, `#/flags/${key}`);
  await page.getByTestId('settings').getByLabel('Name').fill('Half-typed');
  await page.getByRole('link', { name: 'Segments' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('Discard unsaved changes?').waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await page.waitForFunction((h) => location.hash === h, `#/flags/${key}`);
  assert.equal(await page.getByTestId('settings').getByLabel('Name').inputValue(), 'Half-typed');

  await page.getByRole('link', { name: 'Segments' }).click();
  await dialog.getByRole('button', { name: 'Discard changes' }).click();
  await ready(page, '/segments');
  assert.equal((await api('GET', `/v1/flags/${key}`)).name, key);
  check();
});
