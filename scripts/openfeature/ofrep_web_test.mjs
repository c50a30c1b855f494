// Vexil's OFREP endpoints under the real OpenFeature web SDK and its OFREP
// provider (npm `@openfeature/web-sdk`, `@openfeature/ofrep-web-provider`),
// in Node with `eventsource` as the global EventSource.
//
// Run by scripts/test.d/30-openfeature.sh against a running node seeded with
// flags.json; reads VEXIL_URL, VEXIL_SDK_TOKEN and VEXIL_ADMIN_TOKEN. Checks
// bulk evaluation, ETag/304 (at the HTTP level too), and that a change made
// through the admin API reaches the client over SSE within a second. Every
// wait is bounded; exits non-zero on any failure.

import { EventSource } from 'eventsource';
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

globalThis.EventSource = EventSource;

const URL_ = process.env.VEXIL_URL;
const SDK = process.env.VEXIL_SDK_TOKEN;
const ADMIN = process.env.VEXIL_ADMIN_TOKEN;

let passed = 0;
const failures = [];
const check = (name, got, want) => {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g === w) passed++;
  else failures.push(`${name}: got ${g}, want ${w}`);
};

/** Rejects after `ms`, so no wait is unbounded. */
const within = (ms, what, promise) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)),
  ]);

/** Every request the provider makes: what it sent and what came back. */
const seen = [];
const recordingFetch = async (req, init) => {
  const res = await fetch(req, init);
  seen.push({
    url: req.url,
    ifNoneMatch: req.headers.get('if-none-match'),
    status: res.status,
    etag: res.headers.get('etag'),
  });
  return res;
};

const bulk = (ctx, ifNoneMatch) =>
  fetch(`${URL_}/ofrep/v1/evaluate/flags`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${SDK}`,
      'content-type': 'application/json',
      ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}),
    },
    body: JSON.stringify({ context: ctx }),
  });

async function httpLevelEtag() {
  const first = await within(5000, 'bulk', bulk({ targetingKey: 'u1' }));
  const etag = first.headers.get('etag');
  const body = await first.json();
  check('bulk status', first.status, 200);
  check('bulk lists every flag', body.flags.map((f) => f.key).includes('of-live'), true);
  check('bulk event stream type', body.eventStreams?.[0]?.type, 'sse');
  const again = await within(5000, 'bulk 304', bulk({ targetingKey: 'u1' }, etag));
  check('If-None-Match gives 304', [again.status, again.headers.get('etag'), await again.text()], [304, etag, '']);
  const other = await within(5000, 'bulk other', bulk({ targetingKey: 'vip' }, etag));
  check('another context, another ETag', other.status === 200 && other.headers.get('etag') !== etag, true);
  await other.body?.cancel();
}

async function main() {
  const started = performance.now();
  await httpLevelEtag();

  const provider = new OFREPWebProvider({
    baseUrl: URL_,
    headers: [['Authorization', `Bearer ${SDK}`]],
    cacheMode: 'disabled',
    fetchImplementation: recordingFetch,
  });
  await OpenFeature.setContext({ targetingKey: 'u1', country: 'NZ' });
  await within(5000, 'provider ready', OpenFeature.setProviderAndWait(provider));
  const client = OpenFeature.getClient();

  // Bulk evaluation: every type, answered from the provider's cache.
  let d = client.getBooleanDetails('of-bool-static', false);
  check('boolean static', [d.value, d.variant, d.reason], [true, 'on', 'STATIC']);
  d = client.getStringDetails('of-string-targeted', 'dflt');
  check('string default', [d.value, d.variant, d.reason], ['plain', '0', 'DEFAULT']);
  d = client.getNumberDetails('of-int', 0);
  check('number targeted', [d.value, d.variant, d.reason], [7, 'nz', 'TARGETING_MATCH']);
  check('rule id in metadata', d.flagMetadata.ruleId, 'nz');
  d = client.getObjectDetails('of-object', {});
  check('object rolled out', [d.reason, typeof d.value.cols], ['SPLIT', 'number']);
  d = client.getBooleanDetails('of-disabled', true);
  check('disabled', [d.value, d.variant, d.reason], [false, 'off', 'DISABLED']);
  d = client.getBooleanDetails('no-such-flag', true);
  check('missing flag', [d.value, d.reason, d.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);
  d = client.getBooleanDetails('of-string-targeted', true);
  check('wrong type', [d.value, d.errorCode], [true, 'TYPE_MISMATCH']);
  const initial = seen.at(-1);
  check('initial bulk fetch', [initial.status, initial.etag !== null], [200, true]);

  // ETag through the provider: a context change that alters no answer is a 304.
  await within(5000, 'context change', OpenFeature.setContext({ targetingKey: 'u1', country: 'NZ', tab: 'home' }));
  const refetch = seen.at(-1);
  check('provider sends If-None-Match', refetch.ifNoneMatch, initial.etag);
  check('provider gets 304', refetch.status, 304);

  // A change through the admin API reaches the client over the SSE refetch.
  const changed = new Promise((resolve) =>
    client.addHandler(ProviderEvents.ConfigurationChanged, (e) => {
      if (e?.flagsChanged?.includes('of-live')) resolve(performance.now());
    }),
  );
  check('before the change', client.getBooleanValue('of-live', false), true);
  const t0 = performance.now();
  const toggle = await within(5000, 'admin toggle', fetch(`${URL_}/v1/flags/of-live/toggle`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ enabled: false }),
  }));
  const committed = performance.now();
  check('admin toggle', toggle.status, 200);
  const seenAt = await within(5000, 'ConfigurationChanged over SSE', changed);
  const latency = seenAt - t0;
  d = client.getBooleanDetails('of-live', true);
  check('after the change', [d.value, d.reason], [false, 'DISABLED']);
  check(`change reached the client in ${latency.toFixed(0)} ms (< 1000)`, latency < 1000, true);
  const sse = seen.at(-1);
  check('the SSE-triggered refetch carries flagConfigEtag', sse.url.includes('flagConfigEtag='), true);
  check('the SSE-triggered refetch is a 200', sse.status, 200);

  await within(5000, 'close', OpenFeature.close());
  for (const f of failures) console.error(`FAIL ${f}`);
  const total = ((performance.now() - started) / 1000).toFixed(2);
  console.log(
    `SSE change: commit ${(committed - t0).toFixed(0)} ms, seen by the client ${latency.toFixed(0)} ms after the admin request`,
  );
  console.log(`javascript openfeature client: ${passed} passed, ${failures.length} failed (${total} s)`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`FAIL ${err?.stack ?? err}`);
    process.exit(1);
  },
);
