/**
 * The error catalogue. Each class is also an `ApplicationFailure.type`, so a failure is recognised
 * by its type or name after it crossed a process boundary, never by its message text.
 * Workflow-safe: pure classes, no I/O.
 */
import { durationOption } from './duration';

export const ERROR_CLASSES = ['temporary', 'permanent', 'validation', 'timeout', 'security'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** Failure type (`ApplicationFailure.type`) of each error class. */
export const FAILURE_TYPE_BY_CLASS = {
  temporary: 'TemporaryError',
  permanent: 'PermanentError',
  validation: 'ValidationError',
  timeout: 'TimeoutError',
  security: 'SecurityError',
} as const satisfies Record<ErrorClass, string>;
export type FailureType = (typeof FAILURE_TYPE_BY_CLASS)[ErrorClass];

const CLASS_BY_FAILURE_TYPE: Record<string, ErrorClass> = Object.fromEntries(
  ERROR_CLASSES.map((c) => [FAILURE_TYPE_BY_CLASS[c], c]),
);

/** The class of a failure type or error name, or undefined when it is not in the catalogue. */
export function errorClassOfType(type: string | undefined | null): ErrorClass | undefined {
  return type ? CLASS_BY_FAILURE_TYPE[type] : undefined;
}

/** Failure types that skip activity retries by default. */
export const DEFAULT_NON_RETRYABLE_TYPES: readonly FailureType[] = [
  'PermanentError',
  'ValidationError',
  'SecurityError',
];

/**
 * Failure type of a local first attempt that refused to run because its workflow task is a retry (the
 * worker that ran it before may have died of it). Never parked: the stage continues as activity attempts.
 */
export const LOCAL_ATTEMPT_REFUSED = 'LocalAttemptRefused';

/** Reason codes the system itself produces. Handlers may use their own codes too. */
export const REASON_CODES = [
  'VALIDATION_ERROR',
  'SCHEMA_MISMATCH',
  'NO_HANDLER',
  'WORKER_CRASHED',
  'RESULT_TOO_LARGE',
  'RETRY_EXHAUSTED',
  'TIMEOUT',
  'ABORTED',
  'UNKNOWN',
  'HTTP_400',
  'HTTP_401',
  'HTTP_403',
  'HTTP_404',
  'HTTP_408',
  'HTTP_409',
  'HTTP_410',
  'HTTP_422',
  'HTTP_429',
  'HTTP_5XX',
  'NETWORK_ERROR',
  'PERMANENT_ERROR',
  'SECURITY_ERROR',
] as const;

/**
 * A valid reason code. Reasons become `DlqReason` search-attribute values and group failures in analytics,
 * so they are short upper-case codes; a search-attribute value over the server's limit would fail every
 * workflow task of the parking message.
 */
export const REASON_CODE_PATTERN = /^[A-Z0-9_]{1,64}$/;

/**
 * The reason code to record for `raw`: itself when valid, else a normalised form (upper case, other
 * characters as `_`, at most 64 characters; `UNKNOWN` when nothing is left). Keep `raw` beside it.
 */
export function normaliseReason(raw: string): string {
  if (REASON_CODE_PATTERN.test(raw)) return raw;
  const code = raw
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64);
  return code || 'UNKNOWN';
}

/** Options shared by every catalogue error. */
export interface DlqErrorOptions {
  /** Reason code recorded in the dead letter and the `DlqReason` search attribute. */
  reason?: string;
  /** Extra JSON-safe details kept in the dead letter. */
  details?: unknown;
  /**
   * Overrides the backoff before the next attempt (e.g. from `Retry-After`): a duration such as `'30s'` or
   * `'500ms'`. @defaultValue none (the topic's retry policy decides)
   */
  retryAfter?: string;
  /** @deprecated Give `retryAfter` as a duration (`'300ms'`); a number of milliseconds still works, with a warning. */
  retryAfterMs?: number;
  /** The underlying error. */
  cause?: unknown;
}

/** Base of the catalogue. Not thrown directly: throw one of the five classes. */
export abstract class DlqError extends Error {
  abstract readonly errorClass: ErrorClass;
  readonly reason: string | undefined;
  readonly details: unknown;
  /** `retryAfter` in milliseconds. */
  readonly retryAfterMs: number | undefined;

  /**
   * Throws a TypeError for a `retryAfter` that is not a duration, or given twice (with `retryAfterMs`); a
   * deprecated `retryAfterMs` that is not a number of milliseconds is ignored.
   */
  constructor(message: string, options: DlqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
    this.details = options.details;
    const retryAfter = durationOption(
      'retryAfter',
      options.retryAfter,
      options.retryAfterMs,
      'DLQ_DEP_RETRY_AFTER_MS',
    );
    // A bad deprecated `retryAfterMs` alone (e.g. NaN from a missing header) is ignored, as it always was:
    // throwing here would lose the error's class and reason.
    const legacyOnly = options.retryAfter === undefined && options.retryAfterMs !== undefined;
    if (retryAfter.problem && !legacyOnly) throw new TypeError(retryAfter.problem);
    this.retryAfterMs = retryAfter.ms;
  }
}

/** A failure that may succeed later: retried with backoff (default reason `UNKNOWN`). */
export class TemporaryError extends DlqError {
  readonly errorClass = 'temporary' as const;
  constructor(message: string, options?: DlqErrorOptions) {
    super(message, options);
    this.name = 'TemporaryError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A failure that will never succeed as is: parked at once (default reason `PERMANENT_ERROR`). */
export class PermanentError extends DlqError {
  readonly errorClass = 'permanent' as const;
  constructor(message: string, options?: DlqErrorOptions) {
    super(message, options);
    this.name = 'PermanentError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** The payload is invalid: parked at once, fixable by a repair (default reason `VALIDATION_ERROR`). */
export class ValidationError extends DlqError {
  readonly errorClass = 'validation' as const;
  constructor(message: string, options?: DlqErrorOptions) {
    super(message, options);
    this.name = 'ValidationError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** The work took too long or was aborted: retried, and re-driven after parking (reason `TIMEOUT`). */
export class TimeoutError extends DlqError {
  readonly errorClass = 'timeout' as const;
  constructor(message: string, options?: DlqErrorOptions) {
    super(message, options);
    this.name = 'TimeoutError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Authentication or authorisation failed: parked at once, alerts at once, never re-driven. */
export class SecurityError extends DlqError {
  readonly errorClass = 'security' as const;
  constructor(message: string, options?: DlqErrorOptions) {
    super(message, options);
    this.name = 'SecurityError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * Failure type of a mirror event or immediate alert that a sink did not take (down, refusing, timing out):
 * retried by Temporal until the event's budget is spent (src/contract/mirror.ts).
 */
export const SINK_UNAVAILABLE = 'SinkUnavailable';
/** Failure type of an event for a sink this worker does not have: retried, so a worker that has it may take it. */
export const SINK_NOT_CONFIGURED = 'SinkNotConfigured';
