/**
 * `processMessage`: one durable workflow per message. It runs the topic's stages, parks in `dead` when they
 * fail for good, and waits for an operator (`retry`, `repair`, `discard`), an automatic re-drive, or expiry.
 * The transitions live in `message-machine.ts`; this file is the effect loop that runs what they decide.
 * All state is JSON and is carried through continue-as-new.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { MessageActivities } from '../activities/message-activities';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import { DlqMessageId, DlqStatus } from '../src/contract/search-attributes';
import { PARK_MEMO_KEY, parkMemo } from '../src/contract/park-memo';
import type {
  DlqStatusValue,
  MessageOutcome,
  MessageState,
  ProcessMessageInput,
  RepairAccepted,
  RetryInput,
} from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';
import { formatIssues } from '../src/contract/validation-issues';
import { jsonProblem } from '../src/contract/plain-json';
import { repairedPayload } from '../src/contract/merge-patch';
import { jsonByteLength } from '../src/contract/size';
import { explainDeadLetter } from './explain';
import { operatorInputSchemas } from './lazy-schemas';
import { factsFromFailure, noHandlerFacts, resultTooLargeFacts } from './failure-facts';
import type { FailureFacts } from './failure-facts';
import { runStageAttempts } from './stage-attempts';
import * as machine from './message-machine';
import { countMessageEvent } from './metrics';
import { POLICY_REVISION, revisionOf } from '../src/contract/topic-policy';
import type { MirrorResolution } from '../src/contract/mirror';
import { mirrorEvents } from './mirror-events';

// The policy lookup is pure worker-side configuration: retry it until a worker answers (no attempt limit),
// so an infrastructure hiccup never fails the workflow. `lookupRoute` is a wire name (recorded in every
// history's marker): it keeps its name although it answers the topic's policy.
const { lookupRoute } = proxyLocalActivities<MessageActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumInterval: '1m' },
});

/** Activities that are not stages: short and retried a few times. */
const { validatePayload, reportSecurityFailure, reportWorkerCrash } = proxyActivities<MessageActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

/** Patch marker of the `cancelled` status recorded when a message is cancelled. */
const CANCELLED_STATUS_PATCH = 'dlq-cancelled-status';

type PendingAction =
  | { kind: 'retry'; via: 'signal'; raw: unknown }
  | { kind: 'retry'; via: 'update'; input: RetryInput; payload: unknown; changed: boolean }
  | { kind: 'discard'; via: 'signal'; raw: unknown };

/** The audit actions that resolve a message as each status, for its resolution event. */
const RESOLVING_ACTIONS: Record<MirrorResolution['status'], readonly string[]> = {
  recovered: ['retry', 'redrive'],
  discarded: ['discard'],
  expired: ['expired'],
  cancelled: ['cancelled'],
};

type Prepared =
  { ok: true; input: RetryInput; payload: unknown; changed: boolean } | { ok: false; problems: string[] };

/**
 * A policy recorded by a newer release: this code does not know that revision's path, and following its own
 * would write a history the newer code cannot replay. A plain `Error` fails the workflow task (not the
 * workflow), which Temporal retries until a worker of that release takes it (docs/upgrades.md).
 */
function refuseNewerRevision(topicPolicy: TopicPolicy | undefined): void {
  if (revisionOf(topicPolicy) > POLICY_REVISION)
    throw new Error(
      `Topic policy revision ${revisionOf(topicPolicy)} was recorded by a newer release; this worker knows up to ${POLICY_REVISION}`,
    );
}

export async function processMessage(input: ProcessMessageInput): Promise<MessageOutcome> {
  const { workflowId } = workflowInfo();
  const state: MessageState = machine.restoreState(input);
  refuseNewerRevision(state.route);
  const actions: PendingAction[] = [];
  /** A `repair` update is checking its payload; the main loop takes no action and does not expire meanwhile. */
  let preparing = false;
  /** The main loop is checking a signalled retry. */
  let applying = false;
  const now = () => Date.now();
  /** Park and resolution events to the worker's sinks (revision 5). */
  const mirror = mirrorEvents();

  const setStatus = (status: DlqStatusValue, extra: SearchAttributeUpdatePair[] = []) =>
    upsertSearchAttributes([{ key: DlqStatus, value: status }, ...extra]);

  /** Computes and checks the payload a retry would run with. Runs the topic's schema in an activity. */
  const prepareRetry = async (raw: unknown): Promise<Prepared> => {
    const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw ?? {});
    if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues) };
    const blockers = machine.retryBlockers(state);
    if (blockers.length) return { ok: false, problems: blockers };
    const retryInput = parsed.data;
    const changed = retryInput.patch !== undefined || retryInput.payload !== undefined;
    const payload = repairedPayload(state.envelope.payload, retryInput);
    const shape = jsonProblem(payload);
    if (shape) return { ok: false, problems: [`payload must be plain JSON: ${shape}`] };
    const topicPolicy = state.route;
    const size = jsonByteLength(payload);
    if (topicPolicy && size > topicPolicy.maxPayloadBytes) {
      return {
        ok: false,
        problems: [`payload is ${size} bytes; the limit is ${topicPolicy.maxPayloadBytes} bytes`],
      };
    }
    if (changed && topicPolicy?.hasSchema) {
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

  const operatorOf = (raw: unknown) => {
    const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw);
    return parsed.success && parsed.data.operator ? { operator: parsed.data.operator } : {};
  };

  const rejection = (problems: string[]) => {
    countMessageEvent('repairRejected', state);
    return ApplicationFailure.create({
      type: 'ValidationError',
      message: `Repair rejected: ${problems.join('; ')}`,
      details: [{ problems }],
      nonRetryable: true,
    });
  };

  setHandler(stateQuery, () => state);

  setHandler(retrySignal, (raw) => {
    if (state.status !== 'dead') {
      machine.audit(state, now(), {
        action: 'ignored',
        via: 'signal',
        problems: [`retry received while ${state.status}`],
      });
      return;
    }
    actions.push({ kind: 'retry', via: 'signal', raw });
  });

  setHandler(discardSignal, (raw) => {
    if (state.status !== 'dead') {
      machine.audit(state, now(), {
        action: 'ignored',
        via: 'signal',
        problems: [`discard received while ${state.status}`],
      });
      return;
    }
    actions.push({ kind: 'discard', via: 'signal', raw });
  });

  setHandler(
    repairUpdate,
    async (raw): Promise<RepairAccepted> => {
      preparing = true;
      let checked: Prepared;
      try {
        checked = await prepareRetry(raw);
      } finally {
        preparing = false;
      }
      // The main loop applies nothing while a repair is checked; this guards older histories.
      const prepared: Prepared =
        checked.ok && state.status !== 'dead'
          ? { ok: false, problems: [`the message became ${state.status} while the repair was checked`] }
          : checked;
      const dryRun = prepared.ok
        ? prepared.input.dryRun === true
        : Boolean((raw as RetryInput | undefined)?.dryRun);
      if (!prepared.ok) {
        if (!dryRun)
          machine.audit(state, now(), {
            action: 'retry-rejected',
            via: 'update',
            problems: prepared.problems,
            ...operatorOf(raw),
          });
        throw rejection(prepared.problems);
      }
      const payloadVersion = state.payloadVersion + (prepared.changed ? 1 : 0);
      if (dryRun) return { accepted: true, workflowId, payloadVersion, dryRun: true };
      // First in line: it was admitted before any signal that arrived while it was checked, and the main
      // loop takes it next, so an accepted repair is the one that runs. (Policies before revision 3: queued
      // last, as their histories were written.)
      const accepted: PendingAction = {
        kind: 'retry',
        via: 'update',
        input: prepared.input,
        payload: prepared.payload,
        changed: prepared.changed,
      };
      if (revisionOf(state.route) >= 3) actions.unshift(accepted);
      else actions.push(accepted);
      return { accepted: true, workflowId, payloadVersion };
    },
    {
      // Synchronous checks only; the schema check runs in the handler, before anything changes.
      validator: (raw) => {
        const parsed = operatorInputSchemas().retryInputSchema.safeParse(raw ?? {});
        const problems = parsed.success
          ? machine.repairAdmissionProblems(state, parsed.data, {
              busy: preparing || applying || actions.length > 0,
              nowMs: now(),
            })
          : formatIssues(parsed.error.issues);
        if (problems.length) throw rejection(problems);
      },
      description: 'Validated fix-and-retry: {patch?, payload?, reason?, operator?, notAfter?, dryRun?}',
    },
  );

  /** Leaves `dead` for another processing cycle; actions queued behind it are recorded as ignored. */
  const resume = (
    via: 'signal' | 'update' | 'auto',
    action: 'retry' | 'redrive',
    retryInput: RetryInput,
    payload: unknown,
    changed: boolean,
  ) => {
    countMessageEvent(action === 'redrive' ? 'redriven' : 'retried', state);
    machine.resume(state, { via, action, input: retryInput, payload, changed }, actions.splice(0), now());
    setStatus('retrying');
    setCurrentDetails(`Retrying (cycle ${state.cycle}) from stage ${state.deadLetter?.stage ?? 'start'}.`);
  };

  /** The resolution event of a message that was parked, from the audit entry that resolved it. */
  const resolutionOf = (status: MirrorResolution['status']): MirrorResolution => {
    const entry = [...state.audit].reverse().find((e) => RESOLVING_ACTIONS[status].includes(e.action));
    return {
      status,
      at: new Date(now()).toISOString(),
      ...(entry?.reason !== undefined ? { reason: entry.reason } : {}),
      ...(entry?.operator !== undefined ? { operator: entry.operator } : {}),
    };
  };

  /** From revision 5: the resolution goes to the sinks, awaited within its budget (see mirror-events.ts). */
  const mirrorResolution = async (status: MirrorResolution['status']) => {
    const mirrorPolicy = state.route?.mirror;
    if (revisionOf(state.route) < 5 || !mirrorPolicy || !state.deadLetter) return;
    await mirror.resolved(state.deadLetter, mirrorPolicy, resolutionOf(status));
  };

  const finish = async (status: MessageOutcome['status']): Promise<MessageOutcome> => {
    machine.finish(state, status, now());
    if (status === 'recovered' || status === 'discarded' || status === 'expired')
      countMessageEvent(status, state);
    if (status !== 'succeeded') {
      setStatus(status);
      setCurrentDetails(`Resolved: ${status}.`);
      await mirrorResolution(status);
    }
    return machine.outcomeOf(state, workflowId);
  };

  /** Runs the stages that have not succeeded yet. Returns the failure facts, or undefined on success. */
  const runStages = async (
    topicPolicy: TopicPolicy,
  ): Promise<{ facts: FailureFacts; startedAt: string } | undefined> => {
    const cycle = { refused: false };
    for (const stage of topicPolicy.stages) {
      if (state.completedStages.includes(stage)) continue;
      const startedAt = new Date(now()).toISOString();
      let result: unknown;
      try {
        result = await runStageAttempts(
          topicPolicy,
          {
            workflowId,
            stage,
            idempotencyKey: machine.idempotencyKey(workflowId, stage, state, topicPolicy),
            cycle: state.cycle,
            payloadVersion: state.payloadVersion,
            envelope: state.envelope,
            previous: state.stageResults,
          },
          cycle,
        );
      } catch (err) {
        if (isCancellation(err)) throw err; // an operator cancelled the workflow itself
        return { facts: factsFromFailure(err, stage, topicPolicy), startedAt };
      }
      const tooLarge = machine.recordStageResult(state, stage, result, topicPolicy);
      if (tooLarge) return { facts: resultTooLargeFacts(stage, tooLarge, topicPolicy), startedAt };
    }
    return undefined;
  };

  /** Handles one queued operator action while dead. */
  const handleAction = async (action: PendingAction): Promise<'resumed' | 'discarded' | 'stay'> => {
    if (action.kind === 'discard') {
      const parsed = operatorInputSchemas().discardInputSchema.safeParse(action.raw);
      if (!parsed.success) {
        countMessageEvent('repairRejected', state);
        machine.audit(state, now(), {
          action: 'discard-rejected',
          via: 'signal',
          problems: formatIssues(parsed.error.issues),
        });
        return 'stay';
      }
      machine.audit(state, now(), {
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
    applying = true;
    let prepared: Prepared;
    try {
      prepared = await prepareRetry(action.raw);
    } finally {
      applying = false;
    }
    if (!prepared.ok) {
      countMessageEvent('repairRejected', state);
      machine.audit(state, now(), {
        action: 'retry-rejected',
        via: 'signal',
        problems: prepared.problems,
        ...operatorOf(action.raw),
      });
      return 'stay';
    }
    resume('signal', 'retry', prepared.input, prepared.payload, prepared.changed);
    return 'resumed';
  };

  /** Waits in `dead` for an action, a re-drive or expiry. Returns an outcome when the workflow ends. */
  const waitWhileDead = async (): Promise<MessageOutcome | undefined> => {
    for (;;) {
      // Messages whose policy predates revision 3 keep the order their histories were written with: they
      // take a queued action even while a repair is checked (revision 3 holds it, see onWake).
      const holdsForRepairs = revisionOf(state.route) >= 3;
      const woken = await condition(
        () =>
          (actions.length > 0 && !(holdsForRepairs && preparing)) || workflowInfo().continueAsNewSuggested,
        Math.max(1, machine.nextWakeAt(state) - now()),
      );
      const wake = machine.onWake(state, {
        queued: actions.length,
        preparing: holdsForRepairs && preparing,
        continueAsNewSuggested: woken && workflowInfo().continueAsNewSuggested,
        nowMs: now(),
      });
      switch (wake) {
        case 'hold':
          await condition(() => !preparing);
          continue;
        case 'action': {
          const result = await handleAction(actions.shift()!);
          if (result === 'discarded') return await finish('discarded');
          if (result === 'resumed') return undefined;
          continue;
        }
        case 'continue-as-new':
          // Let update handlers finish so no accepted repair is lost, then start a fresh history.
          await condition(allHandlersFinished);
          if (actions.length > 0) continue;
          machine.audit(state, now(), { action: 'continued-as-new', via: 'auto' });
          // A new run cannot await the deliveries of this one: they count as undelivered (revision 5).
          mirror.abandonPending();
          return await continueAsNew<typeof processMessage>(machine.carriedInput(state));
        case 'expire':
          machine.audit(state, now(), {
            action: 'expired',
            via: 'auto',
            reason: `not resolved by ${state.deadLetter!.expiresAt}`,
          });
          return await finish('expired');
        case 'redrive':
          resume('auto', 'redrive', { reason: `automatic re-drive ${state.redrives + 1}` }, undefined, false);
          return undefined;
        case 'wait':
          continue;
      }
    }
  };

  const park = async (facts: FailureFacts, topicPolicy: TopicPolicy, stageStartedAt: string) => {
    const { deadLetter: dl, searchAttributes } = machine.park(state, facts, topicPolicy, {
      workflowId,
      nowMs: now(),
      stageStartedAt,
    });
    countMessageEvent('parked', state);
    // The policy recorded for this cycle decides: a cycle run by an older release replays without the memo.
    if (revisionOf(topicPolicy) >= 4) {
      setStatus('dead', [...searchAttributes, { key: DlqMessageId, value: dl.messageId }]);
      upsertMemo({ [PARK_MEMO_KEY]: parkMemo(dl) });
    } else setStatus('dead', searchAttributes);
    setCurrentDetails(explainDeadLetter(dl));
    const alert = machine.immediateAlert(dl, topicPolicy);
    // Revision 5: the park event and the immediate alert start now and are not awaited (mirror-events.ts).
    if (revisionOf(topicPolicy) >= 5 && topicPolicy.mirror) mirror.parked(dl, topicPolicy.mirror, alert);
    log.warn('Message parked', {
      workflowId,
      topic: dl.topic,
      errorClass: dl.errorClass,
      reason: dl.reason,
      fingerprint: dl.fingerprint,
    });
    if (!alert) return;
    log.error(
      alert === 'security'
        ? 'SECURITY ALERT: message parked with a security failure'
        : 'POISON MESSAGE: parked after killing its worker',
      {
        workflowId,
        topic: dl.topic,
        reason: dl.reason,
      },
    );
    try {
      await (alert === 'security' ? reportSecurityFailure(dl) : reportWorkerCrash(dl));
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.error('The alert could not be delivered; the message stays parked', { workflowId });
    }
  };

  const main = async (): Promise<MessageOutcome> => {
    for (;;) {
      if (state.status === 'processing' || state.status === 'retrying') {
        const topicPolicy = await lookupRoute(state.envelope.topic);
        refuseNewerRevision(topicPolicy);
        state.route = topicPolicy;
        const startedAt = new Date(now()).toISOString();
        const failure = topicPolicy.found
          ? await runStages(topicPolicy)
          : { facts: noHandlerFacts(state.envelope.topic, topicPolicy), startedAt };
        if (!failure) {
          await condition(allHandlersFinished);
          return await finish(state.parkCount > 0 ? 'recovered' : 'succeeded');
        }
        await park(failure.facts, topicPolicy, failure.startedAt);
      }
      const ended = await waitWhileDead();
      if (ended) {
        await condition(allHandlersFinished);
        return ended;
      }
    }
  };

  try {
    return await main();
  } catch (err) {
    // A cancelled message is resolved, not parked: analytics and the CLI must not count it as dead.
    if (isCancellation(err) && patched(CANCELLED_STATUS_PATCH)) {
      state.status = 'cancelled';
      machine.audit(state, now(), { action: 'cancelled', via: 'auto' });
      setStatus('cancelled');
      setCurrentDetails('Resolved: cancelled.');
      // The cancellation is final; its resolution event still goes out (revision 5), within its budget.
      await CancellationScope.nonCancellable(() => mirrorResolution('cancelled'));
    }
    throw err;
  }
}
