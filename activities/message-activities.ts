/**
 * Activities of the message workflow. They close over the worker's handler registry: the route lookup
 * (a local activity), `runStage` (the first attempt of a stage runs locally by default, retries as activities), the
 * repair-time schema check, and the security alert.
 */
import { hostname } from 'node:os';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { Logger as PinoLogger } from 'pino';
import type { Handler } from '../src/handlers';
import { classifyError } from '../src/shared/classify';
import { envelopeSchema, topicSchema } from '../src/shared/envelope';
import { formatIssues } from '../src/shared/json';
import { DEFAULT_NON_RETRYABLE_TYPES } from '../src/shared/errors';
import { DEFAULT_REDRIVE_POLICY } from '../src/shared/backoff';
import type { DeadLetter, FailureDetails, PayloadVerdict, Route, StageInput } from '../src/shared/types';

/** Guards that apply to every topic of a worker. */
export interface WorkerGuards {
  expireAfterMs: number;
  maxRepairCycles: number;
  maxPayloadBytes: number;
}

export interface MessageActivityDeps {
  handlers: ReadonlyMap<string, Handler<unknown>>;
  guards: WorkerGuards;
  logger: PinoLogger;
  identity?: string;
}

const stageInputSchema = z.object({
  workflowId: z.string().min(1),
  stage: z.string().min(1),
  idempotencyKey: z.string().min(1),
  cycle: z.number().int().min(0),
  envelope: envelopeSchema,
  previous: z.record(z.string(), z.unknown()),
  attemptOffset: z.number().int().min(0).optional(),
});

export function createMessageActivities(deps: MessageActivityDeps) {
  const identity = deps.identity ?? `${process.pid}@${hostname()}`;

  /** Local activity: what the worker knows about a topic, including its retry policy and guards. */
  async function lookupRoute(topic: string): Promise<Route> {
    const handler = deps.handlers.get(topic);
    const { guards } = deps;
    return Promise.resolve({
      found: Boolean(handler),
      stages: handler ? handler.stages.map((s) => s.name) : [],
      hasSchema: Boolean(handler?.schema),
      retry: handler?.retry ?? {
        initialIntervalMs: 1000,
        backoffCoefficient: 2,
        maximumIntervalMs: 60_000,
        maximumAttempts: 5,
        nonRetryableErrorTypes: [...DEFAULT_NON_RETRYABLE_TYPES],
      },
      stageTimeoutMs: handler?.stageTimeoutMs ?? 30_000,
      firstAttempt: handler?.firstAttempt ?? 'local',
      redrive: handler?.redrive ?? DEFAULT_REDRIVE_POLICY,
      expireAfterMs: guards.expireAfterMs,
      maxRepairCycles: guards.maxRepairCycles,
      maxPayloadBytes: guards.maxPayloadBytes,
      workerIdentity: identity,
    });
  }

  /** Runs one stage. Every thrown value becomes an `ApplicationFailure` typed by its class. */
  async function runStage(rawInput: StageInput): Promise<unknown> {
    const ctx = Context.current();
    // After a failed local first attempt, the activity's own attempt 1 is the stage's attempt 2.
    const offset = typeof rawInput?.attemptOffset === 'number' ? rawInput.attemptOffset : 0;
    const attempt = ctx.info.attempt + offset;
    const failure = (err: unknown, stage: string): ApplicationFailure => {
      const c = classifyError(err);
      const details: FailureDetails = {
        reason: c.reason,
        errorClass: c.errorClass,
        attempt,
        stage,
        name: c.name,
        ...(c.stack ? { stack: c.stack } : {}),
        workerIdentity: identity,
        ...(c.details !== undefined ? { extra: c.details } : {}),
        ...(c.nextRetryDelayMs !== undefined ? { nextRetryDelayMs: c.nextRetryDelayMs } : {}),
      };
      return ApplicationFailure.create({
        type: c.type,
        message: c.message,
        details: [details],
        ...(c.nextRetryDelayMs !== undefined ? { nextRetryDelay: c.nextRetryDelayMs } : {}),
      });
    };

    const parsedInput = stageInputSchema.safeParse(rawInput);
    if (!parsedInput.success) {
      throw ApplicationFailure.create({
        type: 'PermanentError',
        message: `Invalid stage input: ${formatIssues(parsedInput.error.issues).join('; ')}`,
        details: [
          {
            reason: 'SCHEMA_MISMATCH',
            errorClass: 'permanent',
            attempt,
            stage: rawInput?.stage ?? '?',
            name: 'ZodError',
            workerIdentity: identity,
          },
        ],
        nonRetryable: true,
      });
    }
    const input: StageInput = parsedInput.data;
    const handler = deps.handlers.get(input.envelope.topic);
    const stage = handler?.stages.find((s) => s.name === input.stage);
    if (!handler || !stage) {
      // The route changed under a running message (a deploy removed the topic or stage).
      throw ApplicationFailure.create({
        type: 'PermanentError',
        message: `No handler for topic "${input.envelope.topic}" stage "${input.stage}" on this worker`,
        details: [
          {
            reason: 'NO_HANDLER',
            errorClass: 'permanent',
            attempt,
            stage: input.stage,
            name: 'PermanentError',
            workerIdentity: identity,
          },
        ],
      });
    }
    const log = deps.logger.child({ workflowId: input.workflowId, stage: input.stage, attempt });
    try {
      let payload: unknown = input.envelope.payload;
      if (handler.schema) {
        const result = handler.schema.safeParse(payload);
        if (!result.success) {
          const e = result.error;
          throw Object.assign(
            new Error(
              `Payload does not match the schema of topic ${handler.topic}: ${formatIssues(e.issues).join('; ')}`,
            ),
            {
              name: 'ZodError',
              issues: e.issues,
            },
          );
        }
        payload = result.data;
      }
      return await stage.run({
        payload,
        envelope: input.envelope,
        stage: input.stage,
        previous: input.previous,
        idempotencyKey: input.idempotencyKey,
        attempt,
        cycle: input.cycle,
        signal: ctx.cancellationSignal,
        log,
      });
    } catch (err) {
      const f = failure(err, input.stage);
      log.debug({ type: f.type }, 'Stage failed');
      throw f;
    }
  }

  /** Checks a repaired payload against the topic's schema, for the `repair` update and `retry` signal. */
  async function validatePayload(input: { topic: string; payload: unknown }): Promise<PayloadVerdict> {
    const topic = topicSchema.safeParse(input.topic);
    if (!topic.success) return { problems: [`topic: ${topic.error.issues[0]?.message ?? 'invalid'}`] };
    const handler = deps.handlers.get(topic.data);
    if (!handler?.schema) return Promise.resolve({ problems: [] });
    const result = handler.schema.safeParse(input.payload);
    return result.success
      ? { problems: [] }
      : {
          problems: formatIssues(result.error.issues).map((p) => `payload.${p}`),
          issues: JSON.parse(JSON.stringify(result.error.issues)) as unknown,
        };
  }

  /** Raised at once for every security parking. Analytics counts these too. */
  async function reportSecurityFailure(dl: DeadLetter): Promise<void> {
    deps.logger.error(
      {
        alert: 'security-failure',
        severity: 'critical',
        workflowId: dl.workflowId,
        topic: dl.topic,
        reason: dl.reason,
        fingerprint: dl.fingerprint,
        correlationId: dl.correlationId,
      },
      `SECURITY ALERT: message ${dl.messageId} on ${dl.topic} parked with ${dl.reason}`,
    );
    return Promise.resolve();
  }

  return { lookupRoute, runStage, validatePayload, reportSecurityFailure };
}

export type MessageActivities = ReturnType<typeof createMessageActivities>;
