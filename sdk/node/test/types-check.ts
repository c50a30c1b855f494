// Compiled (not run) by scripts/test.d/61-sdk-node.sh with `tsc --noEmit`
// against the installed package: the types must describe a real program.
import {
  Client,
  InvalidContextError,
  NotReadyError,
  PreparedContext,
  writeCacheFile,
  type EvaluationDetail,
  type StatusDetail,
} from '@vexil/sdk';
import { VexilProvider } from '@vexil/sdk/openfeature';
import { OpenFeature } from '@openfeature/server-sdk';

async function main(): Promise<void> {
  writeCacheFile('/tmp/cache.json', { id: 1, flags: [], segments: [] });
  const client = new Client({ urls: ['http://127.0.0.1:7070'], sdkToken: 'vxl_sdk_x', cacheFile: '/tmp/cache.json' });
  client.on('status', (s: StatusDetail) => console.log(s.status, s.reason, s.since?.toISOString()));
  client.on('change', (c) => console.log(c.key, c.version ?? 'deleted', c.id));
  try {
    await client.waitUntilReady(1000);
  } catch (e) {
    if (e instanceof NotReadyError) console.log(e.status.status);
  }
  const on: boolean = client.boolValue('f', { key: 'u', country: 'NZ', age: 42, groups: ['a'], when: new Date() });
  const d: EvaluationDetail<string> = client.stringDetail('s', null, 'x');
  try {
    const user = new PreparedContext({ key: 'u', plan: 'pro' });
    const again: boolean = client.boolValue('f', user, false);
    console.log(again, user.toJSON().attributes.plan, client.boolDetail('f', user).reason);
  } catch (e) {
    if (e instanceof InvalidContextError) console.log(e.message);
  }
  const n: number = client.numberValue('n', undefined, 1);
  const j = client.jsonValue<{ columns: number }>('layout', {}, { columns: 1 });
  console.log(on, d.variant, d.errorCode, n, j.columns, Object.keys(client.allFlags({ key: 'u' })));
  await OpenFeature.setProviderAndWait(new VexilProvider(client));
  console.log(await OpenFeature.getClient().getBooleanValue('f', false, { targetingKey: 'u' }));
  const sent: boolean = await client.flushMetrics();
  console.log(sent, client.status === 'ready');
  await client.close();
}

void main();
