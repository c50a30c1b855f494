'use strict';
// Shared by the tests: bounded waits, temp dirs, cache files, and flags.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Rejects after `ms`, so no wait is unbounded. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the first `event` from `emitter` for which `pred` holds. */
function next(emitter, event, pred = () => true) {
  return new Promise((resolve) => {
    const on = (v) => {
      if (!pred(v)) return;
      emitter.off(event, on);
      resolve(v);
    };
    emitter.on(event, on);
  });
}

const tempDirs = [];
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the process exits. */
function tempDir(prefix = 'vexil-node-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A boolean flag: variation 0 is `true` (named "on"), 1 is `false`. */
function boolFlag(key, extra = {}) {
  return {
    key,
    kind: 'boolean',
    enabled: true,
    off_variation: 1,
    variations: [{ value: true, name: 'on' }, { value: false }],
    fallthrough: { variation: 0 },
    ...extra,
  };
}

/** Where the shared conformance suite is (the repo's sdk/conformance). */
function conformanceDir() {
  return process.env.VEXIL_CONFORMANCE_DIR || path.join(__dirname, '..', '..', 'conformance');
}

/** A port nothing listens on (a node that is down). */
const DEAD_URL = 'http://127.0.0.1:9';

module.exports = { within, next, tempDir, boolFlag, conformanceDir, DEAD_URL };
