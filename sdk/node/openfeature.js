'use strict';
// An OpenFeature provider for @openfeature/server-sdk that evaluates
// locally, with a Vexil Client. Reasons, error codes, variants and flag
// metadata come from the Rust SDK's provider, so they map exactly as
// ARCHITECTURE.md's OpenFeature table says, for every Vexil SDK:
//   OFF → DISABLED, TARGET_MATCH → TARGETING_MATCH, RULE_MATCH →
//   TARGETING_MATCH (SPLIT when a rollout chose), FALLTHROUGH → SPLIT,
//   STATIC or DEFAULT, PREREQUISITE_FAILED → DEFAULT; errors as
//   FLAG_NOT_FOUND, PARSE_ERROR, TYPE_MISMATCH, TARGETING_KEY_MISSING,
//   INVALID_CONTEXT, PROVIDER_NOT_READY, GENERAL.
// The context's `targetingKey` is Vexil's `key`; other attributes map as
// context.js says, and an attribute named `key` is INVALID_CONTEXT.

const { OpenFeatureEventEmitter, ProviderEvents } = require('@openfeature/server-sdk');
const { Client, kNative } = require('./index.js');
const { encodeContext, InvalidContext } = require('./context.js');

class VexilProvider {
  /**
   * @param clientOrOptions a Client, or the options to make one (the
   *   provider then owns it and closes it in onClose).
   * @param options.initTimeoutMs how long initialize waits for a first
   *   state, fresh or from the cache file (5000 by default).
   */
  constructor(clientOrOptions, { initTimeoutMs = 5000 } = {}) {
    if (!Number.isFinite(initTimeoutMs) || initTimeoutMs < 0) {
      throw new TypeError(`@vexil/sdk: VexilProvider option "initTimeoutMs" must be a duration in ms; got ${initTimeoutMs}`);
    }
    this.metadata = { name: 'Vexil' };
    this.runsOn = 'server';
    this.hooks = [];
    this.events = new OpenFeatureEventEmitter();
    this.#owned = !(clientOrOptions instanceof Client);
    this.client = this.#owned ? new Client(clientOrOptions) : clientOrOptions;
    this.#initTimeoutMs = initTimeoutMs;
    this.client.on('change', this.#onChange);
    this.client.on('status', this.#onStatus);
  }

  #owned;
  #initTimeoutMs;
  #initialized = false;

  #onChange = (change) => {
    this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [change.key] });
  };

  #onStatus = (s) => {
    if (!this.#initialized) return;
    if (s.status === 'ready') this.events.emit(ProviderEvents.Ready);
    else if (s.status === 'stale') this.events.emit(ProviderEvents.Stale, { message: s.reason ?? undefined });
    else if (s.status === 'offline') this.events.emit(ProviderEvents.Error, { message: s.reason ?? undefined });
  };

  /** Waits until the client has a state (ready, or stale from its cache file). */
  async initialize() {
    const loaded = () => this.client.status === 'ready' || this.client.status === 'stale';
    if (!loaded()) {
      await new Promise((resolve, reject) => {
        const onStatus = () => {
          if (loaded()) finish(resolve);
        };
        const timer = setTimeout(() => {
          if (loaded()) finish(resolve);
          else {
            const s = this.client.statusDetail;
            finish(() => reject(new Error(`Vexil has no flags after ${this.#initTimeoutMs} ms (${s.status}: ${s.reason ?? 'no node answered'})`)));
          }
        }, this.#initTimeoutMs);
        const finish = (then) => {
          clearTimeout(timer);
          this.client.off('status', onStatus);
          then();
        };
        this.client.on('status', onStatus);
      });
    }
    this.#initialized = true;
  }

  async onClose() {
    this.client.off('change', this.#onChange);
    this.client.off('status', this.#onStatus);
    if (this.#owned) await this.client.close();
  }

  resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return Promise.resolve(this.#resolve('boolean', flagKey, defaultValue, context));
  }

  resolveStringEvaluation(flagKey, defaultValue, context) {
    return Promise.resolve(this.#resolve('string', flagKey, defaultValue, context));
  }

  resolveNumberEvaluation(flagKey, defaultValue, context) {
    return Promise.resolve(this.#resolve('number', flagKey, defaultValue, context));
  }

  resolveObjectEvaluation(flagKey, defaultValue, context) {
    return Promise.resolve(this.#resolve('object', flagKey, defaultValue, context));
  }

  #resolve(kind, flagKey, defaultValue, context) {
    const ctx = encodeContext(context, 'targetingKey');
    if (ctx instanceof InvalidContext) return failure(defaultValue, 'INVALID_CONTEXT', ctx.message);
    let r;
    try {
      r = this.client[kNative]().ofResolve(kind, String(flagKey), ctx);
    } catch (e) {
      return failure(defaultValue, 'GENERAL', String(e && e.message));
    }
    if (r.errorCode !== null) return failure(defaultValue, r.errorCode, r.errorMessage ?? undefined);
    const out = { value: r.value, reason: r.reason, flagMetadata: r.flagMetadata };
    if (r.variant !== null) out.variant = r.variant;
    return out;
  }
}

function failure(defaultValue, errorCode, errorMessage) {
  return { value: defaultValue, reason: 'ERROR', errorCode, errorMessage };
}

module.exports = { VexilProvider };
