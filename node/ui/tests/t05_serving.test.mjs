// The node serves the UI itself: the page at `/`, modules under `/ui/`,
// with a Content-Security-Policy that allows this origin only; the API's
// JSON 404 still answers unknown `/v1/` routes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, NODES } from './harness.mjs';

test('every node serves the page and its files from the binary', async () => {
  for (const node of NODES) {
    const page = await fetch(`${node.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/ui\/js\/main\.js">/);
  }
  const js = await fetch(`${BASE}/ui/js/main.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const etag = js.headers.get('etag');
  const again = await fetch(`${BASE}/ui/js/main.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const css = await fetch(`${BASE}/ui/app.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${BASE}/ui/js/nope.js`)).status, 404);
});

test('unknown API routes still get the JSON 404', async () => {
  const r = await fetch(`${BASE}/v1/no-such-route`);
  assert.equal(r.status, 404);
  assert.match(r.headers.get('content-type'), /application\/json/);
  assert.equal((await r.json()).error, 'not_found');
});
