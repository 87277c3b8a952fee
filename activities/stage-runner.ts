/**
 * `runStage`: runs one attempt of one stage of a message, as a local activity (a first attempt) or an
 * activity. An activity attempt keeps its ledger in heartbeats (see `attempt-ledger.ts`) so that a message
 * that kills its worker is charged for it, and runs alone in its worker once it is suspected.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { LOCAL_ATTEMPT_REFUSED } from '../src/shared/errors';
import { z } from 'zod';
import type { Logger as PinoLogger } from 'pino';
import type { Handler } from '../src/handlers';
import { envelopeSchema } from '../src/shared/envelope';
import { formatIssues } from '../src/shared/json';
import { jsonByteLength } from '../src/shared/size';
import { MAX_STAGE_RESULT_BYTES } from '../src/shared/limits';
import type { StageInput } from '../src/shared/types';
import { attemptNumber, ledgerAfterFailure, ledgerAtStart } from './attempt-ledger';
import type { AttemptLedger, LedgerPhase } from './attempt-ledger';
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
}

const processGate = new StageGate();

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

  return async function runStage(rawInput: StageInput): Promise<unknown> {
    const ctx = Context.current();
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
    const heartbeatMs = ctx.info.isLocal ? 0 : (ctx.info.heartbeatTimeoutMs ?? 0);
    // The ledger is kept only where the server can carry it: activity attempts with a heartbeat timeout.
    // Routes recorded before it existed schedule no heartbeat timeout and count as Temporal counts.
    let ledger: AttemptLedger | undefined =
      heartbeatMs > 0
        ? ledgerAtStart(ctx.info.heartbeatDetails, { charged: offset, suspect: input.suspect ?? false })
        : undefined;
    const attempt = ledger ? attemptNumber(ledger) : ctx.info.attempt + offset;
    const budget = input.attemptBudget;
    const log = deps.logger.child({ workflowId: input.workflowId, stage: input.stage, attempt });

    if (ledger && budget !== undefined && ledger.charged >= budget) {
      // The previous attempt died with its worker and spent the budget: never run it again.
      throw systemFailure({
        errorClass: 'permanent',
        reason: 'WORKER_CRASHED',
        message: `The worker running stage ${input.stage} died ${ledger.deaths} time(s) while it ran (the last time alone in its worker): it crashes or stalls its worker, so it is not run again`,
        nonRetryable: true,
        exhausted: true,
        attempt: ledger.charged,
        stage: input.stage,
        workerIdentity: deps.identity,
      });
    }

    if (ctx.info.isLocal && input.guardLocal && (await workflowTaskRetried(ctx))) {
      throw ApplicationFailure.create({
        type: LOCAL_ATTEMPT_REFUSED,
        message: `Local attempt of stage ${input.stage} not run: its workflow task is a retry, so an earlier run of it may have killed its worker`,
        nonRetryable: true,
      });
    }

    const handler = deps.handlers.get(input.envelope.topic);
    const stage = handler?.stages.find((s) => s.name === input.stage);
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

    const deadline = new AbortController();
    const signal = AbortSignal.any([ctx.cancellationSignal, deadline.signal]);
    // Heartbeats go out one at a time, in order, so a late periodic beat never overwrites a later phase.
    let beats: Promise<void> = Promise.resolve();
    const send = async (): Promise<void> => {
      try {
        await ctx.client.activity.heartbeat(ctx.info.taskToken, ledger);
      } catch (err) {
        // Cancelled, timed out or unreachable: the attempt goes on; the server decides what counts.
        log.debug({ err }, 'Heartbeat not recorded');
        if ((err as Error).name === 'ActivityCancelledError') deadline.abort(err);
      }
    };
    const record = (phase?: LedgerPhase): Promise<void> => {
      if (!ledger) return Promise.resolve();
      if (phase) ledger = { ...ledger, phase };
      beats = beats.then(send);
      return beats;
    };
    let beating: NodeJS.Timeout | undefined;
    let release: (() => void) | undefined;
    let result: unknown;
    try {
      if (ledger) {
        beating = setInterval(() => void record(), Math.max(200, Math.floor(heartbeatMs / 3)));
        const solo = ledger.solo;
        if (solo ? !gate.soloFree : !gate.sharedFree) await record('waiting');
        release = solo ? await gate.enterSolo() : await gate.enterShared();
        if (solo)
          log.warn({ deaths: ledger.deaths }, 'Stage runs alone: an earlier attempt died with its worker');
        // Awaited, so the server knows this attempt is running the stage before the stage's code starts.
        await record('running');
      } else {
        release = await gate.enterShared();
      }
      let payload: unknown = input.envelope.payload;
      if (handler.schema) {
        const result = handler.schema.safeParse(payload);
        if (!result.success) {
          const e = result.error;
          throw Object.assign(
            new Error(
              `Payload does not match the schema of topic ${handler.topic}: ${formatIssues(e.issues).join('; ')}`,
            ),
            { name: 'ZodError', issues: e.issues },
          );
        }
        payload = result.data;
      }
      const limitMs = localDeadlineMs(handler.stageTimeoutMs);
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
    } catch (err) {
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
        ledger = ledgerAfterFailure(ledger);
        await record('failed');
      }
      log.debug({ type: failure.type }, 'Stage failed');
      throw failure;
    } finally {
      clearInterval(beating);
      release?.();
    }
    const bytes = jsonByteLength(result ?? null);
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
