'use strict';
// examples/express.js serves the new checkout only where the flag says so.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { writeCacheFile } = require('@vexil/sdk');
const { tempDir, boolFlag, within, DEAD_URL } = require('./helpers.js');

test('the Express example gates /checkout on new-checkout', { timeout: 60_000 }, async (t) => {
  const cacheFile = path.join(tempDir(), 'cache.json');
  const flag = boolFlag('new-checkout', {
    rules: [{ id: 'nz', clauses: [{ attribute: 'country', operator: 'in', values: ['NZ'] }], serve: { variation: 0 } }],
    fallthrough: { variation: 1 },
  });
  writeCacheFile(cacheFile, { id: 1, flags: [flag], segments: [] });
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'express.js')], {
    env: { ...process.env, PORT: '0', VEXIL_URLS: DEAD_URL, VEXIL_SDK_TOKEN: 'vxl_sdk_example', VEXIL_CACHE_FILE: cacheFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    child.kill('SIGTERM');
    await within(10_000, 'the example exits', exited);
  });
  const url = await within(
    20_000,
    'the example listens',
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b) => {
        out += b;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${out}`)));
    }),
  );
  const get = (headers) => fetch(`${url}/checkout`, { headers, signal: AbortSignal.timeout(5000) }).then((r) => r.json());
  assert.deepEqual(await get({ 'x-user-id': 'u1', 'x-country': 'NZ' }), { checkout: 'new', steps: 1 });
  assert.deepEqual(await get({ 'x-user-id': 'u2', 'x-country': 'AU' }), { checkout: 'classic', steps: 3 });
  assert.deepEqual(await get({}), { checkout: 'classic', steps: 3 });
});
