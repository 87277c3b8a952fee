import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Topic of the message, set when the workflow starts. */
export const DlqTopic = defineSearchAttributeKey('DlqTopic', SearchAttributeType.KEYWORD);
/** `dead`, `retrying`, `recovered`, `discarded` or `expired`; absent while a message was never parked. */
export const DlqStatus = defineSearchAttributeKey('DlqStatus', SearchAttributeType.KEYWORD);
/** Error class of the last parking: `temporary`, `permanent`, `validation`, `timeout`, `security`. */
export const DlqErrorClass = defineSearchAttributeKey('DlqErrorClass', SearchAttributeType.KEYWORD);
/** Reason code of the last parking, e.g. `VALIDATION_ERROR`, `HTTP_401`, `RETRY_EXHAUSTED`. */
export const DlqReason = defineSearchAttributeKey('DlqReason', SearchAttributeType.KEYWORD);
/** Fingerprint of the last failure: identical failures share it (a failure group). */
export const DlqFingerprint = defineSearchAttributeKey('DlqFingerprint', SearchAttributeType.KEYWORD);
/** Attempts made before the last parking. */
export const DlqAttempts = defineSearchAttributeKey('DlqAttempts', SearchAttributeType.INT);
/** How many times the message was parked (more than 1 means it was re-parked after a retry). */
export const DlqParkCount = defineSearchAttributeKey('DlqParkCount', SearchAttributeType.INT);
/**
 * When the message was last parked, in whole seconds (the dead letter's `parkedAt` keeps milliseconds). The
 * dev server's SQLite compares these values as text and PostgreSQL as timestamps: with whole seconds on
 * both sides and only `>=` and `<`, both count the same.
 */
export const DlqParkedAt = defineSearchAttributeKey('DlqParkedAt', SearchAttributeType.DATETIME);
/**
 * The message id without its topic (`dlq show <id>` finds a message by it). Set when the message is
 * published, and when it parks for messages published before it existed.
 */
export const DlqMessageId = defineSearchAttributeKey('DlqMessageId', SearchAttributeType.KEYWORD);

/**
 * Sinks that never received one of this message's mirror events or immediate alerts within the delivery
 * budget, comma-separated in the order they failed (e.g. `nats,postgres`; `alert-webhook` for an immediate
 * alert). Absent while every event was delivered. Set from policy revision 5 (src/contract/mirror.ts).
 */
export const DlqUndelivered = defineSearchAttributeKey('DlqUndelivered', SearchAttributeType.KEYWORD);

/** Every custom search attribute the project registers on the server, with its type. */
export const ALL_SEARCH_ATTRIBUTES = [
  DlqTopic,
  DlqStatus,
  DlqErrorClass,
  DlqReason,
  DlqFingerprint,
  DlqAttempts,
  DlqParkCount,
  DlqParkedAt,
  DlqMessageId,
  DlqUndelivered,
] as const;
