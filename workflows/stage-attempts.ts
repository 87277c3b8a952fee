/** Runs every attempt of one stage, its first attempt locally when the route says so. Workflow code. */
import { isCancellation, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { MessageActivities } from '../activities/message-activities';
import type { Route, StageInput } from '../src/shared/types';
import {
  delayAfterLocalAttemptMs,
  finalLocalFailure,
  retriesAfterLocalAttempt,
  retryPolicyAfterLocalAttempt,
  stageRetryPolicy,
} from './stage-retry-policy';

/**
 * The stage's result, or what its last attempt threw. A route recorded before `firstAttempt` existed has
 * none, so messages started by older workers keep the all-activity commands their histories replay with:
 * the branch depends only on the route in the `lookupRoute` marker, so no patch marker is needed.
 */
export async function runStageAttempts(route: Route, input: StageInput): Promise<unknown> {
  if (route.firstAttempt !== 'local') {
    const { runStage } = proxyActivities<MessageActivities>({
      startToCloseTimeout: route.stageTimeoutMs,
      retry: stageRetryPolicy(route),
    });
    return runStage(input);
  }
  const local = proxyLocalActivities<MessageActivities>({
    startToCloseTimeout: route.stageTimeoutMs,
    retry: { maximumAttempts: 1, nonRetryableErrorTypes: route.retry.nonRetryableErrorTypes },
  });
  try {
    return await local.runStage(input);
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (!retriesAfterLocalAttempt(err, route)) throw finalLocalFailure(err, route);
    const delay = delayAfterLocalAttemptMs(err, route);
    if (delay > 0) await sleep(delay);
    const { runStage } = proxyActivities<MessageActivities>({
      startToCloseTimeout: route.stageTimeoutMs,
      retry: retryPolicyAfterLocalAttempt(route),
    });
    return await runStage({ ...input, attemptOffset: 1 });
  }
}
