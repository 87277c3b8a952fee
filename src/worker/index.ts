/**
 * `temporal-dlq/worker`: what a worker process needs (topic handlers, `createWorker`, the server set-up, the
 * worker's memory settings, configuration and logging, the error catalogue its stages throw). It loads the
 * SDK's worker and native core bridge; a producer imports `temporal-dlq/client` instead.
 */
export { defineHandler, HandlerDefinitionError } from './handlers';
export type {
  Handler,
  HandlerOptions,
  RedriveOptions,
  StageContext,
  StageFn,
  TopicRetryOptions,
} from './handlers';
export { createWorker, installRuntimeLogger } from './create-worker';
export type { CreateWorkerOptions, RuntimeInstallOptions } from './create-worker';
export { MetricsEndpointError } from './runtime';
export type { WorkerTracingOptions } from './tracing';
export { deadLettersDdl, NATS_SINK_HEADERS } from '../sinks';
export type { SinksOptions, NatsSinkOptions, PostgresSinkOptions } from '../sinks';
export type { MirrorEvent, MirrorEventKind, MirrorResolution } from '../contract/mirror';
export type { WorkerSourceOptions } from './worker-sources';
export { WORKER_NODE_FLAGS, WORKER_ENV, missingWorkerSettings } from './memory-settings';
export { setupServer, registerSearchAttributes, ensureRetention, checkSetup, SetupError } from '../ops/setup';
export type { SetupServerOptions } from '../ops/setup';
export { loadConfig, ConfigError, CONFIG_VARIABLES } from '../config';
export type { Config } from '../config';
export { createLogger } from '../logger';
export { connectClient, buildConnectionOptions } from '../security/connection';
export { dataConverterFromConfig } from '../security/data-converter';
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
} from '../contract/errors';
export type { ErrorClass, FailureType, DlqErrorOptions } from '../contract/errors';
export { classifyError, parseRetryAfter } from '../contract/classify';
export type { Classification } from '../contract/classify';
export { ensureAnalyticsSchedule } from '../analytics/schedule';
export type { EnsureAnalyticsScheduleOptions } from '../analytics/schedule';
