/**
 * `processMessage`: one durable workflow per message. It runs the topic's stages, parks in `dead`
 * when they fail for good, and waits for an operator (`retry`, `repair`, `discard`), an automatic
 * re-drive, or expiry. All state is JSON and is carried through continue-as-new.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { MessageActivities } from '../activities/message-activities';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/shared/definitions';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqStatus,
} from '../src/shared/search-attributes';
import { failureFingerprint } from '../src/shared/fingerprint';
import { redriveDelayMs } from '../src/shared/backoff';
import type {
  AuditEntry,
  DeadLetter,
  DlqStatusValue,
  MessageOutcome,
  MessageState,
  ProcessMessageInput,
  RepairAccepted,
  RetryInput,
  Route,
} from '../src/shared/types';
import { formatIssues, jsonProblem } from '../src/shared/json';
import { repairedPayload } from '../src/shared/merge-patch';
import { jsonByteLength } from '../src/shared/size';
import { explainDeadLetter } from './explain';
import { trimAudit } from './audit';
import { operatorInputSchemas } from './lazy-schemas';
import { factsFromFailure, noHandlerFacts } from './failure-facts';
import type { FailureFacts } from './failure-facts';
import { runStageAttempts } from './stage-attempts';

// The route lookup is pure worker-side configuration: retry it until a worker answers (no attempt limit),
// so an infrastructure hiccup never fails the workflow.
const { lookupRoute } = proxyLocalActivities<MessageActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumInterval: '1m' },
});

/** Activities that are not stages: short and retried a few times. */
const { validatePayload, reportSecurityFailure } = proxyActivities<MessageActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

type PendingAction =
  | { kind: 'retry'; via: 'signal'; raw: unknown }
  | { kind: 'retry'; via: 'update'; input: RetryInput; payload: unknown; changed: boolean }
  | { kind: 'discard'; raw: unknown };

const nowIso = (): string => new Date(Date.now()).toISOString();

function initialState(input: ProcessMessageInput): MessageState {
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

export async function processMessage(input: ProcessMessageInput): Promise<MessageOutcome> {
  const { workflowId } = workflowInfo();
  const state: MessageState = input.carried ?? initialState(input);
  const actions: PendingAction[] = [];
  let repairInFlight = false;

  const audit = (
    entry: Omit<AuditEntry, 'at' | 'payloadVersionBefore' | 'payloadVersionAfter'> & Partial<AuditEntry>,
  ) => {
    state.audit.push({
      at: nowIso(),
      payloadVersionBefore: state.payloadVersion,
      payloadVersionAfter: state.payloadVersion,
      ...entry,
    });
    trimAudit(state);
  };

  const setStatus = (status: DlqStatusValue, extra: SearchAttributeUpdatePair[] = []) =>
    upsertSearchAttributes([{ key: DlqStatus, value: status }, ...extra]);

  /** Problems that make a retry impossible right now, checked before any payload work. */
  const retryBlockers = (): string[] => {
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
  };

  /** Computes and checks the payload a retry would run with. Runs the topic's schema in an activity. */
  const prepareRetry = async (
    raw: unknown,
  ): Promise<
    { ok: true; input: RetryInput; payload: unknown; changed: boolean } | { ok: false; problems: string[] }
  > => {
    const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw ?? {});
    if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
    const blockers = retryBlockers();
    if (blockers.length) return { ok: false, problems: blockers };
    const retryInput = parsed.data;
    const current = state.envelope.payload;
    const changed = retryInput.patch !== undefined || retryInput.payload !== undefined;
    const payload = repairedPayload(current, retryInput);
    const shape = jsonProblem(payload);
    if (shape) return { ok: false, problems: [`payload must be plain JSON: ${shape}`] };
    const route = state.route;
    const size = jsonByteLength(payload);
    if (route && size > route.maxPayloadBytes) {
      return {
        ok: false,
        problems: [`payload is ${size} bytes; the limit is ${route.maxPayloadBytes} bytes`],
      };
    }
    if (changed && route?.hasSchema) {
      try {
        const verdict = await validatePayload({ topic: state.envelope.topic, payload });
        if (verdict.problems.length) return { ok: false, problems: verdict.problems };
      } catch (err) {
        if (isCancellation(err)) throw err;
        // The schema could not be checked (no worker for the topic answered): refuse rather than guess.
        return {
          ok: false,
          problems: ['the payload could not be validated against the topic schema; try again'],
        };
      }
    }
    return { ok: true, input: retryInput, payload, changed };
  };

  setHandler(stateQuery, () => state);

  setHandler(retrySignal, (raw) => {
    if (state.status !== 'dead') {
      audit({ action: 'ignored', via: 'signal', problems: [`retry received while ${state.status}`] });
      return;
    }
    actions.push({ kind: 'retry', via: 'signal', raw });
  });

  setHandler(discardSignal, (raw) => {
    if (state.status !== 'dead') {
      audit({ action: 'ignored', via: 'signal', problems: [`discard received while ${state.status}`] });
      return;
    }
    actions.push({ kind: 'discard', raw });
  });

  setHandler(
    repairUpdate,
    async (raw): Promise<RepairAccepted> => {
      repairInFlight = true;
      try {
        const checked = await prepareRetry(raw);
        // A discard may have been applied while the schema check ran.
        const prepared: typeof checked =
          checked.ok && state.status !== 'dead'
            ? { ok: false, problems: [`the message became ${state.status} while the repair was checked`] }
            : checked;
        if (!prepared.ok) {
          const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw);
          audit({
            action: 'retry-rejected',
            via: 'update',
            problems: prepared.problems,
            ...(parsed.success && parsed.data.operator ? { operator: parsed.data.operator } : {}),
          });
          throw ApplicationFailure.create({
            type: 'ValidationError',
            message: `Repair rejected: ${prepared.problems.join('; ')}`,
            details: [{ problems: prepared.problems }],
            nonRetryable: true,
          });
        }
        actions.push({
          kind: 'retry',
          via: 'update',
          input: prepared.input,
          payload: prepared.payload,
          changed: prepared.changed,
        });
        return {
          accepted: true,
          workflowId,
          payloadVersion: state.payloadVersion + (prepared.changed ? 1 : 0),
        };
      } finally {
        repairInFlight = false;
      }
    },
    {
      // Synchronous checks only; the schema check runs in the handler, before anything changes.
      validator: (raw) => {
        const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw ?? {});
        const problems = parsed.success ? retryBlockers() : formatIssues(parsed.error.issues);
        if (repairInFlight || actions.length > 0)
          problems.push('another retry or discard is already being applied');
        if (problems.length) {
          throw ApplicationFailure.create({
            type: 'ValidationError',
            message: `Repair rejected: ${problems.join('; ')}`,
            details: [{ problems }],
            nonRetryable: true,
          });
        }
      },
      description: 'Validated fix-and-retry: {patch?, payload?, reason?, operator?}',
    },
  );

  const outcome = (status: MessageOutcome['status']): MessageOutcome => ({
    status,
    workflowId,
    messageId: state.envelope.id,
    topic: state.envelope.topic,
    payloadVersion: state.payloadVersion,
    stageResults: state.stageResults,
    ...(state.deadLetter ? { deadLetter: state.deadLetter } : {}),
    audit: state.audit,
  });

  /** Leaves `dead` for another processing cycle; stale queued actions are recorded as ignored. */
  const resume = (
    via: AuditEntry['via'],
    action: 'retry' | 'redrive',
    input: RetryInput,
    payload: unknown,
    changed: boolean,
  ) => {
    const before = state.payloadVersion;
    if (changed) {
      state.envelope = { ...state.envelope, payload };
      state.payloadVersion += 1;
    }
    state.cycle += 1;
    if (action === 'redrive') state.redrives += 1;
    state.status = 'retrying';
    state.audit.push({
      at: nowIso(),
      action,
      via,
      ...(input.operator ? { operator: input.operator } : {}),
      ...(input.reason ? { reason: input.reason } : {}),
      payloadVersionBefore: before,
      payloadVersionAfter: state.payloadVersion,
    });
    for (const stale of actions.splice(0)) {
      audit({
        action: 'ignored',
        via: stale.kind === 'retry' ? stale.via : 'signal',
        problems: ['superseded by an earlier action'],
      });
    }
    setStatus('retrying');
    setCurrentDetails(`Retrying (cycle ${state.cycle}) from stage ${state.deadLetter?.stage ?? 'start'}.`);
  };

  const park = (facts: FailureFacts, route: Route, stageStartedAt: string) => {
    const now = nowIso();
    state.parkCount += 1;
    state.firstFailureAt ??= facts.attempts > 1 ? stageStartedAt : now;
    const canRedrive =
      (facts.errorClass === 'temporary' || facts.errorClass === 'timeout') &&
      state.cycle < route.maxRepairCycles;
    const delay = canRedrive ? redriveDelayMs(route.redrive, state.redrives) : undefined;
    const { envelope } = state;
    const dl: DeadLetter = {
      workflowId,
      messageId: envelope.id,
      topic: envelope.topic,
      payload: envelope.payload,
      payloadVersion: state.payloadVersion,
      errorClass: facts.errorClass,
      errorType: facts.errorType,
      reason: facts.reason,
      ...(facts.causeReason ? { causeReason: facts.causeReason } : {}),
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
      ...(facts.workerIdentity
        ? { workerIdentity: facts.workerIdentity }
        : { workerIdentity: route.workerIdentity }),
      parkCount: state.parkCount,
      ...(delay !== undefined ? { nextRedriveAt: new Date(Date.now() + delay).toISOString() } : {}),
      expiresAt: new Date(Date.now() + route.expireAfterMs).toISOString(),
    };
    state.status = 'dead';
    state.deadLetter = dl;
    audit({
      action: 'parked',
      via: 'auto',
      reason: `${dl.errorClass}/${dl.reason}: ${dl.message}`.slice(0, 500),
    });
    setStatus('dead', [
      { key: DlqErrorClass, value: dl.errorClass },
      { key: DlqReason, value: dl.reason },
      { key: DlqFingerprint, value: dl.fingerprint },
      { key: DlqAttempts, value: dl.attempts },
      { key: DlqParkCount, value: dl.parkCount },
      { key: DlqParkedAt, value: new Date(Date.now()) },
    ]);
    setCurrentDetails(explainDeadLetter(dl));
    log.warn('Message parked', {
      workflowId,
      topic: dl.topic,
      errorClass: dl.errorClass,
      reason: dl.reason,
      fingerprint: dl.fingerprint,
    });
    return dl;
  };

  /** Runs the stages that have not succeeded yet. Returns the failure facts, or undefined on success. */
  const runStages = async (route: Route): Promise<{ facts: FailureFacts; startedAt: string } | undefined> => {
    for (const stage of route.stages) {
      if (state.completedStages.includes(stage)) continue;
      const startedAt = nowIso();
      try {
        const result = await runStageAttempts(route, {
          workflowId,
          stage,
          idempotencyKey: `${workflowId}:${stage}:${state.cycle}`,
          cycle: state.cycle,
          envelope: state.envelope,
          previous: state.stageResults,
        });
        state.completedStages.push(stage);
        state.stageResults[stage] = result ?? null;
      } catch (err) {
        if (isCancellation(err)) throw err; // an operator cancelled the workflow itself
        return { facts: factsFromFailure(err, stage, route), startedAt };
      }
    }
    return undefined;
  };

  /** Handles one queued operator action while dead. Returns the outcome when the workflow should end. */
  const handleAction = async (action: PendingAction): Promise<'resumed' | 'discarded' | 'stay'> => {
    if (action.kind === 'discard') {
      const parsed = operatorInputSchemas().discardInputSchema.safeParse(action.raw);
      if (!parsed.success) {
        audit({ action: 'discard-rejected', via: 'signal', problems: formatIssues(parsed.error.issues) });
        return 'stay';
      }
      audit({
        action: 'discard',
        via: 'signal',
        reason: parsed.data.reason,
        ...(parsed.data.operator ? { operator: parsed.data.operator } : {}),
      });
      return 'discarded';
    }
    if (action.via === 'update') {
      resume('update', 'retry', action.input, action.payload, action.changed);
      return 'resumed';
    }
    const prepared = await prepareRetry(action.raw);
    if (!prepared.ok) {
      const parsed = operatorInputSchemas().retryInputSchema.safeParse(action.raw);
      audit({
        action: 'retry-rejected',
        via: 'signal',
        problems: prepared.problems,
        ...(parsed.success && parsed.data.operator ? { operator: parsed.data.operator } : {}),
      });
      return 'stay';
    }
    resume('signal', 'retry', prepared.input, prepared.payload, prepared.changed);
    return 'resumed';
  };

  /** Waits in `dead` for an action, a re-drive or expiry. Returns an outcome when the workflow ends. */
  const waitWhileDead = async (): Promise<MessageOutcome | undefined> => {
    for (;;) {
      const dl = state.deadLetter!;
      const expiresAt = Date.parse(dl.expiresAt);
      const redriveAt = dl.nextRedriveAt ? Date.parse(dl.nextRedriveAt) : Infinity;
      const wakeAt = Math.min(expiresAt, redriveAt);
      const woken = await condition(
        () => actions.length > 0 || workflowInfo().continueAsNewSuggested,
        Math.max(1, wakeAt - Date.now()),
      );
      const action = actions.shift();
      if (action) {
        const result = await handleAction(action);
        if (result === 'discarded') return finish('discarded');
        if (result === 'resumed') return undefined;
        continue;
      }
      if (woken && workflowInfo().continueAsNewSuggested) {
        // Let update handlers finish so no accepted repair is lost, then start a fresh history.
        await condition(allHandlersFinished);
        if (actions.length > 0) continue;
        audit({ action: 'continued-as-new', via: 'auto' });
        return await continueAsNew<typeof processMessage>({ envelope: state.envelope, carried: state });
      }
      if (Date.now() >= expiresAt) {
        audit({ action: 'expired', via: 'auto', reason: `not resolved by ${dl.expiresAt}` });
        return finish('expired');
      }
      if (Date.now() >= redriveAt) {
        resume('auto', 'redrive', { reason: `automatic re-drive ${state.redrives + 1}` }, undefined, false);
        return undefined;
      }
    }
  };

  const finish = (status: MessageOutcome['status']): MessageOutcome => {
    state.status = status;
    if (status !== 'succeeded') {
      setStatus(status);
      setCurrentDetails(`Resolved: ${status}.`);
    }
    if (status === 'recovered') audit({ action: 'recovered', via: 'auto' });
    return outcome(status);
  };

  for (;;) {
    if (state.status === 'processing' || state.status === 'retrying') {
      const route = await lookupRoute(state.envelope.topic);
      state.route = route;
      const startedAt = nowIso();
      const failure = route.found
        ? await runStages(route)
        : { facts: noHandlerFacts(state.envelope.topic, route.workerIdentity), startedAt };
      if (!failure) {
        await condition(allHandlersFinished);
        return finish(state.parkCount > 0 ? 'recovered' : 'succeeded');
      }
      const dl = park(failure.facts, route, failure.startedAt);
      if (dl.errorClass === 'security') {
        log.error('SECURITY ALERT: message parked with a security failure', {
          workflowId,
          topic: dl.topic,
          reason: dl.reason,
        });
        try {
          await reportSecurityFailure(dl);
        } catch (err) {
          if (isCancellation(err)) throw err;
          log.error('The security alert could not be delivered; the message stays parked', { workflowId });
        }
      }
    }
    const ended = await waitWhileDead();
    if (ended) {
      await condition(allHandlersFinished);
      return ended;
    }
  }
}
