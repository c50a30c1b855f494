'use strict';
// @vexil/sdk against unleash-client, on the flags of scripts/bench.d/eval.sh
// (flags/benches/peer/unleash.rs): `rollout_in` (50% of NZ and AU users)
// and `multi` (an id list, two constraints, a 50% and a 10% rollout).
// Both clients run offline: Vexil from a cache file, Unleash from bootstrap
// data, so only evaluation is measured.
//
//   node eval.js evaluations                # outcomes checked equal, then ns per evaluation
//   node eval.js prepare DIR                # 10,000 flags for each engine, in DIR
//   node --expose-gc eval.js coldstart vexil DIR    # one fresh process per engine:
//   node --expose-gc eval.js coldstart unleash DIR  # start from DIR, time and memory
//
// Prints one JSON object on stdout.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client, PreparedContext, writeCacheFile } = require('@vexil/sdk');
const { Unleash, InMemStorageProvider } = require('unleash-client');

const COUNTRIES = ['NZ', 'AU', 'US', 'DE', 'JP', 'BR', 'IN', 'GB'];
const PLANS = ['free', 'pro', 'team'];
const FLAGS = ['rollout_in', 'multi'];
const DEAD_URL = 'http://127.0.0.1:9';
const listed = Array.from({ length: 20 }, (_, i) => `user-${i * 997}`);
const attributes = (i) => [COUNTRIES[i % COUNTRIES.length], PLANS[Math.floor(i / 8) % PLANS.length]];

// ---- the flags, once per engine, with the same meaning -------------------

const clause = (attribute, values) => ({ attribute, operator: 'in', values });
const rollout = (pct) => ({
  rollout: { variations: [{ variation: 0, weight: pct * 1000 }, { variation: 1, weight: 100_000 - pct * 1000 }] },
});
function vexilFlag(key, rules, fallthrough) {
  return {
    key,
    kind: 'boolean',
    enabled: true,
    off_variation: 1,
    variations: [{ value: true }, { value: false }],
    rules: rules.map(([clauses, serve], i) => ({ id: `r${i}`, clauses, serve })),
    fallthrough,
  };
}
function vexilFlags(rolloutInKeys = ['rollout_in']) {
  const anz = () => clause('country', ['NZ', 'AU']);
  const flags = rolloutInKeys.map((k) => vexilFlag(k, [[[anz()], rollout(50)]], { variation: 1 }));
  flags.push(
    vexilFlag(
      'multi',
      [
        [[clause('key', listed)], { variation: 0 }],
        [[clause('plan', ['pro', 'team']), clause('country', ['DE', 'GB'])], { variation: 0 }],
        [[anz()], rollout(50)],
      ],
      rollout(10),
    ),
  );
  return flags;
}

const constraint = (contextName, values) => ({ contextName, operator: 'IN', values });
const flexible = (name, pct, constraints) => ({
  name: 'flexibleRollout',
  parameters: { rollout: String(pct), stickiness: 'userId', groupId: name },
  constraints,
});
function unleashFeatures(rolloutInKeys = ['rollout_in']) {
  const anz = () => constraint('country', ['NZ', 'AU']);
  const features = rolloutInKeys.map((k) => ({ name: k, enabled: true, strategies: [flexible(k, 50, [anz()])] }));
  features.push({
    name: 'multi',
    enabled: true,
    strategies: [
      { name: 'userWithId', parameters: { userIds: listed.join(',') } },
      { name: 'default', constraints: [constraint('plan', ['pro', 'team']), constraint('country', ['DE', 'GB'])] },
      flexible('multi', 50, [anz()]),
      flexible('multi', 10, []),
    ],
  });
  return features;
}

// ---- the clients ------------------------------------------------------------

function vexilClient(flags) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vexil-bench-'));
  const cacheFile = path.join(dir, 'cache.json');
  writeCacheFile(cacheFile, { id: 1, flags, segments: [] });
  return { cacheFile, dir };
}

function startVexil(cacheFile) {
  const c = new Client({ urls: [DEAD_URL], sdkToken: 'bench', cacheFile, metricsFlushIntervalMs: 3_600_000 });
  if (c.status !== 'stale') throw new Error(`vexil did not start from its cache: ${c.status} ${c.cacheWarning}`);
  return c;
}

function startUnleash(features) {
  return new Promise((resolve, reject) => {
    const u = new Unleash({
      url: `${DEAD_URL}/api/`,
      appName: 'vexil-bench',
      refreshInterval: 0,
      disableMetrics: true,
      storageProvider: new InMemStorageProvider(),
      bootstrap: { data: features },
      skipInstanceCountWarning: true,
    });
    u.on('error', () => {}); // the dead URL; bootstrap data serves
    u.on('warn', () => {});
    u.once('ready', () => resolve(u));
    setTimeout(() => reject(new Error('unleash-client was not ready in 60 s')), 60_000).unref();
  });
}

const vexilContext = (i) => {
  const [country, plan] = attributes(i);
  return { key: `user-${i}`, country, plan };
};
const unleashContext = (i) => {
  const [country, plan] = attributes(i);
  return { userId: `user-${i}`, properties: { country, plan } };
};

// ---- evaluations ------------------------------------------------------------

function expectedShare(flag, country) {
  if (country === 'NZ' || country === 'AU') return 0.5;
  if (flag === 'rollout_in') return 0;
  if (country === 'DE' || country === 'GB') return 2 / 3 + 0.1 / 3;
  return 0.1;
}

/** Both engines enable the expected share (±5 points) of each country's users, for both flags. */
function checkEquivalent(vexil, unleash, n) {
  const shares = [];
  for (const flag of FLAGS) {
    for (const country of COUNTRIES) {
      let users = 0;
      let v = 0;
      let u = 0;
      for (let i = 0; i < n; i++) {
        if (attributes(i)[0] !== country) continue;
        users++;
        if (vexil.boolValue(flag, vexilContext(i), false)) v++;
        if (unleash.isEnabled(flag, unleashContext(i))) u++;
      }
      const want = expectedShare(flag, country);
      for (const [engine, got] of [['vexil', v / users], ['unleash-client', u / users]]) {
        if (Math.abs(got - want) > 0.05) {
          throw new Error(`${flag}: ${engine} enables ${got.toFixed(3)} of ${country} users, expected ${want.toFixed(3)}`);
        }
      }
      shares.push({ flag, country, vexil: v / users, unleash: u / users });
    }
  }
  return shares;
}

/** Median ns per call of `fn(i)` over `rounds` rounds of `calls` calls. */
function measure(fn, calls, rounds) {
  let sink = 0;
  for (let i = 0; i < Math.min(calls, 200_000); i++) sink += fn(i % 10_000) ? 1 : 0; // warm up (JIT)
  const perRound = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += fn(i % 10_000) ? 1 : 0;
    perRound.push(Number(process.hrtime.bigint() - t0) / calls);
  }
  perRound.sort((a, b) => a - b);
  if (sink < 0) console.error(sink);
  return perRound[Math.floor(rounds / 2)];
}

async function evaluations() {
  const { cacheFile, dir } = vexilClient(vexilFlags());
  const vexil = startVexil(cacheFile);
  const unleash = await startUnleash(unleashFeatures());
  const shares = checkEquivalent(vexil, unleash, 100_000);
  const vctx = Array.from({ length: 10_000 }, (_, i) => vexilContext(i));
  // The same users as prepared contexts (converted once): same answers first.
  const vprep = vctx.map((c) => new PreparedContext(c));
  for (const flag of FLAGS) {
    for (let i = 0; i < vctx.length; i++) {
      if (vexil.boolValue(flag, vprep[i], false) !== vexil.boolValue(flag, vctx[i], false)) {
        throw new Error(`${flag}: user ${i} answers differently through a PreparedContext`);
      }
    }
  }
  const uctx = Array.from({ length: 10_000 }, (_, i) => unleashContext(i));
  const calls = Number(process.env.BENCH_CALLS || 500_000);
  const rounds = Number(process.env.BENCH_ROUNDS || 7);
  const out = { calls, rounds, node: process.version, shares, flags: {} };
  for (const flag of FLAGS) {
    out.flags[flag] = {
      vexil: measure((i) => vexil.boolValue(flag, vctx[i], false), calls, rounds),
      vexilPrepared: measure((i) => vexil.boolValue(flag, vprep[i], false), calls, rounds),
      unleash: measure((i) => unleash.isEnabled(flag, uctx[i]), calls, rounds),
      vexilDetail: measure((i) => vexil.boolDetail(flag, vctx[i], false).value, calls, rounds),
    };
  }
  await vexil.close();
  unleash.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

// ---- cold start and memory ----------------------------------------------------
// Inputs are written by another process (`prepare`), so the measuring
// process starts clean: each engine reads its 10,000 flags from a file
// (Vexil its cache file, Unleash a features document) and is measured from
// there to its first evaluation; memory is what the process holds after.

const gc = () => global.gc && (global.gc(), global.gc());
const mib = (b) => Math.round((b / 1048576) * 10) / 10;

function prepare(dir, n) {
  const keys = Array.from({ length: n - 1 }, (_, i) => `flag-${i}`);
  writeCacheFile(path.join(dir, 'vexil-cache.json'), { id: 1, flags: vexilFlags(keys), segments: [] });
  fs.writeFileSync(path.join(dir, 'unleash-features.json'), JSON.stringify(unleashFeatures(keys)));
  return { dir, flags: n };
}

async function coldstart(engine, dir) {
  gc();
  const before = process.memoryUsage();
  const t0 = process.hrtime.bigint();
  let client;
  if (engine === 'vexil') {
    client = startVexil(path.join(dir, 'vexil-cache.json'));
  } else {
    const features = JSON.parse(fs.readFileSync(path.join(dir, 'unleash-features.json'), 'utf8'));
    client = await startUnleash(features);
  }
  // The first evaluation answers from the full state.
  const first =
    engine === 'vexil' ? client.boolValue('flag-0', vexilContext(0), false) : client.isEnabled('flag-0', unleashContext(0));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  gc();
  const after = process.memoryUsage();
  const flags = engine === 'vexil' ? Object.keys(client.allFlags(null)).length : client.getFeatureToggleDefinitions().length;
  return {
    engine,
    flags,
    startMs: Math.round(ms * 10) / 10,
    firstEvaluation: first,
    rssMiB: mib(after.rss - before.rss),
    heapMiB: mib(after.heapUsed - before.heapUsed),
  };
}

async function main() {
  const [mode, engine] = process.argv.slice(2);
  let out;
  if (mode === 'evaluations') out = await evaluations();
  else if (mode === 'prepare') out = prepare(engine, 10_000);
  else if (mode === 'coldstart' && (engine === 'vexil' || engine === 'unleash')) out = await coldstart(engine, process.argv[4]);
  else throw new Error('usage: node eval.js evaluations | prepare DIR | coldstart vexil|unleash DIR');
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
