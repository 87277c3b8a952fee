/**
 * Public API of temporal-dlq: everything. A producer can import only `temporal-dlq/client` (src/client/index.ts), which
 * does not load the SDK's worker or native bridge; a worker process `temporal-dlq/worker` (src/worker/index.ts).
 */
// Everything a producer needs (publish, the wire contract, errors, connection, encryption), defined once there.
export * from './client';
export { defineHandler, HandlerDefinitionError } from './worker/handlers';
export type {
  Handler,
  HandlerOptions,
  RedriveOptions,
  StageContext,
  StageFn,
  TopicRetryOptions,
} from './worker/handlers';
export { createWorker, installRuntimeLogger } from './worker/create-worker';
export type { CreateWorkerOptions, RuntimeInstallOptions } from './worker/create-worker';
export { MetricsEndpointError } from './worker/runtime';
export {
  MESSAGE_COUNTERS,
  ANALYTICS_GAUGES,
  METRIC_LABELS,
  exportedDlqMetrics,
  exportedMetricName,
} from './contract/metrics';
export type { WorkerTracingOptions } from './worker/tracing';
export { WORKER_NODE_FLAGS, WORKER_ENV, missingWorkerSettings } from './worker/memory-settings';
export { createLogger } from './logger';
export { startCodecServer, codecServerFromConfig } from './security/codec-server';
export type { CodecServer, CodecServerOptions } from './security/codec-server';
export { setupServer, registerSearchAttributes, ensureRetention, checkSetup, SetupError } from './ops/setup';
export type { SetupServerOptions } from './ops/setup';
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
export { analyticsConfigSchema } from './contract/analytics-config';
export type * from './contract/analytics';
export { evaluateRules, transitionAlerts, evaluateAlerts } from './contract/alert-rules';
