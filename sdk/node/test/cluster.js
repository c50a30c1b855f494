'use strict';
// A real local cluster for the tests, through `vexil-cluster` (127.0.0.1
// only). The binaries come from $VEXIL_BIN_DIR, else the workspace's dev
// build ($CARGO_TARGET_DIR/debug, default ~/.cache/vexil/target/debug).

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function binDir() {
  if (process.env.VEXIL_BIN_DIR) return process.env.VEXIL_BIN_DIR;
  const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'vexil', 'target');
  return path.join(target, 'debug');
}

/** Why a cluster cannot be started here, or null. */
function missingBinaries() {
  for (const name of ['vexil', 'vexil-cluster']) {
    const p = path.join(binDir(), name);
    if (!fs.existsSync(p)) return `${p} is not built (cargo build --workspace --bins)`;
  }
  return null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Cluster {
  constructor(n) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vexil-node-cluster-'));
    this.adminToken = `node-sdk-admin-${crypto.randomBytes(12).toString('hex')}`;
    this.env = {
      ...process.env,
      VEXIL_ADMIN_TOKEN: this.adminToken,
      VEXIL_CLUSTER_SECRET: `node-sdk-secret-${crypto.randomBytes(12).toString('hex')}`,
    };
    this.#cli(['up', String(n)], 120_000);
    const saved = JSON.parse(fs.readFileSync(path.join(this.dir, 'cluster.json'), 'utf8'));
    /** id → API URL */
    this.urls = {};
    for (const [id, node] of Object.entries(saved.nodes)) this.urls[id] = `http://${node.api}`;
  }

  #cli(args, timeout = 60_000) {
    return execFileSync(path.join(binDir(), 'vexil-cluster'), ['--dir', this.dir, '--bin', path.join(binDir(), 'vexil'), ...args], {
      env: this.env,
      timeout,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  }

  /** Every node's URL. */
  allUrls() {
    return Object.values(this.urls);
  }

  /** The id of the node at `url`. */
  idOf(url) {
    return Object.keys(this.urls).find((id) => this.urls[id] === url);
  }

  /** SIGKILL one node. */
  kill(id) {
    this.#cli(['kill', String(id)]);
    delete this.urls[id];
  }

  /** Stops every node (and waits until they have exited). */
  down() {
    try {
      this.#cli(['down'], 60_000);
    } finally {
      this.urls = {};
    }
  }

  /** Stops what is left and removes the directory. */
  destroy() {
    try {
      this.down();
    } catch {
      // already down, or never up
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The leader's id once the live nodes agree on one; waits up to `ms`. */
  async leader(ms = 30_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const views = await Promise.all(
        Object.values(this.urls).map((u) =>
          fetch(`${u}/readyz`, { signal: AbortSignal.timeout(2000) })
            .then((r) => (r.ok ? r.json() : null))
            .catch(() => null),
        ),
      );
      const ids = views.map((v) => v && v.leader);
      if (ids.length > 0 && ids[0] != null && ids.every((l) => l === ids[0]) && this.urls[String(ids[0])]) {
        return String(ids[0]);
      }
      await sleep(100); // polling the nodes' own view, bounded by the deadline
    }
    throw new Error(`no leader agreed within ${ms} ms`);
  }

  /** An admin request at `url`; the parsed body, or throws with the status. */
  async api(url, method, p, body, idempotencyKey) {
    const headers = { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' };
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const res = await fetch(`${url}${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p} at ${url}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * An admin write made at the leader, retried (up to `ms`) while one is
   * elected; one idempotency key for every try, so a retry never applies twice.
   */
  async atLeader(method, p, body, ms = 30_000) {
    const deadline = Date.now() + ms;
    const key = crypto.randomUUID();
    for (;;) {
      try {
        const leader = await this.leader(Math.max(1000, deadline - Date.now()));
        return await this.api(this.urls[leader], method, p, body, key);
      } catch (e) {
        if (Date.now() > deadline || /: 4\d\d /.test(e.message)) throw e;
        await sleep(100);
      }
    }
  }
}

module.exports = { Cluster, missingBinaries };
