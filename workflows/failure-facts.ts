/** Turns what a failed activity threw into the facts of a dead letter. Pure and workflow-safe. */
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
import { DEFAULT_REASON } from '../src/shared/classify';
import { errorClassOfType, FAILURE_TYPE_BY_CLASS } from '../src/shared/errors';
import type { ErrorClass } from '../src/shared/errors';
import type { FailureDetails, Route } from '../src/shared/types';

/** The facts of one failure, before they become a dead letter. */
export interface FailureFacts {
  errorClass: ErrorClass;
  errorType: string;
  reason: string;
  causeReason?: string;
  message: string;
  stack?: string;
  details?: unknown;
  attempts: number;
  stage: string;
  workerIdentity?: string;
}

function exhausted(retryState: RetryState | undefined): boolean {
  return retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED || retryState === RetryState.TIMEOUT;
}

/** Facts of a failure thrown by a stage activity (or anything else that reached the workflow). */
export function factsFromFailure(err: unknown, stage: string, route: Route): FailureFacts {
  const activityFailure = err instanceof ActivityFailure ? err : undefined;
  const cause = activityFailure ? activityFailure.cause : err;
  const retryState = activityFailure?.retryState;

  if (cause instanceof ApplicationFailure) {
    const details: Partial<FailureDetails> | undefined = cause.details?.[0] ?? undefined;
    const errorClass = errorClassOfType(cause.type) ?? 'temporary';
    const reason = details?.reason ?? DEFAULT_REASON[errorClass];
    const wasExhausted = exhausted(retryState);
    return {
      errorClass,
      errorType: FAILURE_TYPE_BY_CLASS[errorClass],
      reason: wasExhausted ? 'RETRY_EXHAUSTED' : reason,
      ...(wasExhausted ? { causeReason: reason } : {}),
      message: cause.message,
      ...(details?.stack ? { stack: details.stack } : cause.stack ? { stack: cause.stack } : {}),
      ...(details?.extra !== undefined ? { details: details.extra } : {}),
      attempts: details?.attempt ?? 1,
      stage,
      ...(details?.workerIdentity ? { workerIdentity: details.workerIdentity } : {}),
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      errorClass: 'timeout',
      errorType: FAILURE_TYPE_BY_CLASS.timeout,
      reason: exhausted(retryState) ? 'RETRY_EXHAUSTED' : 'TIMEOUT',
      ...(exhausted(retryState) ? { causeReason: 'TIMEOUT' } : {}),
      message: `Stage ${stage} timed out (${cause.timeoutType !== undefined ? String(cause.timeoutType) : 'timeout'}) after ${route.stageTimeoutMs} ms`,
      attempts: exhausted(retryState) ? route.retry.maximumAttempts : 1,
      stage,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    errorClass: 'temporary',
    errorType: FAILURE_TYPE_BY_CLASS.temporary,
    reason: 'UNKNOWN',
    message,
    attempts: 1,
    stage,
  };
}

/** Facts of a message whose topic no worker handles. */
export function noHandlerFacts(topic: string, workerIdentity: string): FailureFacts {
  return {
    errorClass: 'permanent',
    errorType: FAILURE_TYPE_BY_CLASS.permanent,
    reason: 'NO_HANDLER',
    message: `No handler is registered for topic "${topic}"`,
    attempts: 1,
    stage: '(route)',
    workerIdentity,
  };
}
