/**
 * Retry policy of a stage, as the workflow applies it. Pure and workflow-safe.
 *
 * With `firstAttempt: 'local'` the first attempt runs as a local activity with no retries of its own; when
 * it fails with something the topic's policy retries, the workflow waits the first backoff interval (or the
 * `Retry-After` delay the failure asked for) and
 * runs the remaining attempts as one activity whose policy continues the same sequence. Attempts, intervals
 * and non-retryable types are therefore the topic's, whichever way the first attempt ran.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure, RetryState } from '@temporalio/common';
import type { RetryPolicy } from '@temporalio/common';
import type { FailureDetails } from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';

/** The topic's policy, for a stage whose every attempt is an activity. */
export function stageRetryPolicy(topicPolicy: TopicPolicy): RetryPolicy {
  return {
    initialInterval: topicPolicy.retry.initialIntervalMs,
    backoffCoefficient: topicPolicy.retry.backoffCoefficient,
    maximumInterval: topicPolicy.retry.maximumIntervalMs,
    maximumAttempts: topicPolicy.retry.maximumAttempts,
    nonRetryableErrorTypes: topicPolicy.retry.nonRetryableErrorTypes,
  };
}

/** The policy of the attempts after a failed local first attempt: attempt 2 onwards of the same sequence. */
export function retryPolicyAfterLocalAttempt(topicPolicy: TopicPolicy): RetryPolicy {
  const { retry } = topicPolicy;
  return {
    initialInterval: Math.min(retry.initialIntervalMs * retry.backoffCoefficient, retry.maximumIntervalMs),
    backoffCoefficient: retry.backoffCoefficient,
    maximumInterval: retry.maximumIntervalMs,
    maximumAttempts: retry.maximumAttempts - 1,
    nonRetryableErrorTypes: retry.nonRetryableErrorTypes,
  };
}

/**
 * Attempts the server may start when the attempt ledger keeps the budget (revision 3): the ledger charges
 * only attempts that ran the stage, so attempts that died beside another message's crash are retried for
 * free; the server's own limit is only a backstop against a ledger that could not be recorded. A final
 * failure under that backstop parks as usual (`WORKER_CRASHED` when heartbeats stopped).
 */
export const LEDGER_BACKSTOP_FACTOR = 4;
export const LEDGER_BACKSTOP_EXTRA = 10;

export function ledgerRetryPolicy(topicPolicy: TopicPolicy, policy: RetryPolicy): RetryPolicy {
  return {
    ...policy,
    maximumAttempts: topicPolicy.retry.maximumAttempts * LEDGER_BACKSTOP_FACTOR + LEDGER_BACKSTOP_EXTRA,
  };
}

/**
 * What a local attempt failed with. Core hands a failed local activity's `ApplicationFailure` to the workflow
 * as it is, but wraps timeouts and cancellations in an `ActivityFailure` (whose retry state says nothing).
 */
function localCause(err: unknown): unknown {
  return err instanceof ActivityFailure ? err.cause : err;
}

/** Whether the topic's policy retries what a local first attempt threw. */
export function retriesAfterLocalAttempt(err: unknown, topicPolicy: TopicPolicy): boolean {
  const cause = localCause(err);
  if (topicPolicy.retry.maximumAttempts <= 1 || cause instanceof CancelledFailure) return false;
  if (cause instanceof ApplicationFailure) {
    return !cause.nonRetryable && !topicPolicy.retry.nonRetryableErrorTypes.includes(cause.type ?? '');
  }
  return true; // timeouts and anything else the server would retry too
}

/**
 * A local attempt's final failure in the shape the server reports an activity's: an `ActivityFailure` whose
 * retry state says whether the policy refused the failure or ran out of attempts, so the dead letter reads
 * the same (`RETRY_EXHAUSTED` with the cause reason, or the failure's own reason) whichever way it ran.
 */
export function finalLocalFailure(err: unknown, topicPolicy: TopicPolicy): ActivityFailure {
  const cause = localCause(err);
  const refused =
    cause instanceof ApplicationFailure &&
    (cause.nonRetryable || topicPolicy.retry.nonRetryableErrorTypes.includes(cause.type ?? ''));
  return new ActivityFailure(
    'Activity task failed',
    'runStage',
    err instanceof ActivityFailure ? err.activityId : undefined,
    refused ? RetryState.NON_RETRYABLE_FAILURE : RetryState.MAXIMUM_ATTEMPTS_REACHED,
    topicPolicy.workerIdentity,
    cause instanceof Error ? cause : new Error(String(cause)),
  );
}

/**
 * Wait before the first activity retry: the delay the failure asked for (`Retry-After`), else the initial
 * interval. The delay travels in the failure details because the SDK's failure converter does not decode
 * `nextRetryDelay` into the `ApplicationFailure` the workflow sees.
 */
export function delayAfterLocalAttemptMs(err: unknown, topicPolicy: TopicPolicy): number {
  const cause = localCause(err);
  const details =
    cause instanceof ApplicationFailure ? (cause.details?.[0] as Partial<FailureDetails> | null) : null;
  const asked = details?.nextRetryDelayMs;
  return typeof asked === 'number' && Number.isFinite(asked) && asked >= 0
    ? asked
    : topicPolicy.retry.initialIntervalMs;
}
