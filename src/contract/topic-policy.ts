/**
 * The topic's policy: what a worker answers for a topic when a message starts a cycle, and the revision of
 * the message rules recorded with it. Workflow-safe.
 */
import type { RedrivePolicy } from './backoff';
import type { MirrorPolicy } from './mirror';

/**
 * `local`: the first attempt of a stage runs as a local activity inside the workflow task, and only its
 * retries are activity tasks. `activity`: every attempt is an activity task.
 */
export type FirstAttempt = 'local' | 'activity';

/**
 * What the worker knows about a topic (its stages, retry policy, timeouts and guards), answered by the
 * `lookupRoute` local activity at the start of every cycle and recorded in the history's marker. The workflow
 * follows the recorded policy, so every field name here is on the wire: rename none.
 */
export interface TopicPolicy {
  found: boolean;
  stages: string[];
  hasSchema: boolean;
  retry: {
    initialIntervalMs: number;
    backoffCoefficient: number;
    maximumIntervalMs: number;
    maximumAttempts: number;
    nonRetryableErrorTypes: string[];
  };
  stageTimeoutMs: number;
  /**
   * Where the first attempt of each stage runs. Absent in policies recorded before the option existed:
   * those messages run every attempt as an activity, which keeps their histories replayable.
   */
  firstAttempt?: FirstAttempt;
  redrive: RedrivePolicy;
  /**
   * Heartbeat timeout of a stage's activity attempts: how long a worker may go silent before the attempt is
   * declared dead with its worker. Absent in policies recorded before it existed.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Which rules the message follows, recorded with the policy so that a message keeps the commands its
   * history was written with: absent (before this field), or {@link POLICY_REVISION} at the time.
   */
  revision?: number;
  expireAfterMs: number;
  maxRepairCycles: number;
  /** Largest repaired payload accepted, in UTF-8 bytes of its JSON. */
  maxPayloadBytes: number;
  workerIdentity: string;
  /**
   * Where this worker mirrors dead letters and sends immediate alerts, and the delivery budgets. Recorded
   * from revision 5 (absent before, and when the worker has no sink and no alert webhook).
   */
  mirror?: MirrorPolicy;
}

/** Default heartbeat timeout of a stage's activity attempts (`heartbeatTimeout` of `defineHandler`). */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * The revision of the message rules a worker records with each policy (`TopicPolicy.revision`). Workflow code
 * branches on the revision recorded in the history, never on the code running now, so messages started or
 * parked by an older release replay with the commands they were written with. Raise it for every change
 * of the workflow's commands, and keep the old branch. (Earlier docs call it the route revision.)
 *
 * - absent: before revisions (local first attempts when `firstAttempt` is recorded);
 * - 3: the attempt ledger and `WORKER_CRASHED`, local first attempts that refuse to run in a retried
 *   workflow task, bounded stage results, `NO_HANDLER` re-driven, idempotency keys per payload version;
 * - 4: the park memo (`src/contract/park-memo.ts`) and `DlqMessageId` written when the message parks. (A
 *   `patched()` marker was tried first: a query that replayed such a history on a loaded worker failed with
 *   "patch marker encountered … but there is no corresponding change command"; the recorded revision has no
 *   marker to miss.)
 * - 5: dead letters mirrored out (`mirror`, src/contract/mirror.ts): park and resolution events to the
 *   worker's sinks and the immediate alert to the alert webhook, each through `deliverMirrorEvent`, and
 *   `DlqUndelivered` when one was not delivered within its budget. (`reportSecurityFailure` and
 *   `reportWorkerCrash` stay for the histories of revisions 3 and 4.)
 */
export const POLICY_REVISION = 5;

/** The revision a recorded policy follows. */
export function revisionOf(topicPolicy: { revision?: number } | undefined): number {
  return topicPolicy?.revision ?? 0;
}

/** @deprecated Renamed {@link TopicPolicy}: it is the topic's policy, not a route. */
export type Route = TopicPolicy;
