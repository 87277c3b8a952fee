/**
 * The `ApplicationFailure` a stage attempt throws, built from whatever the stage threw. Every failure carries
 * our `FailureDetails` as `details[0]` (the workflow reads class, reason and attempt from it). A user's own
 * `ApplicationFailure` keeps its type, `nonRetryable`, `nextRetryDelay`, category, details and cause, so
 * Temporal's retry policy (and the topic's `nonRetryableErrorTypes`) sees what the user threw.
 */
import { ApplicationFailure } from '@temporalio/common';
import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { classifyError, DEFAULT_REASON } from '../src/contract/classify';
import { errorClassOfType, FAILURE_TYPE_BY_CLASS, normaliseReason } from '../src/contract/errors';
import type { ErrorClass } from '../src/contract/errors';
import { jsonByteLength } from '../src/contract/size';
import { MAX_FAILURE_DETAILS_BYTES, MAX_FAILURE_MESSAGE, MAX_FAILURE_STACK } from '../src/contract/limits';
import type { FailureDetails } from '../src/contract/types';

export interface FailureContext {
  stage: string;
  attempt: number;
  workerIdentity: string;
  /** The topic's `nonRetryableErrorTypes`. */
  nonRetryableTypes: readonly string[];
  /** The stage's budget is spent: the failure is final whatever it is. */
  exhausted: boolean;
}

/** JSON-safe and bounded: larger details become a truncated preview that says so. */
export function boundedDetails(value: unknown): unknown {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return { unserialisable: true };
  }
  if (json === undefined) return undefined;
  const bytes = jsonByteLength(value);
  if (bytes <= MAX_FAILURE_DETAILS_BYTES) return JSON.parse(json) as unknown;
  return { truncated: true, bytes, preview: json.slice(0, 2_000) };
}

/** `BadInput` → `BAD_INPUT`: a reason code for a user's failure type. */
export function reasonOfType(type: string): string {
  return normaliseReason(type.replace(/([a-z0-9])([A-Z])/g, '$1_$2'));
}

const bounded = (text: string | undefined, max: number) =>
  text === undefined ? undefined : text.slice(0, max);

/** A user's cause chain, with bounded messages and stacks, at most 3 deep. */
function boundedCause(cause: unknown, depth = 0): Error | undefined {
  if (!(cause instanceof Error) || depth >= 3) return undefined;
  const inner = boundedCause(cause.cause, depth + 1);
  const copy = isApplicationFailure(cause)
    ? new ApplicationFailure(
        bounded(cause.message, MAX_FAILURE_MESSAGE),
        cause.type,
        cause.nonRetryable,
        undefined,
        inner,
      )
    : new Error(bounded(cause.message, MAX_FAILURE_MESSAGE), inner ? { cause: inner } : undefined);
  copy.name = cause.name;
  const stack = bounded(cause.stack, MAX_FAILURE_STACK);
  if (stack !== undefined) copy.stack = stack;
  return copy;
}

function userFailure(err: ApplicationFailure, ctx: FailureContext): ApplicationFailure {
  const type = err.type ?? 'ApplicationFailure';
  const refused = Boolean(err.nonRetryable) || ctx.nonRetryableTypes.includes(type);
  const errorClass: ErrorClass = errorClassOfType(type) ?? (refused ? 'permanent' : 'temporary');
  const delayMs = msOptionalToNumber(err.nextRetryDelay ?? undefined);
  const userDetails = err.details && err.details.length > 0 ? boundedDetails(err.details) : undefined;
  const details: FailureDetails = {
    reason: errorClassOfType(type) ? DEFAULT_REASON[errorClass] : reasonOfType(type),
    errorClass,
    attempt: ctx.attempt,
    stage: ctx.stage,
    name: type,
    ...(err.stack ? { stack: bounded(err.stack, MAX_FAILURE_STACK)! } : {}),
    workerIdentity: ctx.workerIdentity,
    ...(userDetails !== undefined ? { extra: userDetails } : {}),
    ...(delayMs !== undefined ? { nextRetryDelayMs: delayMs } : {}),
    ...(ctx.exhausted ? { exhausted: true } : {}),
  };
  return new ApplicationFailure(
    bounded(err.message, MAX_FAILURE_MESSAGE),
    type,
    refused || ctx.exhausted,
    [details],
    boundedCause(err.cause),
    err.nextRetryDelay,
    err.category,
  );
}

/** `instanceof` that never throws: a Proxy's getPrototypeOf trap (or a revoked Proxy) may. */
function isApplicationFailure(err: unknown): err is ApplicationFailure {
  try {
    return err instanceof ApplicationFailure;
  } catch {
    return false;
  }
}

/** The failure to throw for what a stage attempt threw. Never throws. */
export function stageFailure(err: unknown, ctx: FailureContext): ApplicationFailure {
  if (isApplicationFailure(err)) return userFailure(err, ctx);
  const c = classifyError(err);
  // An error class of the user's own, named in the topic's nonRetryableErrorTypes: keep its name as the
  // failure type so the retry policy matches it, and park it as permanent.
  const listed = !errorClassOfType(c.name) && ctx.nonRetryableTypes.includes(c.name);
  const details: FailureDetails = {
    reason: listed ? reasonOfType(c.name) : c.reason,
    errorClass: listed ? 'permanent' : c.errorClass,
    attempt: ctx.attempt,
    stage: ctx.stage,
    name: c.name,
    ...(c.stack ? { stack: c.stack } : {}),
    workerIdentity: ctx.workerIdentity,
    ...(c.details !== undefined ? { extra: boundedDetails(c.details) } : {}),
    ...(c.nextRetryDelayMs !== undefined ? { nextRetryDelayMs: c.nextRetryDelayMs } : {}),
    ...(ctx.exhausted ? { exhausted: true } : {}),
  };
  return ApplicationFailure.create({
    type: listed ? c.name : c.type,
    message: c.message,
    details: [details],
    nonRetryable: listed || ctx.exhausted,
    ...(c.nextRetryDelayMs !== undefined ? { nextRetryDelay: c.nextRetryDelayMs } : {}),
  });
}

/** A failure of our own: the stage never ran, or its outcome cannot be kept. */
export function systemFailure(
  options: {
    errorClass: ErrorClass;
    reason: string;
    message: string;
    nonRetryable: boolean;
    exhausted?: boolean;
  } & Omit<FailureContext, 'nonRetryableTypes' | 'exhausted'>,
): ApplicationFailure {
  const details: FailureDetails = {
    reason: options.reason,
    errorClass: options.errorClass,
    attempt: options.attempt,
    stage: options.stage,
    name: FAILURE_TYPE_BY_CLASS[options.errorClass],
    workerIdentity: options.workerIdentity,
    ...(options.exhausted ? { exhausted: true } : {}),
  };
  return ApplicationFailure.create({
    type: FAILURE_TYPE_BY_CLASS[options.errorClass],
    message: options.message,
    details: [details],
    nonRetryable: options.nonRetryable,
  });
}
