/**
 * The message state machine: every transition of `processMessage` as plain functions over its JSON state,
 * with the time passed in. The workflow (`process-message.ts`) is the effect loop around it: it runs the
 * activities, timers and search-attribute upserts these functions decide. Workflow-safe and unit-tested on
 * its own (test/unit-machine.test.ts).
 */
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
} from '../src/contract/search-attributes';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { failureFingerprint } from '../src/contract/fingerprint';
import { redriveDelayMs } from '../src/contract/backoff';
import { revisionOf } from '../src/contract/topic-policy';
import { jsonByteLength } from '../src/contract/size';
import { MAX_STAGE_RESULTS_BYTES } from '../src/contract/limits';
import type {
  AuditEntry,
  DeadLetter,
  MessageOutcome,
  MessageState,
  ProcessMessageInput,
  RetryInput,
} from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';
import { trimAudit } from './audit';
import type { FailureFacts } from './failure-facts';

const iso = (ms: number): string => new Date(ms).toISOString();

export function initialState(input: ProcessMessageInput): MessageState {
  return {
    status: 'processing',
    envelope: input.envelope,
    payloadVersion: 1,
    completedStages: [],
    stageResults: {},
    cycle: 0,
    redrives: 0,
    parkCount: 0,
    audit: [],
  };
}

/**
 * The state a run starts from: a new message, or the state carried through continue-as-new. The carried
 * state holds the payload once (in `envelope`): the copies in `carried.envelope` and the dead letter are
 * left out by `carriedInput` and put back here. Older runs carried all three, which is read as it is.
 */
export function restoreState(input: ProcessMessageInput): MessageState {
  const carried = input.carried;
  if (!carried) return initialState(input);
  const envelope = carried.envelope ?? input.envelope;
  const { deadLetter, ...rest } = carried;
  return {
    ...rest,
    envelope,
    ...(deadLetter
      ? {
          deadLetter: Object.prototype.hasOwnProperty.call(deadLetter, 'payload')
            ? (deadLetter as DeadLetter)
            : { ...deadLetter, payload: envelope.payload },
        }
      : {}),
  };
}

/** The continue-as-new input: the payload once. */
export function carriedInput(state: MessageState): ProcessMessageInput {
  const { envelope, ...rest } = state;
  let deadLetter = state.deadLetter;
  if (deadLetter && deadLetter.payloadVersion === state.payloadVersion) {
    const { payload: _samePayload, ...withoutPayload } = deadLetter;
    deadLetter = withoutPayload as DeadLetter;
  }
  return { envelope, carried: { ...rest, ...(deadLetter ? { deadLetter } : {}) } };
}

/** The idempotency key of a stage: per payload version since revision 3, per cycle before. */
export function idempotencyKey(
  workflowId: string,
  stage: string,
  state: MessageState,
  topicPolicy: TopicPolicy,
): string {
  return revisionOf(topicPolicy) >= 3
    ? `${workflowId}:${stage}:${state.payloadVersion - 1}`
    : `${workflowId}:${stage}:${state.cycle}`;
}

/** Appends an audit entry, keeping the trail bounded. */
export function audit(
  state: MessageState,
  nowMs: number,
  entry: Omit<AuditEntry, 'at' | 'payloadVersionBefore' | 'payloadVersionAfter'> & Partial<AuditEntry>,
): void {
  state.audit.push({
    at: iso(nowMs),
    payloadVersionBefore: state.payloadVersion,
    payloadVersionAfter: state.payloadVersion,
    ...entry,
    ...(entry.problems ? { problems: boundedProblems(entry.problems) } : {}),
  });
  trimAudit(state);
}

/** At most 20 problems of at most 500 characters each are kept in the audit trail. */
export function boundedProblems(problems: string[]): string[] {
  const kept = problems.slice(0, 20).map((p) => (p.length > 500 ? `${p.slice(0, 497)}...` : p));
  if (problems.length > 20) kept.push(`... and ${problems.length - 20} more`);
  return kept;
}

/** Problems that make a retry impossible right now, checked before any payload work. */
export function retryBlockers(state: MessageState): string[] {
  const problems: string[] = [];
  if (state.status !== 'dead')
    problems.push(`the message is ${state.status}, not dead; only a dead message can be retried`);
  const limit = state.route?.maxRepairCycles;
  if (limit !== undefined && state.cycle >= limit) {
    problems.push(
      `the repair-cycle limit (${limit}) is reached; the message stays parked until it is discarded`,
    );
  }
  return problems;
}

/** What the `repair` validator refuses, synchronously, before the update is accepted. */
export function repairAdmissionProblems(
  state: MessageState,
  input: RetryInput,
  context: { busy: boolean; nowMs: number },
): string[] {
  const problems = retryBlockers(state);
  if (context.busy) problems.push('another retry or discard is already being applied');
  if (input.notAfter !== undefined && Date.parse(input.notAfter) < context.nowMs) {
    problems.push(
      `the request expired at ${input.notAfter}, before a worker received it (it was sent when no worker answered in time); nothing changed`,
    );
  }
  return problems;
}

/** Whether a parked failure is re-driven automatically: temporary and timeout failures only. */
export function redriveDelayFor(
  state: MessageState,
  facts: FailureFacts,
  topicPolicy: TopicPolicy,
): number | undefined {
  const canRedrive =
    (facts.errorClass === 'temporary' || facts.errorClass === 'timeout') &&
    state.cycle < topicPolicy.maxRepairCycles;
  return canRedrive ? redriveDelayMs(topicPolicy.redrive, state.redrives) : undefined;
}

/**
 * Parks the message: builds its dead letter from the failure's facts, records it, and returns it with the
 * search attributes that make it findable.
 */
export function park(
  state: MessageState,
  facts: FailureFacts,
  topicPolicy: TopicPolicy,
  context: { workflowId: string; nowMs: number; stageStartedAt: string },
): { deadLetter: DeadLetter; searchAttributes: SearchAttributeUpdatePair[] } {
  const now = iso(context.nowMs);
  state.parkCount += 1;
  state.firstFailureAt ??= facts.attempts > 1 ? context.stageStartedAt : now;
  const delay = redriveDelayFor(state, facts, topicPolicy);
  const { envelope } = state;
  const dl: DeadLetter = {
    workflowId: context.workflowId,
    messageId: envelope.id,
    topic: envelope.topic,
    payload: envelope.payload,
    payloadVersion: state.payloadVersion,
    errorClass: facts.errorClass,
    errorType: facts.errorType,
    reason: facts.reason,
    ...(facts.causeReason ? { causeReason: facts.causeReason } : {}),
    ...(facts.originalReason ? { originalReason: facts.originalReason } : {}),
    message: facts.message,
    ...(facts.stack ? { stack: facts.stack } : {}),
    ...(facts.details !== undefined ? { details: facts.details } : {}),
    attempts: facts.attempts,
    firstFailureAt: state.firstFailureAt,
    lastFailureAt: now,
    parkedAt: now,
    stage: facts.stage,
    fingerprint: failureFingerprint({ ...facts, topic: envelope.topic }),
    ...(envelope.correlationId ? { correlationId: envelope.correlationId } : {}),
    ...(envelope.traceId ? { traceId: envelope.traceId } : {}),
    ...(envelope.source ? { source: envelope.source } : {}),
    headers: envelope.headers,
    workerIdentity: facts.workerIdentity ?? topicPolicy.workerIdentity,
    parkCount: state.parkCount,
    ...(delay !== undefined ? { nextRedriveAt: iso(context.nowMs + delay) } : {}),
    expiresAt: iso(context.nowMs + topicPolicy.expireAfterMs),
  };
  state.status = 'dead';
  state.deadLetter = dl;
  audit(state, context.nowMs, {
    action: 'parked',
    via: 'auto',
    reason: `${dl.errorClass}/${dl.reason}: ${dl.message}`.slice(0, 500),
  });
  return {
    deadLetter: dl,
    searchAttributes: [
      { key: DlqErrorClass, value: dl.errorClass },
      { key: DlqReason, value: dl.reason },
      { key: DlqFingerprint, value: dl.fingerprint },
      { key: DlqAttempts, value: dl.attempts },
      { key: DlqParkCount, value: dl.parkCount },
      // Whole seconds: the visibility stores compare sub-second values differently (see DlqParkedAt).
      { key: DlqParkedAt, value: new Date(Math.floor(context.nowMs / 1000) * 1000) },
    ],
  };
}

/** A parking that must reach a person at once. */
export function immediateAlert(
  dl: DeadLetter,
  topicPolicy: TopicPolicy,
): 'security' | 'worker-crashed' | undefined {
  if (dl.errorClass === 'security') return 'security';
  if (revisionOf(topicPolicy) >= 3 && dl.reason === 'WORKER_CRASHED') return 'worker-crashed';
  return undefined;
}

/** The queued actions a resume supersedes, as the audit records them. */
export interface QueuedAction {
  kind: 'retry' | 'discard';
  via: 'signal' | 'update';
}

/**
 * Leaves `dead` for another processing cycle. Actions still queued behind the one applied cannot run (the
 * message is no longer dead): each is recorded as ignored, naming what was applied instead.
 */
export function resume(
  state: MessageState,
  applied: {
    via: AuditEntry['via'];
    action: 'retry' | 'redrive';
    input: RetryInput;
    payload: unknown;
    changed: boolean;
  },
  superseded: QueuedAction[],
  nowMs: number,
): void {
  const before = state.payloadVersion;
  if (applied.changed) {
    state.envelope = { ...state.envelope, payload: applied.payload };
    state.payloadVersion += 1;
  }
  state.cycle += 1;
  if (applied.action === 'redrive') state.redrives += 1;
  state.status = 'retrying';
  state.audit.push({
    at: iso(nowMs),
    action: applied.action,
    via: applied.via,
    ...(applied.input.operator ? { operator: applied.input.operator } : {}),
    ...(applied.input.reason ? { reason: applied.input.reason } : {}),
    payloadVersionBefore: before,
    payloadVersionAfter: state.payloadVersion,
  });
  for (const stale of superseded) {
    audit(state, nowMs, {
      action: 'ignored',
      via: stale.via,
      problems: [`${stale.kind} not applied: the ${applied.action} by ${applied.via} was applied first`],
    });
  }
}

/** What a parked message does when it wakes. */
export type Wake = 'action' | 'hold' | 'continue-as-new' | 'expire' | 'redrive' | 'wait';

/**
 * Decides a wake: queued actions first, but never while a repair is being checked (the repair, once
 * accepted, goes first; expiry and re-drive wait for it too); then continue-as-new (when the wait ended on
 * the server's suggestion, not on the timer), expiry, re-drive. The caller passes `preparing: false` for a
 * message whose policy predates revision 3: it did not hold for repairs.
 */
export function onWake(
  state: MessageState,
  context: { queued: number; preparing: boolean; continueAsNewSuggested: boolean; nowMs: number },
): Wake {
  if (context.preparing) return 'hold';
  if (context.queued > 0) return 'action';
  if (context.continueAsNewSuggested) return 'continue-as-new';
  const dl = state.deadLetter!;
  if (context.nowMs >= Date.parse(dl.expiresAt)) return 'expire';
  if (dl.nextRedriveAt && context.nowMs >= Date.parse(dl.nextRedriveAt)) return 'redrive';
  return 'wait';
}

/** When a parked message next wakes on its own: expiry or the next re-drive, whichever is first. */
export function nextWakeAt(state: MessageState): number {
  const dl = state.deadLetter!;
  return Math.min(Date.parse(dl.expiresAt), dl.nextRedriveAt ? Date.parse(dl.nextRedriveAt) : Infinity);
}

/** Records a stage's result; returns a problem when the results would outgrow their bound. */
export function recordStageResult(
  state: MessageState,
  stage: string,
  result: unknown,
  topicPolicy: TopicPolicy,
): string | undefined {
  const value = result ?? null;
  if (revisionOf(topicPolicy) >= 3) {
    const total = jsonByteLength({ ...state.stageResults, [stage]: value });
    if (total > MAX_STAGE_RESULTS_BYTES)
      return `the stage results would take ${total} bytes of JSON; at most ${MAX_STAGE_RESULTS_BYTES} are kept per message (return references to large data, not the data)`;
  }
  state.completedStages.push(stage);
  state.stageResults[stage] = value;
  return undefined;
}

/** Ends the workflow's state with `status`. */
export function finish(state: MessageState, status: MessageOutcome['status'], nowMs: number): void {
  state.status = status;
  if (status === 'recovered') audit(state, nowMs, { action: 'recovered', via: 'auto' });
}

/** The workflow's result. */
export function outcomeOf(state: MessageState, workflowId: string): MessageOutcome {
  return {
    status: state.status as MessageOutcome['status'],
    workflowId,
    messageId: state.envelope.id,
    topic: state.envelope.topic,
    payloadVersion: state.payloadVersion,
    stageResults: state.stageResults,
    payload: state.envelope.payload,
    ...(state.deadLetter ? { deadLetter: state.deadLetter } : {}),
    audit: state.audit,
  };
}
