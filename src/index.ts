/**
 * Public API of temporal-dlq: everything. A producer can import only `temporal-dlq/client` (src/client.ts), which
 * does not load the SDK's worker or native bridge; a worker process `temporal-dlq/worker` (src/worker-entry.ts).
 */
// Everything a producer needs (publish, the wire contract, errors, connection, encryption), defined once there.
export * from './client';
export { defineHandler, HandlerDefinitionError } from './handlers';
export type { Handler, HandlerOptions, StageContext, StageFn, TopicRetryOptions } from './handlers';
export { createWorker, installRuntimeLogger } from './worker';
export type { CreateWorkerOptions } from './worker';
export { WORKER_NODE_FLAGS, WORKER_ENV, missingWorkerSettings } from './worker-flags';
export { createLogger } from './logger';
export { startCodecServer, codecServerFromConfig } from './codec-server';
export type { CodecServer, CodecServerOptions } from './codec-server';
export { setupServer, registerSearchAttributes, ensureRetention, checkSetup, SetupError } from './setup';
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
