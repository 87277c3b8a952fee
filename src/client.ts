/**
 * `temporal-dlq/client`: what a producer or an operator tool needs (publish, the wire contract, the error
 * catalogue, the connection and encryption it shares with the workers). It must never load
 * `@temporalio/worker` or the SDK's native core bridge: `test/package.test.ts` measures what it loads.
 */
export { publish, publishMany, toEnvelope, PublishError, DEFAULT_MAX_PAYLOAD_BYTES } from './publish';
export type { PublishOptions, PublishManyOptions, PublishResult } from './publish';
export { connectClient, buildConnectionOptions } from './connection';
export { loadConfig, ConfigError, CONFIG_VARIABLES } from './config';
export type { Config } from './config';
export { dataConverterFromConfig, codecFromConfig, encryptionEnabled } from './data-converter';
export { AesGcmCodec, parseKeyRing, DecryptionError, EncryptionKeyError } from './encryption';
export type { EncryptionKey } from './encryption';
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
