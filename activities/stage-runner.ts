/**
 * `runStage`: runs one attempt of one stage of a message, as a local activity (a first attempt) or an
 * activity. An activity attempt keeps its ledger in heartbeats (see `src/contract/attempt-ledger.ts`) so that a message
 * that kills its worker is charged for it, and runs alone in its worker once it is suspected.
 */
import { Context } from '@temporalio/activity';
import { ActivityCancelledError, ActivityNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { LOCAL_ATTEMPT_REFUSED } from '../src/contract/errors';
import { z } from 'zod';
import type { Logger as PinoLogger } from 'pino';
import type { Handler } from '../src/worker/handlers';
import { envelopeSchema } from '../src/contract/envelope';
import { formatIssues } from '../src/contract/validation-issues';
import { jsonByteLength } from '../src/contract/size';
import { MAX_STAGE_RESULT_BYTES } from '../src/contract/limits';
import type { StageInput } from '../src/contract/types';
import {
  attemptNumber,
  ledgerAfterFailure,
  ledgerAtStart,
  spentBudget,
} from '../src/contract/attempt-ledger';
import type { AttemptLedger, LedgerPhase } from '../src/contract/attempt-ledger';
import { StageGate } from './stage-gate';
import { stageFailure, systemFailure } from './stage-failure';

const stageInputSchema = z.object({
  workflowId: z.string().min(1),
  stage: z.string().min(1),
  idempotencyKey: z.string().min(1),
  cycle: z.number().int().min(0),
  envelope: envelopeSchema,
  previous: z.record(z.string(), z.unknown()),
  attemptOffset: z.number().int().min(0).optional(),
  attemptBudget: z.number().int().min(1).optional(),
  suspect: z.boolean().optional(),
  guardLocal: z.boolean().optional(),
  payloadVersion: z.number().int().min(1).optional(),
});

export interface StageRunnerDeps {
  handlers: ReadonlyMap<string, Handler<unknown>>;
  logger: PinoLogger;
  identity: string;
  /** One per worker process: it is the process a crashing stage takes down. */
  gate?: StageGate;
  /** The running attempt's context. @defaultValue `Context.current` (a unit test passes its own) */
  currentContext?: () => Context;
}

const processGate = new StageGate();

/** An attempt that ends before the stage's code ran: it is not charged to the stage's budget. */
class UnchargedExit extends Error {
  constructor(readonly failure: ApplicationFailure) {
    super(failure.message);
    unchargedExits.add(this);
  }
}
const unchargedExits = new WeakSet<object>();

class StageDeadlineError extends Error {
  constructor(stage: string, ms: number) {
    super(`Stage ${stage} did not finish within its timeout of ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** How long before the server's start-to-close timeout the attempt gives up on its own, reporting TIMEOUT. */
export function localDeadlineMs(stageTimeoutMs: number): number {
  return Math.max(1, stageTimeoutMs - Math.min(1_000, Math.floor(stageTimeoutMs / 10)));
}

/**
 * Whether the workflow task this local attempt runs in was tried before. A local attempt is recorded only
 * when its workflow task completes: if it killed its worker, the task times out and the next worker runs
 * it again from the start, and the server never counts it. The server does count workflow task attempts.
 * One describe call per local attempt; if it fails, the attempt runs (the task could not complete anyway).
 */
async function workflowTaskRetried(ctx: Context): Promise<boolean> {
  const execution = ctx.info.workflowExecution;
  if (!execution) return false;
  try {
    const described = await ctx.client.workflowService.describeWorkflowExecution({
      namespace: ctx.info.workflowNamespace,
      execution: { workflowId: execution.workflowId, runId: execution.runId },
    });
    return (described.pendingWorkflowTask?.attempt ?? 1) > 1;
  } catch {
    return false;
  }
}

export function createStageRunner(deps: StageRunnerDeps) {
  const gate = deps.gate ?? processGate;
  const currentContext = deps.currentContext ?? (() => Context.current());

  return async function runStage(rawInput: StageInput): Promise<unknown> {
    const ctx = currentContext();
    const offset = typeof rawInput?.attemptOffset === 'number' ? rawInput.attemptOffset : 0;
    const parsedInput = stageInputSchema.safeParse(rawInput);
    if (!parsedInput.success) {
      throw systemFailure({
        errorClass: 'permanent',
        reason: 'SCHEMA_MISMATCH',
        message: `Invalid stage input: ${formatIssues(parsedInput.error.issues).join('; ')}`,
        nonRetryable: true,
        attempt: ctx.info.attempt + offset,
        stage: typeof rawInput?.stage === 'string' ? rawInput.stage : '?',
        workerIdentity: deps.identity,
      });
    }
    const input = parsedInput.data;
    const startedAt = Date.now();
    const handler = deps.handlers.get(input.envelope.topic);
    const stage = handler?.stages.find((s) => s.name === input.stage);
    const heartbeatMs = ctx.info.isLocal ? 0 : (ctx.info.heartbeatTimeoutMs ?? 0);
    // The ledger is kept only where the server can carry it: activity attempts with a heartbeat timeout.
    // Policies recorded before it existed schedule no heartbeat timeout and count as Temporal counts.
    const start =
      heartbeatMs > 0
        ? ledgerAtStart(
            ctx.info.heartbeatDetails,
            ctx.info.attempt,
            { charged: offset, suspect: input.suspect ?? false },
            heartbeatMs,
          )
        : undefined;
    let ledger: AttemptLedger | undefined = start?.ledger;
    const attempt = ledger ? attemptNumber(ledger) : ctx.info.attempt + offset;
    const budget = input.attemptBudget;
    const log = deps.logger.child({ workflowId: input.workflowId, stage: input.stage, attempt });

    const deadline = new AbortController();
    const signal = AbortSignal.any([ctx.cancellationSignal, deadline.signal]);
    // Heartbeats go out one at a time, in order, so a late periodic beat never overwrites a later phase.
    let beats: Promise<boolean> = Promise.resolve(true);
    let inFlight = false;
    let heartbeatFailed = false;
    const send = async (): Promise<boolean> => {
      inFlight = true;
      try {
        if (ledger?.phase === 'running') ledger = { ...ledger, beatAt: Date.now() };
        await ctx.client.activity.heartbeat(ctx.info.taskToken, ledger);
        return true;
      } catch (err) {
        // Cancelled, or no longer the current attempt (the server timed it out and may have started the next
        // one): the attempt is over, so it stops waiting for its turn and never starts the stage's code.
        if (err instanceof ActivityCancelledError || err instanceof ActivityNotFoundError)
          deadline.abort(err);
        else if (!heartbeatFailed) log.warn({ err }, 'Heartbeat not recorded (logged once per attempt)');
        heartbeatFailed = true;
        return false;
      } finally {
        inFlight = false;
      }
    };
    /** Records the ledger (with a new phase); resolves to whether the server took it. */
    const record = (phase?: LedgerPhase): Promise<boolean> => {
      if (!ledger) return Promise.resolve(true);
      if (phase) ledger = { ...ledger, phase };
      beats = beats.then(send);
      return beats;
    };
    /** Ends the attempt without charging it: the stage's code did not run. */
    const uncharged = (reason: string, message: string) =>
      new UnchargedExit(
        systemFailure({
          errorClass: 'temporary',
          reason,
          message,
          nonRetryable: false,
          attempt,
          stage: input.stage,
          workerIdentity: deps.identity,
        }),
      );

    // A death (or a timeout) this start charged is recorded at once, so that no later attempt charges it again.
    if (start?.chargedDeath || start?.chargedTimeout) await record('waiting');

    const spent = ledger && budget !== undefined ? spentBudget(ledger, budget) : undefined;
    if (ledger && spent === 'crashed') {
      // The stage killed its worker while running alone, and that spent the budget: never run it again.
      throw systemFailure({
        errorClass: 'permanent',
        reason: 'WORKER_CRASHED',
        message: `The worker running stage ${input.stage} died ${ledger.deaths} time(s) while the stage ran (the last time alone in its worker): it crashes or stalls its worker, so it is not run again`,
        nonRetryable: true,
        exhausted: true,
        attempt: ledger.charged,
        stage: input.stage,
        workerIdentity: deps.identity,
      });
    }
    if (ledger && spent === 'failed') {
      // The budget was spent by failures; the last one reached the server too late (after its timeout).
      const last = ledger.lastFailure;
      throw ApplicationFailure.create({
        type: last?.type ?? 'TimeoutError',
        message: last?.message ?? `Stage ${input.stage} spent its attempts`,
        nonRetryable: true,
        details: [
          {
            reason: last?.reason ?? 'TIMEOUT',
            errorClass: last?.errorClass ?? 'timeout',
            attempt: ledger.charged,
            stage: input.stage,
            name: last?.type ?? 'TimeoutError',
            workerIdentity: deps.identity,
            exhausted: true,
          },
        ],
      });
    }

    if (ctx.info.isLocal && input.guardLocal && (await workflowTaskRetried(ctx))) {
      throw ApplicationFailure.create({
        type: LOCAL_ATTEMPT_REFUSED,
        message: `Local attempt of stage ${input.stage} not run: its workflow task is a retry, so an earlier run of it may have killed its worker`,
        nonRetryable: true,
      });
    }

    if (!handler || !stage) {
      // Another worker of this task queue may have it (a deploy in progress): retried, and re-driven if parked.
      throw systemFailure({
        errorClass: 'temporary',
        reason: 'NO_HANDLER',
        message: `No handler for topic "${input.envelope.topic}" stage "${input.stage}" on worker ${deps.identity}`,
        nonRetryable: false,
        attempt,
        stage: input.stage,
        workerIdentity: deps.identity,
      });
    }

    let beating: NodeJS.Timeout | undefined;
    let release: (() => void) | undefined;
    let result: unknown;
    let resultBytes = 0;
    try {
      const solo = ledger?.solo ?? false;
      if (ledger) {
        beating = setInterval(
          () => {
            if (!inFlight) void record();
          },
          Math.max(50, Math.floor(heartbeatMs / 3)),
        );
        if (solo ? !gate.soloFree : !gate.sharedFree) await record('waiting');
      }
      try {
        release = solo ? await gate.enterSolo(signal) : await gate.enterShared(signal);
      } catch (err) {
        throw uncharged('ABORTED', `Stage ${input.stage} was cancelled before it ran: ${String(err)}`);
      }
      // The stage's own deadline counts from the attempt's start, as the server's timeout does.
      const limitMs = startedAt + localDeadlineMs(handler.stageTimeoutMs) - Date.now();
      if (limitMs < Math.min(1_000, handler.stageTimeoutMs / 10)) {
        throw uncharged(
          'TIMEOUT',
          `Stage ${input.stage} waited ${Date.now() - startedAt} ms for its turn in the worker (a stage ran alone) and has too little of its ${handler.stageTimeoutMs} ms timeout left; it did not run`,
        );
      }
      if (signal.aborted) throw uncharged('ABORTED', `Stage ${input.stage} was cancelled before it ran`);
      if (ledger) {
        if (solo)
          log.warn({ deaths: ledger.deaths }, 'Stage runs alone: an earlier attempt died with its worker');
        // Awaited, so the server knows this attempt is running the stage before the stage's code starts.
        // Without that record a death could not be charged, so the stage does not run.
        ledger = { ...ledger, deadlineAt: Date.now() + limitMs };
        if (!(await record('running')))
          throw uncharged(
            'HEARTBEAT_UNAVAILABLE',
            `Stage ${input.stage} did not run: its attempt could not be recorded`,
          );
      }
      let payload: unknown = input.envelope.payload;
      if (handler.schema) {
        const parsed = handler.schema.safeParse(payload);
        if (!parsed.success) {
          const e = parsed.error;
          throw Object.assign(
            new Error(
              `Payload does not match the schema of topic ${handler.topic}: ${formatIssues(e.issues).join('; ')}`,
            ),
            { name: 'ZodError', issues: e.issues },
          );
        }
        payload = parsed.data;
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          const err = new StageDeadlineError(input.stage, handler.stageTimeoutMs);
          deadline.abort(err);
          reject(err);
        }, limitMs);
      });
      try {
        result = await Promise.race([
          Promise.resolve(
            stage.run({
              payload,
              envelope: input.envelope,
              stage: input.stage,
              previous: input.previous,
              idempotencyKey: input.idempotencyKey,
              attempt,
              cycle: input.cycle,
              payloadVersion: input.payloadVersion ?? 1,
              signal,
              log,
            }),
          ),
          timedOut,
        ]);
      } finally {
        clearTimeout(timer);
      }
      // Measured before the attempt leaves the gate: a result that is not JSON (a cycle, a BigInt) throws
      // here, and is recorded and charged as this attempt's failure.
      resultBytes = jsonByteLength(result ?? null);
      // The result reaches the server only after this function returns, and the gate lets the next attempt
      // in before that. When that attempt runs alone (or this one did) and kills the process, the ledger
      // must not still say `running` here, or this finished attempt would be charged with a death of its
      // own. So it records that the stage's code is no longer running (`waiting`) before it leaves the gate.
      if (ledger && (ledger.solo || gate.soloWaiting > 0)) {
        clearInterval(beating);
        await record('waiting');
      }
    } catch (err) {
      // Identity, not instanceof: a stage may throw a Proxy whose getPrototypeOf trap throws.
      if (unchargedExits.has(err as object)) throw (err as UnchargedExit).failure;
      const failureContext = {
        stage: input.stage,
        attempt,
        workerIdentity: deps.identity,
        nonRetryableTypes: handler.retry.nonRetryableErrorTypes,
        exhausted: false,
      };
      let failure: ApplicationFailure = stageFailure(err, failureContext);
      const lastOfBudget = ledger !== undefined && budget !== undefined && ledger.charged + 1 >= budget;
      // The budget is kept here, not by the server (which also counts attempts that died beside another).
      if (lastOfBudget && !failure.nonRetryable)
        failure = stageFailure(err, { ...failureContext, exhausted: true });
      if (ledger) {
        clearInterval(beating);
        const details = failure.details?.[0] as { reason?: string; errorClass?: string } | undefined;
        ledger = ledgerAfterFailure(ledger, {
          errorClass: details?.errorClass ?? 'temporary',
          reason: details?.reason ?? 'UNKNOWN',
          type: failure.type ?? 'Error',
          message: failure.message,
        });
        await record('failed');
      }
      log.debug({ type: failure.type }, 'Stage failed');
      throw failure;
    } finally {
      clearInterval(beating);
      release?.();
    }
    const bytes = resultBytes;
    if (bytes > MAX_STAGE_RESULT_BYTES) {
      throw systemFailure({
        errorClass: 'permanent',
        reason: 'RESULT_TOO_LARGE',
        message: `Stage ${input.stage} returned ${bytes} bytes of JSON; a stage result may be at most ${MAX_STAGE_RESULT_BYTES} bytes (keep large data elsewhere and return a reference)`,
        nonRetryable: true,
        attempt,
        stage: input.stage,
        workerIdentity: deps.identity,
      });
    }
    return result;
  };
}
