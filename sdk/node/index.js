'use strict';
// @vexil/sdk: a Vexil client for Node.js. The protocol (streaming from any
// node, failover with backoff, polling fallback, the last-known-good cache
// file, metrics) and evaluation are the Rust SDK's, run by the native addon
// in native/vexil.node; this file is the JavaScript face of it: options
// checking, an EventEmitter, promises, and evaluation that never throws.

const { EventEmitter } = require('node:events');
const { encodeContext, InvalidContext } = require('./context.js');

function loadNative() {
  try {
    return require('./native/vexil.node');
  } catch (e) {
    throw new Error(
      `@vexil/sdk: cannot load its native addon native/vexil.node on ${process.platform}-${process.arch} ` +
        `(Node ${process.versions.node}): ${e.message}. The package carries an addon built for the platform ` +
        'it was packed on; build one for this platform with `npm run build` in the package (needs Rust).',
    );
  }
}
const native = loadNative();
/** `boolValueFast(slot, key, contextJson, default)`: the hot path (src/fast.rs). */
const fast = {};
native.installFastPath(fast);
const { boolValueFast, detailFast, prepareContext, boolValuePrepared } = fast;
/** detailFast's kinds. */
const KINDS = { boolDetail: 0, stringDetail: 1, numberDetail: 2, jsonDetail: 3 };
/** A slot no client has: a closed client's evaluations find nothing. */
const NO_SLOT = 0xffffffff;

/** Why `new PreparedContext()` refused a context (Vexil cannot take it). */
class InvalidContextError extends TypeError {
  constructor(message) {
    super(`@vexil/sdk: INVALID_CONTEXT: ${message}`);
    this.name = 'InvalidContextError';
  }
}

/** A prepared context's JSON (for the detail paths); set only by its constructor. */
const preparedJson = new WeakMap();

/**
 * A context converted once, for reuse across evaluations: a handler that
 * evaluates several flags for one user, or a service-wide context, skips
 * converting the object on every call (the larger part of a `boolValue`).
 * Its attributes are fixed when it is built; build a new one to change
 * them. Throws `InvalidContextError` for a context Vexil cannot take, so
 * the mistake shows where the context is made (evaluation itself never
 * throws).
 */
class PreparedContext {
  constructor(context) {
    if (context instanceof PreparedContext) return context;
    const json = encodeContext(context, 'key');
    if (json instanceof InvalidContext) throw new InvalidContextError(json.message);
    const refused = prepareContext(this, json);
    if (typeof refused === 'string') throw new InvalidContextError(refused);
    preparedJson.set(this, json);
    Object.freeze(this);
  }

  /** The context as `{key, attributes}` (the same shape as `decodeContext`). */
  toJSON() {
    return native.decodeContext(preparedJson.get(this));
  }
}

/** The JSON the addon decodes for `context`, or an `InvalidContext`. */
function contextJson(context) {
  if (!(context instanceof PreparedContext)) return encodeContext(context, 'key');
  const json = preparedJson.get(context);
  // Only something made with PreparedContext's prototype but not by its
  // constructor has none: refused, as boolValue refuses it.
  return json !== undefined ? json : new InvalidContext('not a context PreparedContext made');
}

/** Every option `new Client()` takes, with the check each must pass. */
const OPTIONS = {
  urls: 'one node URL (http://host:port) or a non-empty array of them',
  sdkToken: 'a non-empty string: a Vexil token with the sdk role',
  cacheFile: 'a file path (string)',
  connectTimeoutMs: 'a positive integer (milliseconds)',
  readTimeoutMs: 'a positive integer (milliseconds)',
  pollIntervalMs: 'a positive integer (milliseconds)',
  metricsFlushIntervalMs: 'a positive integer (milliseconds)',
  backoffInitialMs: 'a positive integer (milliseconds)',
  backoffMaxMs: 'a positive integer (milliseconds)',
  seed: 'an integer from 0 to 4294967295',
};
const MAX_U32 = 0xffffffff;

function bad(name, got) {
  const shown = typeof got === 'string' ? JSON.stringify(got) : typeof got === 'object' ? JSON.stringify(got) : String(got);
  return new TypeError(`@vexil/sdk: option "${name}" must be ${OPTIONS[name]}; got ${shown}`);
}

/** The options as the addon takes them; throws a TypeError naming a bad one. */
function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('@vexil/sdk: new Client(options) needs an options object with "urls" and "sdkToken"');
  }
  for (const name of Object.keys(options)) {
    if (!Object.prototype.hasOwnProperty.call(OPTIONS, name)) {
      throw new TypeError(`@vexil/sdk: unknown option "${name}" (options are: ${Object.keys(OPTIONS).join(', ')})`);
    }
  }
  const out = {};
  let urls = options.urls;
  if (typeof urls === 'string') urls = [urls];
  if (!Array.isArray(urls) || urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^http:\/\/./.test(u))) {
    throw bad('urls', options.urls);
  }
  out.urls = urls.slice();
  if (typeof options.sdkToken !== 'string' || options.sdkToken === '') {
    throw bad('sdkToken', options.sdkToken === undefined ? undefined : typeof options.sdkToken === 'string' ? '' : typeof options.sdkToken);
  }
  out.sdkToken = options.sdkToken;
  if (options.cacheFile !== undefined && options.cacheFile !== null) {
    if (typeof options.cacheFile !== 'string' || options.cacheFile === '') throw bad('cacheFile', options.cacheFile);
    out.cacheFile = options.cacheFile;
  }
  for (const name of Object.keys(OPTIONS)) {
    if (!name.endsWith('Ms') && name !== 'seed') continue;
    const v = options[name];
    if (v === undefined || v === null) continue;
    const min = name === 'seed' ? 0 : 1;
    if (!Number.isInteger(v) || v < min || v > MAX_U32) throw bad(name, v);
    out[name] = v;
  }
  if (out.backoffInitialMs !== undefined && out.backoffMaxMs !== undefined && out.backoffInitialMs > out.backoffMaxMs) {
    throw new TypeError(
      `@vexil/sdk: option "backoffInitialMs" (${out.backoffInitialMs}) must be at most "backoffMaxMs" (${out.backoffMaxMs})`,
    );
  }
  return out;
}

/** Rejected by `waitUntilReady` when the client is not ready in time. */
class NotReadyError extends Error {
  constructor(status, timeoutMs) {
    super(
      `@vexil/sdk: not ready after ${timeoutMs} ms (status ${status.status}${status.reason ? `: ${status.reason}` : ''})`,
    );
    this.name = 'NotReadyError';
    /** The client's status when the wait ended. */
    this.status = status;
  }
}

function statusOf(info) {
  return { status: info.status, reason: info.reason ?? null, since: info.since ? new Date(info.since) : null };
}

function errorDetail(defaultValue, errorCode, errorMessage) {
  return {
    value: defaultValue,
    variation: null,
    variant: null,
    reason: 'ERROR',
    errorCode,
    errorMessage,
    ruleId: null,
    ruleIndex: null,
    prerequisite: null,
    inRollout: false,
  };
}

/** The addon's client behind a `Client`, for `openfeature.js` only. */
const kNative = Symbol('vexil.native');

/**
 * A Vexil client: keeps a local copy of every flag, streamed from the
 * cluster, and evaluates from it. Events: `status` (a StatusDetail),
 * `change` (a FlagChange).
 */
class Client extends EventEmitter {
  #native;
  #slot;
  #closed = false;
  #closing = null;
  #flushTimeoutMs;
  /** The last status emitted, so repeats of one status are not re-emitted. */
  #lastStatus = '';

  constructor(options) {
    super();
    const checked = checkOptions(options);
    try {
      this.#native = new native.NativeClient(checked);
    } catch (e) {
      throw new TypeError(`@vexil/sdk: ${e.message}`);
    }
    this.#slot = this.#native.slot();
    this.#flushTimeoutMs = 2 * (checked.connectTimeoutMs ?? 2000) + 1000;
    this.#native.subscribe((event) => this.#onEvent(event));
  }

  #onEvent(event) {
    if (this.#closed || !event) return;
    if (event.kind === 'status') {
      const seen = `${event.status.status}\n${event.status.reason ?? ''}`;
      if (seen === this.#lastStatus) return;
      this.#lastStatus = seen;
      this.emit('status', statusOf(event.status));
    } else if (event.kind === 'change') {
      this.emit('change', { key: event.key, version: event.version ?? null, id: event.id });
    }
  }

  /** `initializing`, `ready`, `stale` or `offline`. */
  get status() {
    return this.#native.status().status;
  }

  /** The status with its reason, and since when the state is stale. */
  get statusDetail() {
    return statusOf(this.#native.status());
  }

  /** Why the cache file was not used (missing is not a reason), else null. */
  get cacheWarning() {
    return this.#native.cacheWarning() ?? null;
  }

  /** The node URL the client streams from (or last did). */
  get currentNode() {
    return this.#native.currentNode() ?? null;
  }

  /** The log index the local state is at; null before any state. */
  get stateId() {
    return this.#native.stateId() ?? null;
  }

  /**
   * Resolves once the client is `ready` (streaming or polling a current
   * state); rejects with a NotReadyError after `timeoutMs`. A client that
   * started from its cache file evaluates meanwhile (status `stale`).
   */
  waitUntilReady(timeoutMs = 5000) {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new RangeError(`@vexil/sdk: waitUntilReady(timeoutMs): ${timeoutMs} is not a duration in ms`));
    }
    if (this.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onStatus = (s) => {
        if (s.status !== 'ready' && this.status !== 'ready') return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        if (this.status === 'ready') resolve();
        else reject(new NotReadyError(this.statusDetail, timeoutMs));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.off('status', onStatus);
      };
      this.on('status', onStatus);
    });
  }

  /** A boolean flag's value; `defaultValue` on any error. Never throws. */
  boolValue(key, context, defaultValue = false) {
    if (typeof defaultValue !== 'boolean') return this.boolDetail(key, context, defaultValue).value;
    if (typeof key !== 'string') return defaultValue;
    if (context instanceof PreparedContext) return boolValuePrepared(this.#slot, key, context, defaultValue);
    const ctx = encodeContext(context, 'key');
    if (typeof ctx !== 'string') return defaultValue;
    return boolValueFast(this.#slot, key, ctx, defaultValue);
  }

  boolDetail(key, context, defaultValue = false) {
    return this.#detail('boolDetail', key, context, defaultValue);
  }

  stringValue(key, context, defaultValue = '') {
    return this.#detail('stringDetail', key, context, defaultValue).value;
  }

  stringDetail(key, context, defaultValue = '') {
    return this.#detail('stringDetail', key, context, defaultValue);
  }

  numberValue(key, context, defaultValue = 0) {
    return this.#detail('numberDetail', key, context, defaultValue).value;
  }

  numberDetail(key, context, defaultValue = 0) {
    return this.#detail('numberDetail', key, context, defaultValue);
  }

  /** Any flag's value as JSON (objects, arrays, strings, numbers, booleans). */
  jsonValue(key, context, defaultValue = null) {
    return this.#detail('jsonDetail', key, context, defaultValue).value;
  }

  jsonDetail(key, context, defaultValue = null) {
    return this.#detail('jsonDetail', key, context, defaultValue);
  }

  #detail(method, key, context, defaultValue) {
    if (typeof key !== 'string') {
      return errorDetail(defaultValue, 'GENERAL', `a flag key is a string, not ${typeof key}`);
    }
    const ctx = contextJson(context);
    if (ctx instanceof InvalidContext) return errorDetail(defaultValue, 'INVALID_CONTEXT', ctx.message);
    try {
      const d = JSON.parse(detailFast(this.#slot, KINDS[method], key, ctx));
      // No variation served (an error): the caller's default.
      if (d.variation === null) d.value = defaultValue;
      return d;
    } catch (e) {
      return errorDetail(defaultValue, 'GENERAL', String(e && e.message));
    }
  }

  /** Every flag's detail for `context`, as an object keyed by flag key. */
  allFlags(context) {
    const ctx = contextJson(context);
    try {
      if (ctx instanceof InvalidContext) {
        const out = this.#native.allFlags('{}');
        for (const k of Object.keys(out)) out[k] = errorDetail(null, 'INVALID_CONTEXT', ctx.message);
        return out;
      }
      return this.#native.allFlags(ctx);
    } catch {
      return {};
    }
  }

  /** Sends the evaluation counts now; resolves to whether a node took them. */
  flushMetrics() {
    return new Promise((resolve) => {
      try {
        this.#native.flushMetrics((sent) => resolve(sent === true));
      } catch {
        resolve(false);
      }
    });
  }

  /**
   * Sends the last evaluation counts (waiting a few seconds at most), then
   * stops streaming. Evaluation afterwards serves defaults. Idempotent.
   */
  close() {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      let timer;
      const bounded = new Promise((resolve) => {
        timer = setTimeout(resolve, this.#flushTimeoutMs);
      });
      await Promise.race([this.flushMetrics(), bounded]);
      clearTimeout(timer);
      this.#closed = true;
      this.#slot = NO_SLOT;
      this.#native.close();
    })();
    return this.#closing;
  }

  /** The addon's client (for `@vexil/sdk/openfeature`). */
  [kNative]() {
    return this.#native;
  }
}

/**
 * Writes a cache file in the SDK's format from a change-feed snapshot
 * (`{id, flags, segments}`), so a client can start with every node down:
 * for tools, tests and bootstrapping.
 */
function writeCacheFile(path, state) {
  if (typeof path !== 'string' || path === '') throw new TypeError('@vexil/sdk: writeCacheFile(path, state): path must be a string');
  if (state === null || typeof state !== 'object') {
    throw new TypeError('@vexil/sdk: writeCacheFile(path, state): state must be a snapshot object {id, flags, segments}');
  }
  native.writeCacheFile(path, JSON.stringify(state));
}

/** How the addon reads a context (`{key, attributes}`); throws for one Vexil cannot take. For tests. */
function decodeContext(context) {
  const ctx = contextJson(context);
  if (ctx instanceof InvalidContext) throw new TypeError(`INVALID_CONTEXT: ${ctx.message}`);
  return native.decodeContext(ctx);
}

module.exports = {
  Client,
  PreparedContext,
  InvalidContextError,
  NotReadyError,
  writeCacheFile,
  decodeContext,
  kNative,
};
