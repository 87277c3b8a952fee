/**
 * `temporal-dlq/worker`: what a worker process needs (topic handlers, `createWorker`, the server set-up, the
 * worker's memory settings, configuration and logging, the error catalogue its stages throw). It loads the
 * SDK's worker and native core bridge; a producer imports `temporal-dlq/client` instead.
 */
export { defineHandler, HandlerDefinitionError } from './handlers';
export type { Handler, HandlerOptions, StageContext, StageFn, TopicRetryOptions } from './handlers';
export { createWorker, installRuntimeLogger } from './worker';
export type { CreateWorkerOptions } from './worker';
export { WORKER_NODE_FLAGS, WORKER_ENV, missingWorkerSettings } from './worker-flags';
export { setupServer, registerSearchAttributes, ensureRetention, checkSetup, SetupError } from './setup';
export { loadConfig, ConfigError, CONFIG_VARIABLES } from './config';
export type { Config } from './config';
export { createLogger } from './logger';
export { connectClient, buildConnectionOptions } from './connection';
export { dataConverterFromConfig } from './data-converter';
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
export { ensureAnalyticsSchedule } from './analytics/schedule';
export type { EnsureAnalyticsScheduleOptions } from './analytics/schedule';
