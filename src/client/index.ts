/**
 * `temporal-dlq/client`: what a producer or an operator tool needs (publish, the wire contract, the error
 * catalogue, the connection and encryption it shares with the workers). It must never load
 * `@temporalio/worker` or the SDK's native core bridge: `test/package.test.ts` measures what it loads.
 */
export { publish, publishMany, toEnvelope, PublishError, DEFAULT_MAX_PAYLOAD_BYTES } from './publish';
export type { PublishOptions, PublishManyOptions, PublishResult } from './publish';
export { connectClient, buildConnectionOptions } from '../security/connection';
export { loadConfig, ConfigError, CONFIG_VARIABLES } from '../config';
export type { Config } from '../config';
export { dataConverterFromConfig, codecFromConfig, encryptionEnabled } from '../security/data-converter';
export { AesGcmCodec, parseKeyRing, DecryptionError, EncryptionKeyError } from '../security/encryption';
export type { EncryptionKey } from '../security/encryption';
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
export { retrySignal, discardSignal, repairUpdate, stateQuery } from '../contract/definitions';
export * from '../contract/search-attributes';
export * from '../contract/names';
export * from '../contract/tracing';
export { PARKED_QUERY, statusQuery } from '../contract/queries';
export { publishInputSchema, envelopeSchema } from '../contract/envelope';
export type { Envelope, PublishInput } from '../contract/envelope';
export { applyMergePatch } from '../contract/merge-patch';
export { failureFingerprint, normaliseErrorMessage } from '../contract/fingerprint';
export type * from '../contract/types';
export type { TopicPolicy, FirstAttempt, Route } from '../contract/topic-policy';
export { retryInputSchema, discardInputSchema } from '../contract/operator-input';
