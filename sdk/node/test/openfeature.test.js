'use strict';
// VexilProvider under @openfeature/server-sdk, offline from a cache file:
// every reason and error code maps as ARCHITECTURE.md's table says.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { OpenFeature, ProviderEvents } = require('@openfeature/server-sdk');
const { Client, writeCacheFile } = require('@vexil/sdk');
const { VexilProvider } = require('@vexil/sdk/openfeature');
const { tempDir, boolFlag, DEAD_URL } = require('./helpers.js');

const rollout = { rollout: { variations: [{ variation: 0, weight: 50000 }, { variation: 1, weight: 50000 }] } };
const FLAGS = [
  boolFlag('static'),
  boolFlag('off', { enabled: false, version: 4 }),
  boolFlag('targeted', { targets: [{ variation: 0, values: ['vip'] }], fallthrough: { variation: 1 } }),
  boolFlag('by-country', {
    rules: [{ id: 'r-nz', clauses: [{ attribute: 'country', operator: 'in', values: ['NZ'] }], serve: { variation: 0 } }],
    fallthrough: { variation: 1 },
  }),
  boolFlag('split', { fallthrough: rollout }),
  boolFlag('groups', {
    rules: [{ id: 'r-beta', clauses: [{ attribute: 'groups', operator: 'in', values: ['beta'] }], serve: { variation: 0 } }],
    fallthrough: { variation: 1 },
  }),
  boolFlag('prereq', { prerequisites: [{ flag: 'off', variation: 0 }] }),
  { key: 'text', kind: 'string', enabled: true, off_variation: 0, variations: [{ value: 'hi', name: 'greet' }], fallthrough: { variation: 0 } },
  { key: 'num', kind: 'number', enabled: true, off_variation: 0, variations: [{ value: 3.5 }], fallthrough: { variation: 0 } },
  { key: 'obj', kind: 'json', enabled: true, off_variation: 0, variations: [{ value: { a: 1, b: ['x'] } }], fallthrough: { variation: 0 } },
];

let of;
test.before(async () => {
  const cacheFile = path.join(tempDir(), 'cache.json');
  writeCacheFile(cacheFile, { id: 9, flags: FLAGS, segments: [] });
  const client = new Client({ urls: [DEAD_URL], sdkToken: 't', cacheFile, connectTimeoutMs: 100 });
  await OpenFeature.setProviderAndWait(new VexilProvider(client, { initTimeoutMs: 2000 }));
  of = OpenFeature.getClient();
});
test.after(() => OpenFeature.close());

test('reasons map as the table says', async () => {
  const cases = [
    ['static', {}, true, 'STATIC', 'on', 'FALLTHROUGH'],
    ['off', {}, false, 'DISABLED', '1', 'OFF'],
    ['targeted', { targetingKey: 'vip' }, true, 'TARGETING_MATCH', 'on', 'TARGET_MATCH'],
    ['targeted', { targetingKey: 'other' }, false, 'DEFAULT', '1', 'FALLTHROUGH'],
    ['by-country', { country: 'NZ' }, true, 'TARGETING_MATCH', 'on', 'RULE_MATCH'],
    ['split', { targetingKey: 'user-1' }, null, 'SPLIT', null, 'FALLTHROUGH'],
    ['groups', { targetingKey: 'u', groups: ['alpha', 'beta'] }, true, 'TARGETING_MATCH', 'on', 'RULE_MATCH'],
    ['prereq', {}, false, 'DEFAULT', '1', 'PREREQUISITE_FAILED'],
  ];
  for (const [key, ctx, value, reason, variant, vexilReason] of cases) {
    const d = await of.getBooleanDetails(key, !value, ctx);
    assert.equal(d.errorCode, undefined, `${key}: ${d.errorMessage}`);
    if (value !== null) assert.equal(d.value, value, key);
    assert.equal(d.reason, reason, key);
    if (variant !== null) assert.equal(d.variant, variant, key);
    assert.equal(d.flagMetadata.vexilReason, vexilReason, key);
  }
  const off = await of.getBooleanDetails('off', true, {});
  assert.equal(off.flagMetadata.version, 4);
  const rule = await of.getBooleanDetails('by-country', false, { country: 'NZ' });
  assert.equal(rule.flagMetadata.ruleId, 'r-nz');
  const prereq = await of.getBooleanDetails('prereq', true, {});
  assert.equal(prereq.flagMetadata.prerequisite, 'off');
});

test('string, number and object flags resolve', async () => {
  const s = await of.getStringDetails('text', 'd', {});
  assert.deepEqual([s.value, s.variant, s.reason], ['hi', 'greet', 'STATIC']);
  assert.equal(await of.getNumberValue('num', 0, {}), 3.5);
  assert.deepEqual(await of.getObjectValue('obj', {}, {}), { a: 1, b: ['x'] });
});

test('errors give their code and the default', async () => {
  const cases = [
    ['getBooleanDetails', 'missing', true, {}, 'FLAG_NOT_FOUND'],
    ['getStringDetails', 'static', 'dflt', {}, 'TYPE_MISMATCH'],
    ['getNumberDetails', 'text', 7, {}, 'TYPE_MISMATCH'],
    ['getBooleanDetails', 'targeted', true, {}, 'TARGETING_KEY_MISSING'],
    ['getBooleanDetails', 'static', true, { key: 'u' }, 'INVALID_CONTEXT'],
    ['getBooleanDetails', 'static', true, { targetingKey: 'u', address: { city: 'x' } }, 'INVALID_CONTEXT'],
    ['getBooleanDetails', 'static', true, { targetingKey: 'u', tags: ['a', 2] }, 'INVALID_CONTEXT'],
  ];
  for (const [method, key, dflt, ctx, code] of cases) {
    const d = await of[method](key, dflt, ctx);
    assert.deepEqual([d.value, d.reason, d.errorCode], [dflt, 'ERROR', code], `${key} ${JSON.stringify(ctx)}`);
  }
});

test('a provider with no state fails to initialize in time, then reports PROVIDER_NOT_READY', async () => {
  const provider = new VexilProvider({ urls: [DEAD_URL], sdkToken: 't', connectTimeoutMs: 100 }, { initTimeoutMs: 200 });
  await assert.rejects(provider.initialize(), /no flags after 200 ms/);
  const d = await provider.resolveBooleanEvaluation('x', true, {});
  assert.deepEqual([d.value, d.errorCode], [true, 'PROVIDER_NOT_READY']);
  await provider.onClose();
  assert.equal(provider.client.status, 'offline');
  assert.equal(typeof ProviderEvents.ConfigurationChanged, 'string');
});
