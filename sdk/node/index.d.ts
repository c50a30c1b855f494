// Types of @vexil/sdk (index.js).
import { EventEmitter } from 'node:events';

/** Options of `new Client()`. Durations are in milliseconds. */
export interface ClientOptions {
  /** One node URL or several (`http://host:port`); any node serves. */
  urls: string | string[];
  /** A Vexil token with the `sdk` role; it selects the environment. */
  sdkToken: string;
  /** Keep the last known good state in this file, and start from it. */
  cacheFile?: string;
  /** Default 2000. */
  connectTimeoutMs?: number;
  /** Longest silence on a stream before it counts as dead. Default 40000. */
  readTimeoutMs?: number;
  /** How often to poll while streaming fails. Default 30000. */
  pollIntervalMs?: number;
  /** How often evaluation counts are sent. Default 30000. */
  metricsFlushIntervalMs?: number;
  /** First wait between reconnection attempts. Default 100. */
  backoffInitialMs?: number;
  /** Longest wait between reconnection attempts. Default 10000. */
  backoffMaxMs?: number;
  /** Makes node choice and jitter reproducible (tests). */
  seed?: number;
}

/** An attribute value as JavaScript gives it (see README "Contexts"). */
export type ContextValue = string | number | boolean | bigint | Date | string[] | null | undefined;

/** Who is asking: `key` is the targeting key, the rest are attributes. */
export interface Context {
  key?: string;
  [attribute: string]: ContextValue;
}

/**
 * A context converted once, for reuse across evaluations (several flags for
 * one user, or a service-wide context): `boolValue` with one skips the
 * conversion, the larger part of its cost. Its attributes are fixed when it
 * is built. The constructor throws `InvalidContextError` for a context
 * Vexil cannot take.
 */
export declare class PreparedContext {
  constructor(context: Context | PreparedContext | null | undefined);
  /** The context as `{key, attributes}`. */
  toJSON(): { key: string; attributes: Record<string, string | number | boolean | string[]> };
}

/** Thrown by `new PreparedContext()` for a context Vexil cannot take. */
export declare class InvalidContextError extends TypeError {}

/** What the evaluation methods take as a context. */
export type AnyContext = Context | PreparedContext | null;

export type Status = 'initializing' | 'ready' | 'stale' | 'offline';

export interface StatusDetail {
  status: Status;
  /** Why the client is stale or offline. */
  reason: string | null;
  /** When the state stopped being known-current (stale only). */
  since: Date | null;
}

/** A flag that changed (`version` null: it was deleted). */
export interface FlagChange {
  key: string;
  version: number | null;
  /** The log index of the change. */
  id: number;
}

export type Reason = 'OFF' | 'TARGET_MATCH' | 'RULE_MATCH' | 'PREREQUISITE_FAILED' | 'FALLTHROUGH' | 'ERROR';

export type ErrorCode =
  | 'FLAG_NOT_FOUND'
  | 'MALFORMED_FLAG'
  | 'WRONG_TYPE'
  | 'CLIENT_NOT_READY'
  | 'INVALID_CONTEXT'
  | 'GENERAL';

export interface EvaluationDetail<T> {
  /** The value served; the caller's default when `errorCode` is set. */
  value: T;
  /** The index of the variation served. */
  variation: number | null;
  /** The variation's name, else its index as a string. */
  variant: string | null;
  reason: Reason;
  errorCode: ErrorCode | null;
  errorMessage: string | null;
  /** The rule that matched (`RULE_MATCH`). */
  ruleId: string | null;
  ruleIndex: number | null;
  /** The prerequisite that failed (`PREREQUISITE_FAILED`). */
  prerequisite: string | null;
  /** Whether a percentage rollout chose the variation. */
  inRollout: boolean;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export declare class Client extends EventEmitter {
  /** Starts streaming at once; throws a TypeError naming a bad option. */
  constructor(options: ClientOptions);
  readonly status: Status;
  readonly statusDetail: StatusDetail;
  /** Why the cache file was not used (e.g. damaged), else null. */
  readonly cacheWarning: string | null;
  /** The node URL the client streams from (or last did). */
  readonly currentNode: string | null;
  /** The log index the local state is at; null before any state. */
  readonly stateId: number | null;

  /** Resolves when `ready`; rejects with a NotReadyError after `timeoutMs` (default 5000). */
  waitUntilReady(timeoutMs?: number): Promise<void>;

  // Evaluation reads memory only and never throws: on any error it serves
  // the default (the *Detail forms say why).
  boolValue(key: string, context?: AnyContext, defaultValue?: boolean): boolean;
  boolDetail(key: string, context?: AnyContext, defaultValue?: boolean): EvaluationDetail<boolean>;
  stringValue(key: string, context?: AnyContext, defaultValue?: string): string;
  stringDetail(key: string, context?: AnyContext, defaultValue?: string): EvaluationDetail<string>;
  numberValue(key: string, context?: AnyContext, defaultValue?: number): number;
  numberDetail(key: string, context?: AnyContext, defaultValue?: number): EvaluationDetail<number>;
  jsonValue<T extends JsonValue = JsonValue>(key: string, context?: AnyContext, defaultValue?: T): T;
  jsonDetail<T extends JsonValue = JsonValue>(
    key: string,
    context?: AnyContext,
    defaultValue?: T,
  ): EvaluationDetail<T>;
  /** Every flag's detail for `context`, keyed by flag key. */
  allFlags(context?: AnyContext): Record<string, EvaluationDetail<JsonValue>>;

  /** Sends the evaluation counts now; resolves to whether a node took them. */
  flushMetrics(): Promise<boolean>;
  /** Sends the last counts, then stops streaming. Idempotent. */
  close(): Promise<void>;

  on(event: 'status', listener: (status: StatusDetail) => void): this;
  on(event: 'change', listener: (change: FlagChange) => void): this;
  once(event: 'status', listener: (status: StatusDetail) => void): this;
  once(event: 'change', listener: (change: FlagChange) => void): this;
  off(event: 'status', listener: (status: StatusDetail) => void): this;
  off(event: 'change', listener: (change: FlagChange) => void): this;
}

/** Rejected by `waitUntilReady` on timeout. */
export declare class NotReadyError extends Error {
  readonly status: StatusDetail;
}

/** A change-feed snapshot, as a cache file holds it. */
export interface StateSnapshot {
  id: number;
  flags: object[];
  segments: object[];
  cluster_id?: string;
}

/** Writes a cache file from a snapshot, so a client can start with every node down. */
export declare function writeCacheFile(path: string, state: StateSnapshot): void;

/** How the client reads `context`; throws a TypeError (`INVALID_CONTEXT: …`) for one it refuses. */
export declare function decodeContext(context: AnyContext | undefined): {
  key: string;
  attributes: Record<string, string | number | boolean | string[]>;
};
