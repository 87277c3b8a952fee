/** Turns what a failed activity threw into the facts of a dead letter. Pure and workflow-safe. */
import {
  ActivityFailure,
  ApplicationFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import { DEFAULT_REASON } from '../src/contract/classify';
import { errorClassOfType, FAILURE_TYPE_BY_CLASS, normaliseReason } from '../src/contract/errors';
import { revisionOf } from '../src/contract/topic-policy';
import { showsDeaths } from '../src/contract/attempt-ledger';
import type { ErrorClass } from '../src/contract/errors';
import type { FailureDetails } from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';

/** The facts of one failure, before they become a dead letter. */
export interface FailureFacts {
  errorClass: ErrorClass;
  errorType: string;
  reason: string;
  causeReason?: string;
  /** The reason as the failure gave it, when it was not a valid reason code. */
  originalReason?: string;
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
export function factsFromFailure(err: unknown, stage: string, topicPolicy: TopicPolicy): FailureFacts {
  const activityFailure = err instanceof ActivityFailure ? err : undefined;
  const cause = activityFailure ? activityFailure.cause : err;
  const retryState = activityFailure?.retryState;

  if (cause instanceof ApplicationFailure) {
    const details: Partial<FailureDetails> | undefined = cause.details?.[0] ?? undefined;
    if (revisionOf(topicPolicy) < 3) {
      const errorClass = errorClassOfType(cause.type) ?? 'temporary';
      // Normalised here too: a search-attribute value is not part of replay, and an invalid one would
      // fail every workflow task of the message.
      const reason = normaliseReason(details?.reason ?? DEFAULT_REASON[errorClass]);
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
    // The class the stage's failure was given; a user's own type keeps its meaning (see stage-failure.ts).
    const errorClass =
      (details?.errorClass && errorClassOfType(FAILURE_TYPE_BY_CLASS[details.errorClass])) ??
      errorClassOfType(cause.type) ??
      (cause.nonRetryable ? 'permanent' : 'temporary');
    const given = typeof details?.reason === 'string' ? details.reason : DEFAULT_REASON[errorClass];
    const reason = normaliseReason(given);
    const wasExhausted =
      details?.reason !== 'WORKER_CRASHED' && (details?.exhausted === true || exhausted(retryState));
    return {
      errorClass,
      errorType: cause.type ?? FAILURE_TYPE_BY_CLASS[errorClass],
      reason: wasExhausted ? 'RETRY_EXHAUSTED' : reason,
      ...(wasExhausted ? { causeReason: reason } : {}),
      ...(reason !== given ? { originalReason: given.slice(0, 2_000) } : {}),
      message: cause.message,
      ...(details?.stack ? { stack: details.stack } : cause.stack ? { stack: cause.stack } : {}),
      ...(details?.extra !== undefined ? { details: details.extra } : {}),
      attempts: details?.attempt ?? 1,
      stage,
      ...(details?.workerIdentity ? { workerIdentity: details.workerIdentity } : {}),
    };
  }
  if (
    cause instanceof TimeoutFailure &&
    cause.timeoutType === TimeoutType.HEARTBEAT &&
    revisionOf(topicPolicy) >= 3 &&
    showsDeaths(cause.lastHeartbeatDetails)
  ) {
    // The server's backstop ended on a lost heartbeat after the ledger had charged deaths: the worker died,
    // was killed, or its event loop stalled, attempt after attempt. (Without charged deaths, e.g. an old
    // worker that sends no heartbeats during a roll-out, it is a timeout like any other.)
    return {
      errorClass: 'permanent',
      errorType: FAILURE_TYPE_BY_CLASS.permanent,
      reason: 'WORKER_CRASHED',
      message: `The worker running stage ${stage} stopped heartbeating (no heartbeat for ${topicPolicy.heartbeatTimeoutMs ?? '?'} ms) until the retries ran out: it died, was killed, or its event loop stalled while the stage ran`,
      attempts: topicPolicy.retry.maximumAttempts,
      stage,
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      errorClass: 'timeout',
      errorType: FAILURE_TYPE_BY_CLASS.timeout,
      reason: exhausted(retryState) ? 'RETRY_EXHAUSTED' : 'TIMEOUT',
      ...(exhausted(retryState) ? { causeReason: 'TIMEOUT' } : {}),
      message: `Stage ${stage} timed out (${cause.timeoutType !== undefined ? String(cause.timeoutType) : 'timeout'}) after ${topicPolicy.stageTimeoutMs} ms`,
      attempts: exhausted(retryState) ? topicPolicy.retry.maximumAttempts : 1,
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

/**
 * Facts of a message whose topic the worker that looked it up does not handle. Since revision 3 it is a
 * temporary failure, re-driven: during a deploy that adds the topic, the right worker may come.
 */
export function noHandlerFacts(topic: string, topicPolicy: TopicPolicy): FailureFacts {
  const errorClass = revisionOf(topicPolicy) >= 3 ? 'temporary' : 'permanent';
  const workerIdentity = topicPolicy.workerIdentity;
  return {
    errorClass,
    errorType: FAILURE_TYPE_BY_CLASS[errorClass],
    reason: 'NO_HANDLER',
    message: `No handler is registered for topic "${topic}"`,
    attempts: 1,
    stage: '(route)',
    workerIdentity,
  };
}

/** Facts of a message whose stage results outgrew their bound (revision 3). */
export function resultTooLargeFacts(stage: string, problem: string, topicPolicy: TopicPolicy): FailureFacts {
  return {
    errorClass: 'permanent',
    errorType: FAILURE_TYPE_BY_CLASS.permanent,
    reason: 'RESULT_TOO_LARGE',
    message: `Stage ${stage} succeeded but ${problem}`,
    attempts: 1,
    stage,
    workerIdentity: topicPolicy.workerIdentity,
  };
}
