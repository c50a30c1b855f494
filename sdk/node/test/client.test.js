'use strict';
// The client offline, started from a cache file with no node reachable:
// typed getters and details, errors, options checking, the cache file.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Client, InvalidContextError, NotReadyError, PreparedContext, writeCacheFile } = require('@vexil/sdk');
const { tempDir, boolFlag, within, DEAD_URL } = require('./helpers.js');

const FLAGS = [
  boolFlag('on-for-all'),
  boolFlag('disabled', { enabled: false }),
  boolFlag('vip', {
    targets: [{ variation: 0, values: ['vip-1'] }],
    rules: [
      {
        id: 'nz',
        clauses: [{ attribute: 'country', operator: 'in', values: ['NZ'] }],
        serve: { variation: 0 },
      },
    ],
    fallthrough: { variation: 1 },
  }),
  boolFlag('needs-beta', { prerequisites: [{ flag: 'disabled', variation: 0 }] }),
  {
    key: 'banner',
    kind: 'string',
    enabled: true,
    off_variation: 0,
    variations: [{ value: 'plain' }, { value: 'festive', name: 'xmas' }],
    fallthrough: { variation: 1 },
  },
  {
    key: 'limit',
    kind: 'number',
    enabled: true,
    off_variation: 0,
    variations: [{ value: 10 }, { value: 2.5 }],
    fallthrough: { variation: 1 },
  },
  {
    key: 'layout',
    kind: 'json',
    enabled: true,
    off_variation: 0,
    variations: [{ value: { columns: 3, sections: ['a', 'b'] } }],
    fallthrough: { variation: 0 },
  },
];

function offlineClient(flags = FLAGS) {
  const dir = tempDir();
  const cacheFile = path.join(dir, 'cache.json');
  writeCacheFile(cacheFile, { id: 42, flags, segments: [] });
  return new Client({ urls: [DEAD_URL], sdkToken: 'vxl_sdk_test', cacheFile, connectTimeoutMs: 200 });
}

test('a client starts from its cache file and evaluates every type with details', async (t) => {
  const c = offlineClient();
  t.after(() => c.close());
  assert.equal(c.status, 'stale');
  assert.equal(c.stateId, 42);
  assert.equal(c.cacheWarning, null);

  assert.equal(c.boolValue('on-for-all', { key: 'u1' }, false), true);
  assert.equal(c.boolValue('disabled', { key: 'u1' }, true), false);
  assert.equal(c.stringValue('banner', { key: 'u1' }, 'none'), 'festive');
  assert.equal(c.numberValue('limit', { key: 'u1' }, 0), 2.5);
  assert.deepEqual(c.jsonValue('layout', null, {}), { columns: 3, sections: ['a', 'b'] });

  const d = c.boolDetail('vip', { key: 'u2', country: 'NZ' });
  assert.deepEqual(
    [d.value, d.variation, d.variant, d.reason, d.ruleId, d.ruleIndex, d.errorCode],
    [true, 0, 'on', 'RULE_MATCH', 'nz', 0, null],
  );
  const target = c.boolDetail('vip', { key: 'vip-1' });
  assert.deepEqual([target.value, target.reason], [true, 'TARGET_MATCH']);
  const fall = c.boolDetail('vip', { key: 'u3', country: 'AU' });
  assert.deepEqual([fall.value, fall.variation, fall.variant, fall.reason], [false, 1, '1', 'FALLTHROUGH']);
  const off = c.boolDetail('disabled', {});
  assert.deepEqual([off.value, off.reason], [false, 'OFF']);
  const prereq = c.boolDetail('needs-beta', { key: 'u' });
  assert.deepEqual([prereq.value, prereq.reason, prereq.prerequisite], [false, 'PREREQUISITE_FAILED', 'disabled']);
  const s = c.stringDetail('banner', {}, 'none');
  assert.deepEqual([s.value, s.variant], ['festive', 'xmas']);
});

test('errors serve the default and say why; evaluation never throws', async (t) => {
  const c = offlineClient();
  t.after(() => c.close());
  const missing = c.boolDetail('no-such-flag', { key: 'u' }, true);
  assert.deepEqual([missing.value, missing.reason, missing.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);
  assert.equal(c.boolValue('no-such-flag', { key: 'u' }, true), true);
  const wrong = c.numberDetail('banner', {}, 7);
  assert.deepEqual([wrong.value, wrong.errorCode], [7, 'WRONG_TYPE']);
  assert.equal(c.stringValue('on-for-all', {}, 'dflt'), 'dflt');
  const bad = c.boolDetail('on-for-all', { key: 'u', address: { city: 'Wellington' } }, true);
  assert.deepEqual([bad.value, bad.errorCode], [true, 'INVALID_CONTEXT']);
  assert.match(bad.errorMessage, /address/);
  assert.equal(c.boolValue('on-for-all', { key: 'u', n: NaN }, false), false);
  // Not a string key, not an object context, odd defaults: still no throw.
  assert.equal(c.boolValue(42, {}, true), true);
  assert.equal(c.boolValue('on-for-all', 'user-1', false), false);
  assert.equal(c.boolValue('no-such-flag', {}, 'x'), 'x');
  assert.equal(c.jsonDetail(undefined, undefined, 5).errorCode, 'GENERAL');
  const throwing = { key: 'u', get plan() { throw new Error('boom'); } };
  assert.equal(c.boolValue('on-for-all', throwing, false), false);
  assert.equal(c.stringDetail('banner', throwing, 'd').errorCode, 'INVALID_CONTEXT');
});

test('allFlags evaluates every flag; an invalid context gives INVALID_CONTEXT for each', async (t) => {
  const c = offlineClient();
  t.after(() => c.close());
  const all = c.allFlags({ key: 'vip-1' });
  assert.deepEqual(Object.keys(all).sort(), FLAGS.map((f) => f.key).sort());
  assert.deepEqual([all.vip.value, all.vip.reason], [true, 'TARGET_MATCH']);
  assert.deepEqual(all.layout.value, { columns: 3, sections: ['a', 'b'] });
  const bad = c.allFlags({ key: 'u', tags: [1, 2] });
  assert.equal(Object.keys(bad).length, FLAGS.length);
  for (const d of Object.values(bad)) assert.equal(d.errorCode, 'INVALID_CONTEXT');
});

test('without state or cache: initializing, CLIENT_NOT_READY, and waitUntilReady rejects in time', async (t) => {
  const c = new Client({ urls: DEAD_URL, sdkToken: 'vxl_sdk_test', connectTimeoutMs: 100, backoffMaxMs: 200 });
  t.after(() => c.close());
  assert.ok(['initializing', 'offline'].includes(c.status), c.status);
  const d = c.boolDetail('anything', { key: 'u' }, true);
  assert.deepEqual([d.value, d.errorCode], [true, 'CLIENT_NOT_READY']);
  const started = Date.now();
  await assert.rejects(c.waitUntilReady(300), (e) => e instanceof NotReadyError && e.status.status !== 'ready');
  assert.ok(Date.now() - started < 3000);
});

test('a corrupt or foreign cache file is rejected, not trusted', async (t) => {
  const dir = tempDir();
  const cacheFile = path.join(dir, 'cache.json');
  writeCacheFile(cacheFile, { id: 5, flags: [boolFlag('f')], segments: [] });
  // Flip the served value inside the state without fixing the checksum.
  const raw = fs.readFileSync(cacheFile, 'utf8');
  assert.ok(raw.includes('\\"value\\":true'));
  fs.writeFileSync(cacheFile, raw.replace('\\"value\\":true', '\\"value\\":false'));
  const c = new Client({ urls: [DEAD_URL], sdkToken: 't', cacheFile, connectTimeoutMs: 100 });
  t.after(() => c.close());
  assert.match(c.cacheWarning, /damaged|checksum/);
  assert.notEqual(c.status, 'stale');
  assert.equal(c.boolDetail('f', {}, false).errorCode, 'CLIENT_NOT_READY');

  fs.writeFileSync(cacheFile, 'not json at all');
  const c2 = new Client({ urls: [DEAD_URL], sdkToken: 't', cacheFile, connectTimeoutMs: 100 });
  t.after(() => c2.close());
  assert.match(c2.cacheWarning, /not a Vexil SDK cache file/);
  assert.equal(c2.stateId, null);
});

test('bad options throw a TypeError naming the option', () => {
  const ok = { urls: ['http://127.0.0.1:7070'], sdkToken: 'vxl_sdk_x' };
  const cases = [
    [undefined, /options object/],
    [{ ...ok, urls: [] }, /"urls"/],
    [{ ...ok, urls: ['https://x'] }, /"urls"/],
    [{ ...ok, urls: 'localhost:7070' }, /"urls"/],
    [{ urls: ok.urls }, /"sdkToken"/],
    [{ ...ok, sdkToken: '' }, /"sdkToken"/],
    [{ ...ok, token: 'x' }, /unknown option "token"/],
    [{ ...ok, connectTimeoutMs: 0 }, /"connectTimeoutMs"/],
    [{ ...ok, pollIntervalMs: 1.5 }, /"pollIntervalMs"/],
    [{ ...ok, cacheFile: 42 }, /"cacheFile"/],
    [{ ...ok, backoffInitialMs: 500, backoffMaxMs: 100 }, /"backoffInitialMs"/],
    [{ ...ok, seed: -1 }, /"seed"/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Client(options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
  }
});

test('close stops the client; evaluation then serves defaults', async () => {
  const c = offlineClient();
  assert.equal(c.boolValue('on-for-all', {}, false), true);
  await within(10000, 'close', c.close());
  await c.close();
  assert.equal(c.boolValue('on-for-all', {}, false), false);
  assert.equal(c.boolDetail('on-for-all', {}).errorCode, 'CLIENT_NOT_READY');
  assert.equal(c.status, 'offline');
});

test('writeCacheFile refuses what is not a snapshot', () => {
  const dir = tempDir();
  assert.throws(() => writeCacheFile(path.join(dir, 'c.json'), null), TypeError);
  assert.throws(() => writeCacheFile(path.join(dir, 'c.json'), { flags: 'no' }), /invalid state/);
});

test("a closed client never answers from another client's state", async (t) => {
  const first = offlineClient([boolFlag('shared')]);
  assert.equal(first.boolValue('shared', {}, false), true);
  await first.close();
  // The next client may take the closed one's place inside the addon.
  const second = offlineClient([boolFlag('shared', { enabled: false })]);
  t.after(() => second.close());
  assert.equal(second.boolValue('shared', {}, true), false);
  assert.equal(first.boolValue('shared', {}, true), true);
  assert.equal(first.boolDetail('shared', {}, true).errorCode, 'CLIENT_NOT_READY');
});

test('a prepared context answers as its object does, and only a real one is read', async (t) => {
  const c = offlineClient();
  t.after(() => c.close());
  const when = new Date(Date.UTC(2026, 0, 2));
  const nz = new PreparedContext({ key: 'u2', country: 'NZ', seats: 12n, since: when, groups: ['a'], gone: undefined });
  assert.deepEqual(nz.toJSON(), {
    key: 'u2',
    attributes: { country: 'NZ', seats: 12, since: when.getTime(), groups: ['a'] },
  });
  assert.equal(new PreparedContext(nz), nz);
  assert.ok(Object.isFrozen(nz));
  for (const flag of ['vip', 'on-for-all', 'disabled', 'needs-beta', 'no-such-flag']) {
    for (const dflt of [true, false]) {
      assert.equal(c.boolValue(flag, nz, dflt), c.boolValue(flag, { key: 'u2', country: 'NZ' }, dflt), `${flag} ${dflt}`);
    }
  }
  assert.equal(c.boolValue('vip', nz, false), true);
  assert.equal(c.boolValue('vip', new PreparedContext({ key: 'u3', country: 'AU' }), true), false);
  assert.equal(c.boolValue('vip', new PreparedContext(null), true), false);
  const d = c.boolDetail('vip', nz);
  assert.deepEqual([d.value, d.reason, d.ruleId], [true, 'RULE_MATCH', 'nz']);
  assert.equal(c.stringValue('banner', nz, 'none'), 'festive');
  assert.equal(c.allFlags(nz).vip.reason, 'RULE_MATCH');

  // Refused where it is made, naming the attribute.
  assert.throws(
    () => new PreparedContext({ key: 'u', address: { city: 'Wellington' } }),
    (e) => e instanceof InvalidContextError && e instanceof TypeError && /address/.test(e.message),
  );
  assert.throws(() => new PreparedContext({ key: 7 }), InvalidContextError);
  assert.throws(() => new PreparedContext('user-1'), InvalidContextError);

  // Something that only looks like one is never read as a context: the
  // default, not a crash.
  const fake = Object.create(PreparedContext.prototype);
  assert.equal(c.boolValue('on-for-all', fake, false), false);
  assert.equal(c.boolValue('on-for-all', fake, true), true);
  assert.equal(c.boolDetail('on-for-all', fake, false).errorCode, 'INVALID_CONTEXT');

  // A closed client serves the default for a prepared context too.
  await c.close();
  assert.equal(c.boolValue('on-for-all', nz, false), false);
});

test('prepared contexts are freed when collected', async () => {
  // Thousands of contexts made and dropped: memory returns (the addon frees
  // each with its object); a leak of ~1 KiB each would show as ~200 MiB.
  require('node:v8').setFlagsFromString('--expose-gc');
  const gc = require('node:vm').runInNewContext('gc');
  const big = 'x'.repeat(1000);
  const before = process.memoryUsage().rss;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 10000; i++) new PreparedContext({ key: `u${i}`, note: big });
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  gc();
  const grown = (process.memoryUsage().rss - before) / (1024 * 1024);
  assert.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB over 200,000 prepared contexts`);
});

test('the package imports as ES modules too', async () => {
  const sdk = await import('@vexil/sdk');
  const of = await import('@vexil/sdk/openfeature');
  assert.equal(sdk.Client, Client);
  assert.equal(typeof sdk.NotReadyError, 'function');
  assert.equal(sdk.PreparedContext, PreparedContext);
  assert.equal(typeof of.VexilProvider, 'function');
});
