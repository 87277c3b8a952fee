/**
 * Public API of temporal-dlq: everything. A producer can import only `temporal-dlq/client` (src/client.ts), which
 * does not load the SDK's worker or native bridge; a worker process `temporal-dlq/worker` (src/worker-entry.ts).
 */
export { publish, publishMany, toEnvelope, PublishError, DEFAULT_MAX_PAYLOAD_BYTES } from './publish';
export type { PublishOptions, PublishManyOptions, PublishResult } from './publish';
export { defineHandler, HandlerDefinitionError } from './handlers';
export type { Handler, HandlerOptions, StageContext, StageFn, TopicRetryOptions } from './handlers';
export { createWorker, installRuntimeLogger } from './worker';
export type { CreateWorkerOptions } from './worker';
export { WORKER_NODE_FLAGS, WORKER_ENV, missingWorkerSettings } from './worker-flags';
export { loadConfig, ConfigError, CONFIG_VARIABLES } from './config';
export type { Config } from './config';
export { createLogger } from './logger';
export { connectClient, buildConnectionOptions } from './connection';
export { dataConverterFromConfig, codecFromConfig, encryptionEnabled } from './data-converter';
export { AesGcmCodec, parseKeyRing, DecryptionError, EncryptionKeyError } from './encryption';
export type { EncryptionKey } from './encryption';
export { startCodecServer, codecServerFromConfig } from './codec-server';
export type { CodecServer, CodecServerOptions } from './codec-server';
export { setupServer, registerSearchAttributes, ensureRetention, checkSetup, SetupError } from './setup';
export {
  TemporaryError,
  PermanentError,
  ValidationError,
  TimeoutError,
  SecurityError,
  DlqError,
  ERROR_CLASSES,
  FAILURE_TYPE_BY_CLASS,
  DEFAULT_NON_RETRYABLE_TYPES,
  REASON_CODES,
} from './shared/errors';
export type { ErrorClass, FailureType, DlqErrorOptions } from './shared/errors';
export { classifyError, parseRetryAfter } from './shared/classify';
export type { Classification } from './shared/classify';
export { retrySignal, discardSignal, repairUpdate, stateQuery } from './shared/definitions';
export * from './shared/search-attributes';
export * from './shared/names';
export { PARKED_QUERY, statusQuery } from './shared/queries';
export { publishInputSchema, envelopeSchema } from './shared/envelope';
export type { Envelope, PublishInput } from './shared/envelope';
export { applyMergePatch } from './shared/merge-patch';
export { failureFingerprint, normaliseErrorMessage } from './shared/fingerprint';
export type * from './shared/types';
export { retryInputSchema, discardInputSchema } from './shared/operator-input';
export {
  ensureAnalyticsSchedule,
  getAnalyticsSettings,
  updateAnalyticsSettings,
  lastAnalyticsResult,
  AnalyticsSettingsError,
  AnalyticsScheduleMissingError,
} from './analytics/schedule';
export type {
  AnalyticsSettings,
  AnalyticsSettingsChange,
  EnsureAnalyticsScheduleOptions,
} from './analytics/schedule';
export { computeSnapshot } from './analytics/snapshot';
export { signBody, SIGNATURE_HEADER } from './analytics/webhook';
export { analyticsConfigSchema } from './shared/analytics-config';
export type * from './shared/analytics';
export { evaluateRules, transitionAlerts, evaluateAlerts } from './shared/alert-rules';
