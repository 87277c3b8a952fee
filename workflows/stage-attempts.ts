/** Runs every attempt of one stage, its first attempt locally when the topic policy says so. Workflow code. */
import {
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  sleep,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { MessageActivities } from '../activities/message-activities';
import { LOCAL_ATTEMPT_REFUSED } from '../src/contract/errors';
import { revisionOf } from '../src/contract/topic-policy';
import type { StageInput } from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';
import {
  delayAfterLocalAttemptMs,
  finalLocalFailure,
  ledgerRetryPolicy,
  retriesAfterLocalAttempt,
  retryPolicyAfterLocalAttempt,
  stageRetryPolicy,
} from './stage-retry-policy';

/**
 * Whether a policy keeps the attempt ledger (revision 3 with a heartbeat timeout; a stage whose timeout is
 * too short for a heartbeat timeout below it counts attempts as Temporal does).
 */
export function ledgerOn(topicPolicy: TopicPolicy): boolean {
  return revisionOf(topicPolicy) >= 3 && (topicPolicy.heartbeatTimeoutMs ?? 0) > 0;
}

/** The local attempt refused to run: its workflow task is a retry, so an earlier run of it may have killed its worker. */
function refusedLocally(err: unknown): boolean {
  const cause = err instanceof ApplicationFailure ? err : (err as { cause?: unknown } | null)?.cause;
  return cause instanceof ApplicationFailure && cause.type === LOCAL_ATTEMPT_REFUSED;
}

/**
 * The stage's result, or what its last attempt threw. The branches depend only on the policy in the
 * `lookupRoute` marker (`firstAttempt`, `revision`), so messages started by older workers keep the commands
 * their histories replay with, and no patch marker is needed.
 *
 * Since revision 3 a local first attempt first asks the server whether its workflow task is a retry (see
 * `stage-runner.ts`): a local attempt that killed its worker is lost with the workflow task, and would run
 * again on the next worker forever. A refused attempt is charged as the lost one, and the stage continues
 * as activity attempts that run alone in their worker (`suspect`), which the attempt ledger counts.
 */
export async function runStageAttempts(
  topicPolicy: TopicPolicy,
  input: StageInput,
  cycle: { refused: boolean },
): Promise<unknown> {
  const ledger = ledgerOn(topicPolicy);
  const activities = (policy: RetryPolicy) =>
    proxyActivities<MessageActivities>({
      startToCloseTimeout: topicPolicy.stageTimeoutMs,
      ...(ledger ? { heartbeatTimeout: topicPolicy.heartbeatTimeoutMs } : {}),
      retry: ledger ? ledgerRetryPolicy(topicPolicy, policy) : policy,
    });
  const budget = ledger ? { attemptBudget: topicPolicy.retry.maximumAttempts } : {};
  if (topicPolicy.firstAttempt !== 'local') {
    return activities(stageRetryPolicy(topicPolicy)).runStage({ ...input, ...budget });
  }
  const local = proxyLocalActivities<MessageActivities>({
    startToCloseTimeout: topicPolicy.stageTimeoutMs,
    retry: { maximumAttempts: 1, nonRetryableErrorTypes: topicPolicy.retry.nonRetryableErrorTypes },
  });
  const suspectAttempts = () => {
    // The lost attempt is charged (unless it was the whole budget: one attempt still runs, alone).
    const lostCounts = topicPolicy.retry.maximumAttempts > 1;
    const policy = lostCounts ? retryPolicyAfterLocalAttempt(topicPolicy) : stageRetryPolicy(topicPolicy);
    return activities(policy).runStage({
      ...input,
      ...budget,
      attemptOffset: lostCounts ? 1 : 0,
      suspect: true,
    });
  };
  // Every local attempt of the lost workflow task may have been the one that killed the worker, not only
  // the first to notice: once one refused, the cycle's later stages start as suspects too.
  if (ledger && cycle.refused) return suspectAttempts();
  try {
    return await local.runStage(ledger ? { ...input, guardLocal: true } : input);
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (ledger && refusedLocally(err)) {
      cycle.refused = true;
      return await suspectAttempts();
    }
    if (!retriesAfterLocalAttempt(err, topicPolicy)) throw finalLocalFailure(err, topicPolicy);
    const delay = delayAfterLocalAttemptMs(err, topicPolicy);
    if (delay > 0) await sleep(delay);
    return await activities(retryPolicyAfterLocalAttempt(topicPolicy)).runStage({
      ...input,
      ...budget,
      attemptOffset: 1,
    });
  }
}
