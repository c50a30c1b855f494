// Types of @vexil/sdk/openfeature (openfeature.js).
import type {
  EvaluationContext,
  JsonValue,
  OpenFeatureEventEmitter,
  Provider,
  ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Client, ClientOptions } from './index';

/** An OpenFeature provider that evaluates locally with a Vexil Client. */
export declare class VexilProvider implements Provider {
  /** With options, the provider makes its own Client and closes it in onClose. */
  constructor(clientOrOptions: Client | ClientOptions, options?: { initTimeoutMs?: number });
  readonly metadata: { name: 'Vexil' };
  readonly runsOn: 'server';
  readonly hooks: [];
  readonly events: OpenFeatureEventEmitter;
  readonly client: Client;
  initialize(): Promise<void>;
  onClose(): Promise<void>;
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>>;
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>>;
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>>;
  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>>;
}
