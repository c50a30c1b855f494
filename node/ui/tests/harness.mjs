// Shared by the browser tests: Debian's Chromium through playwright-core, a
// page that fails its test on any console error, page error, failed request
// or unexpected HTTP error, and a small API client for fixtures.
//
// Environment (set by scripts/test.d/20-ui.sh):
//   VEXIL_URL          the node the browser uses, e.g. http://127.0.0.1:7480
//   VEXIL_NODES        every node, `1=http://…,2=http://…` (default: VEXIL_URL)
//   VEXIL_PIDS         their process ids, in the same order (for the node-down test)
//   VEXIL_ADMIN_TOKEN  its admin token
//   VEXIL_ARTIFACTS    where screenshots go (default: <repo>/artifacts/ui)
//   VEXIL_UI_FROM_DISK set to 1 while developing the UI: pages load node/ui/
//                      from disk instead of the binary, so no rebuild is needed

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.VEXIL_URL || 'http://127.0.0.1:7470';
/** Every node of the cluster under test: `[{id, url, pid}]` (pid when known). */
export const NODES = (() => {
  const pids = (process.env.VEXIL_PIDS || '').split(',').filter(Boolean).map(Number);
  const list = (process.env.VEXIL_NODES || `1=${BASE}`).split(',').filter(Boolean);
  return list.map((entry, i) => {
    const [id, url] = entry.split(/=(.*)/s);
    return { id: Number(id), url, pid: pids[i] };
  });
})();
export const ADMIN = process.env.VEXIL_ADMIN_TOKEN || 'admin-token-0123456789';
const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = process.env.VEXIL_ARTIFACTS || path.resolve(here, '../../../artifacts/ui');

/** Every wait in the tests is bounded by this (ms). */
export const WAIT = 10_000;

let browser = null;

// playwright's launch() gives Chromium a fresh temporary --user-data-dir of
// its own (and refuses one passed in args), removed on close.
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    timeout: 30_000,
    args: [
      '--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * Clicks "Save changes" and, in a production environment (the UI asks
 * there first), confirms: checks that the question names the environment.
 */
export async function saveChanges(page, { production = true } = {}) {
  await page.getByTestId('save').click();
  if (!production) return;
  const dialog = page.getByRole('dialog');
  await dialog.getByText(/is a production environment/).waitFor({ timeout: WAIT });
  await dialog.getByTestId('confirm').click();
}

/**
 * A fresh browser context and page, signed in with `token` (null: not
 * signed in). Every HTTP answer >= 400 fails the test unless it matches one
 * of `allow` (`{status, url: RegExp}`), and so does any console error, page
 * error or failed request (but not one the browser cancels itself). The
 * check runs when the test ends.
 */
export async function openPage(t, { token = ADMIN, allow = [], viewport = { width: 1360, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(WAIT);
  if (token) {
    // Signed in as if the token had been pasted once in this tab.
    await context.addInitScript((tok) => {
      if (!sessionStorage.getItem('test.seeded')) {
        sessionStorage.setItem('test.seeded', '1');
        sessionStorage.setItem('vexil.token', tok);
      }
    }, token);
  }
  if (process.env.VEXIL_UI_FROM_DISK === '1') await serveFromDisk(context);
  const page = await context.newPage();
  const problems = [];
  let closed = false;
  const allowed = (status, url) => allow.some((a) => a.status === status && a.url.test(url));
  page.on('response', (r) => {
    if (closed || r.status() < 400) return;
    if (!allowed(r.status(), r.url())) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (closed || m.type() !== 'error') return;
    // Chromium reports every HTTP error as a console error too; the
    // response listener above has already judged those.
    if (/^Failed to load resource: the server responded with a status of \d+/.test(m.text())) return;
    problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => { if (!closed) problems.push(`page error: ${e.message}`); });
  page.on('requestfailed', (r) => {
    if (closed) return;
    const why = r.failure()?.errorText;
    // ERR_ABORTED is the browser cancelling its own request, most often the
    // favicon fetch still in flight when a test reloads or navigates. It says
    // nothing about the server: refused connections and resets have their
    // own codes, and HTTP errors are judged by the response listener.
    if (why === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.method()} ${r.url()} (${why})`);
  });
  const check = () => assert.deepEqual(problems, [], 'the page logged errors or failed requests');
  t.after(async () => {
    closed = true;
    await context.close();
  });
  return { page, context, problems, check };
}

const TYPES = { js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml', html: 'text/html' };

async function serveFromDisk(context) {
  const root = path.resolve(here, '..');
  await context.route((url) => url.origin === new URL(BASE).origin && (url.pathname === '/' || url.pathname.startsWith('/ui/')), (route) => {
    const rel = new URL(route.request().url()).pathname.replace(/^\/(ui\/)?/, '') || 'index.html';
    route.fulfill({ status: 200, contentType: TYPES[rel.split('.').pop()], body: fs.readFileSync(path.join(root, rel)) });
  });
}

/**
 * Waits until the page at `path` (e.g. `/flags/x`) has rendered and its
 * first requests have answered: the shell sets `body[data-ready]`.
 */
export async function ready(page, path) {
  await page.locator(`body[data-ready="${path}"]`).waitFor({ state: 'attached' });
}

/**
 * Runs `action` (a click that navigates, even to the same page with a new
 * query) and waits until the page at `path` has been rendered anew.
 */
export async function navigating(page, path, action) {
  const before = await page.evaluate(() => Number(document.body.dataset.routes || 0));
  await action();
  await page.waitForFunction(([p, n]) => document.body.dataset.ready === p && Number(document.body.dataset.routes) > n, [path, before]);
}

/** Opens `hash` (e.g. `#/flags`) and waits for the page to be ready. */
export async function visit(page, hash) {
  await page.goto(`${BASE}/${hash}`);
  await ready(page, hash.replace(/^#/, '').split('?')[0]);
}

/** Saves a screenshot under artifacts/ui (scrolled to the top unless `keepScroll`). */
export async function shot(page, name, { fullPage = false, keepScroll = false } = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!keepScroll) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

/** Calls the API directly (fixtures and checks). Throws on an unexpected status. */
export async function api(method, p, body, { token = ADMIN, expect = null, headers = {} } = {}) {
  const resp = await fetch(`${BASE}${p}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(WAIT),
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  const ok = expect === null ? resp.ok : resp.status === expect;
  if (!ok) throw new Error(`${method} ${p} answered ${resp.status}: ${text}`);
  return data;
}

let counter = 0;
/** A key unique to this run: `prefix-<random>-<n>`. */
export function uniq(prefix) {
  counter += 1;
  return `${prefix}-${Math.random().toString(36).slice(2, 7)}${counter}`;
}

/** A boolean flag body with sensible defaults. */
export function boolFlag(key, extra = {}) {
  return {
    key, name: extra.name ?? key, kind: 'boolean', variations: [{ value: true }, { value: false }],
    off_variation: 1, fallthrough: { variation: 0 }, enabled: true, ...extra,
  };
}

/** A string flag with three variations. */
export function stringFlag(key, extra = {}) {
  return {
    key, name: extra.name ?? key, kind: 'string',
    variations: [{ value: 'alpha', name: 'Alpha' }, { value: 'beta', name: 'Beta' }, { value: 'gamma', name: 'Gamma' }],
    off_variation: 0, fallthrough: { variation: 0 }, enabled: true, ...extra,
  };
}

/** A token of `role`; resolves to its secret. */
export async function makeToken(role, name = uniq(`ui-${role}`)) {
  const t = await api('POST', '/v1/tokens', { name, role });
  return { name, secret: t.secret };
}

/** Waits (bounded) until `f()` resolves truthy; for state outside the page. */
export async function eventually(f, what, ms = WAIT) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await f();
    if (last) return last;
    await new Promise((r) => { setTimeout(r, 100); });
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
