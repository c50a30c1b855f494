'use strict';
// An Express handler gated on a Vexil flag, evaluated locally.
//
//   VEXIL_URLS=http://127.0.0.1:7070 VEXIL_SDK_TOKEN=vxl_sdk_… node examples/express.js
//   curl -H 'x-user-id: user-42' -H 'x-country: NZ' http://127.0.0.1:3000/checkout
//
// VEXIL_CACHE_FILE (optional) keeps the last known flags on disk, so the
// service starts with them even when no node answers. PORT=0 picks a free port.

const express = require('express');
const { Client } = require('@vexil/sdk');

const vexil = new Client({
  urls: (process.env.VEXIL_URLS || 'http://127.0.0.1:7070').split(','),
  sdkToken: process.env.VEXIL_SDK_TOKEN || '',
  cacheFile: process.env.VEXIL_CACHE_FILE || undefined,
});
vexil.on('status', (s) => console.log(`vexil: ${s.status}${s.reason ? ` (${s.reason})` : ''}`));

const app = express();

app.get('/checkout', (req, res) => {
  // Who is asking, as a Vexil context: `key` is the targeting key.
  const user = { key: req.get('x-user-id') || 'anonymous', country: req.get('x-country') };
  // Reads memory only; on any problem it serves the default (false).
  if (vexil.boolValue('new-checkout', user, false)) {
    res.json({ checkout: 'new', steps: 1 });
  } else {
    res.json({ checkout: 'classic', steps: 3 });
  }
});

async function main() {
  // Serve at once from the cache file if there is one; else wait a little
  // for the first state (evaluation serves defaults until then).
  if (vexil.status !== 'stale') {
    await vexil.waitUntilReady(5000).catch((e) => console.warn(e.message));
  }
  const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
  process.once('SIGTERM', () => {
    server.close();
    vexil.close().finally(() => process.exit(0));
  });
}

main();
