'use strict';
// Against a real 3-node cluster: the client sees a write made at the
// leader, fails over when its node is killed (kill -9) without missing a
// change, starts from its cache file with every node down, and rejects a
// corrupt cache file; its evaluation counts reach the node it streams from.
// Skipped when the server binaries are not built, unless
// VEXIL_REQUIRE_CLUSTER=1 (scripts/test.d/61-sdk-node.sh sets it).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OpenFeature, ProviderEvents } = require('@openfeature/server-sdk');
const { Client } = require('@vexil/sdk');
const { VexilProvider } = require('@vexil/sdk/openfeature');
const { Cluster, missingBinaries } = require('./cluster.js');
const { within, next, tempDir, boolFlag } = require('./helpers.js');

const missing = missingBinaries();
if (missing && process.env.VEXIL_REQUIRE_CLUSTER === '1') throw new Error(missing);

/** The state id the cache file holds (the file wraps the state as a string). */
function cachedStateId(file) {
  try {
    return JSON.parse(JSON.parse(fs.readFileSync(file, 'utf8')).state).id;
  } catch {
    return -1;
  }
}

/** Resolves once `cond()` holds (checked every 50 ms); throws after `ms`. */
async function until(ms, what, cond) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a Node client on a real 3-node cluster', { skip: missing ?? false, timeout: 240_000 }, async (t) => {
  const cluster = new Cluster(3);
  t.after(() => cluster.destroy());
  const cacheFile = path.join(tempDir(), 'vexil-cache.json');

  const leader = await cluster.leader();
  const { secret: sdkToken } = await cluster.api(cluster.urls[leader], 'POST', '/v1/tokens', { name: 'node-sdk', role: 'sdk' });
  await cluster.atLeader('POST', '/v1/flags', boolFlag('first'));

  const everyNode = cluster.allUrls();
  const client = new Client({
    urls: everyNode,
    sdkToken,
    cacheFile,
    backoffInitialMs: 50,
    backoffMaxMs: 500,
    connectTimeoutMs: 500,
    seed: 7,
  });
  t.after(() => client.close());
  await within(20_000, 'the client is ready', client.waitUntilReady(20_000));
  // Ready means streaming: a follower may serve a snapshot from just before
  // the write it has not applied yet; the change then follows.
  if (client.boolDetail('first', { key: 'u' }).errorCode !== null) {
    await within(10_000, 'the flag "first" reaches the client', next(client, 'change', (c) => c.key === 'first'));
  }
  assert.equal(client.boolValue('first', { key: 'u' }, false), true);

  await t.test('sees a write made at the leader, and tells the OpenFeature provider', async () => {
    await OpenFeature.setProviderAndWait(new VexilProvider(client));
    const of = OpenFeature.getClient();
    const changed = new Promise((resolve) =>
      of.addHandler(ProviderEvents.ConfigurationChanged, (e) => e.flagsChanged.includes('live') && resolve()),
    );
    const seen = next(client, 'change', (c) => c.key === 'live');
    await cluster.atLeader('POST', '/v1/flags', boolFlag('live', { enabled: false }));
    const change = await within(10_000, 'the change event for "live"', seen);
    assert.equal(change.version, 1);
    await within(5000, 'ConfigurationChanged', changed);
    assert.equal(client.boolDetail('live', { key: 'u' }).reason, 'OFF');
    assert.equal((await of.getBooleanDetails('live', true, { targetingKey: 'u' })).reason, 'DISABLED');
    const toggled = next(client, 'change', (c) => c.key === 'live' && c.version === 2);
    await cluster.atLeader('POST', '/v1/flags/live/toggle', { enabled: true });
    await within(10_000, 'the toggle of "live"', toggled);
    assert.equal(client.boolValue('live', { key: 'u' }, false), true);
    OpenFeature.clearProviders();
  });

  await t.test('fails over when its node is killed, without missing a change', async () => {
    const streaming = client.currentNode;
    const victim = cluster.idOf(streaming);
    assert.ok(victim, `the client streams from a cluster node (${streaming})`);
    const keys = Array.from({ length: 6 }, (_, i) => `after-kill-${i}`);
    const seen = new Set();
    const onChange = (c) => seen.add(c.key);
    client.on('change', onChange);
    cluster.kill(victim);
    // Writes start at once: some commit while the client has no stream.
    for (const key of keys) await cluster.atLeader('POST', '/v1/flags', boolFlag(key, { enabled: key.endsWith('1') }));
    await until(20_000, 'every change after the kill', () => keys.every((k) => seen.has(k)));
    client.off('change', onChange);
    assert.notEqual(client.currentNode, streaming);
    assert.ok(Object.values(cluster.urls).includes(client.currentNode), client.currentNode);
    for (const key of keys) {
      assert.equal(client.boolValue(key, { key: 'u' }, null), key.endsWith('1'), key);
    }
    assert.equal(client.status, 'ready');
    assert.equal(await within(10_000, 'flushMetrics', client.flushMetrics()), true, 'a live node took the metrics');
    // The node that took them counts the evaluations made above.
    const usage = await cluster.api(client.currentNode, 'GET', '/v1/metrics/evaluations');
    for (const key of keys) assert.ok(usage.totals_1h[key] >= 1, `${key} counted: ${JSON.stringify(usage.totals_1h)}`);
  });

  await t.test('starts from its cache file with every node down', async () => {
    const want = client.stateId;
    await until(10_000, `the cache file reaches state ${want}`, () => cachedStateId(cacheFile) >= want);
    const expected = client.allFlags({ key: 'u' });
    await client.close();
    cluster.down();
    const offline = new Client({ urls: everyNode, sdkToken, cacheFile, connectTimeoutMs: 200 });
    t.after(() => offline.close());
    assert.equal(offline.status, 'stale');
    assert.equal(offline.cacheWarning, null);
    assert.equal(offline.stateId, want);
    assert.deepEqual(offline.allFlags({ key: 'u' }), expected);
    assert.equal(offline.boolValue('after-kill-1', { key: 'u' }, false), true);
  });

  await t.test('rejects a corrupt cache file', async () => {
    const raw = fs.readFileSync(cacheFile, 'utf8');
    const corrupt = path.join(path.dirname(cacheFile), 'corrupt.json');
    // One byte of the state changed: the checksum no longer matches.
    fs.writeFileSync(corrupt, raw.replace('after-kill-1', 'after-kill-X'));
    const c = new Client({ urls: ['http://127.0.0.1:9'], sdkToken, cacheFile: corrupt, connectTimeoutMs: 200 });
    t.after(() => c.close());
    assert.match(c.cacheWarning ?? '', /damaged: checksum/);
    assert.equal(c.stateId, null);
    assert.equal(c.boolDetail('after-kill-1', { key: 'u' }, false).errorCode, 'CLIENT_NOT_READY');
    fs.writeFileSync(corrupt, raw.slice(0, raw.length / 2));
    const truncated = new Client({ urls: ['http://127.0.0.1:9'], sdkToken, cacheFile: corrupt, connectTimeoutMs: 200 });
    t.after(() => truncated.close());
    assert.match(truncated.cacheWarning ?? '', /not a Vexil SDK cache file/);
  });
});
