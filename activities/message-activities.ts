/**
 * Activities of the message workflow. They close over the worker's handler registry: the policy lookup
 * (a local activity), `runStage` (see `stage-runner.ts`), the repair-time schema check, and the immediate
 * alerts (security failures, messages that kill their worker).
 */
import { hostname } from 'node:os';
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger as PinoLogger } from 'pino';
import type { Handler } from '../src/worker/handlers';
import { topicSchema } from '../src/contract/envelope';
import { formatIssues } from '../src/contract/validation-issues';
import { DEFAULT_NON_RETRYABLE_TYPES } from '../src/contract/errors';
import { DEFAULT_REDRIVE_POLICY } from '../src/contract/backoff';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, POLICY_REVISION } from '../src/contract/topic-policy';
import type { TopicPolicy } from '../src/contract/topic-policy';
import type { DeadLetter, PayloadVerdict } from '../src/contract/types';
import type { MirrorPolicy } from '../src/contract/mirror';
import { createStageRunner } from './stage-runner';

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
  /** Where this worker mirrors dead letters and sends immediate alerts; recorded with each policy. @defaultValue none */
  mirror?: MirrorPolicy;
}

export function createMessageActivities(deps: MessageActivityDeps) {
  const identity = deps.identity ?? `${process.pid}@${hostname()}`;

  /** Local activity: the topic's policy (what the worker knows about it: stages, retry policy, guards). */
  // Wire name: every history's marker records the activity type `lookupRoute` and this JSON; rename neither.
  async function lookupRoute(topic: string): Promise<TopicPolicy> {
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
      ...(handler?.heartbeatTimeoutMs !== 0
        ? { heartbeatTimeoutMs: handler?.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS }
        : {}),
      revision: POLICY_REVISION,
      firstAttempt: handler?.firstAttempt ?? 'local',
      redrive: handler?.redrive ?? DEFAULT_REDRIVE_POLICY,
      expireAfterMs: guards.expireAfterMs,
      maxRepairCycles: guards.maxRepairCycles,
      maxPayloadBytes: guards.maxPayloadBytes,
      workerIdentity: identity,
      ...(deps.mirror ? { mirror: deps.mirror } : {}),
    });
  }

  /** Runs one attempt of one stage (see `stage-runner.ts`). */
  const runStage = createStageRunner({ handlers: deps.handlers, logger: deps.logger, identity });

  /** Checks a repaired payload against the topic's schema, for the `repair` update and `retry` signal. */
  async function validatePayload(input: { topic: string; payload: unknown }): Promise<PayloadVerdict> {
    const topic = topicSchema.safeParse(input.topic);
    if (!topic.success) return { problems: [`topic: ${topic.error.issues[0]?.message ?? 'invalid'}`] };
    const handler = deps.handlers.get(topic.data);
    if (!handler) {
      // Never answer "valid" for a topic this worker cannot judge: retried, so the worker that has the
      // topic may answer; if none does, the workflow refuses the repair.
      throw ApplicationFailure.create({
        type: 'TemporaryError',
        message: `No handler for topic "${topic.data}" on worker ${identity}: the payload cannot be validated here`,
        details: [{ reason: 'NO_HANDLER' }],
      });
    }
    if (!handler.schema) return Promise.resolve({ problems: [] });
    const result = handler.schema.safeParse(input.payload);
    return result.success
      ? { problems: [] }
      : {
          problems: formatIssues(result.error.issues).map((p) => `payload.${p}`),
          issues: JSON.parse(JSON.stringify(result.error.issues)) as unknown,
        };
  }

  /** The immediate alert of a parking that a person must see at once. */
  function alertNow(alert: 'security-failure' | 'worker-crashed', dl: DeadLetter, text: string): void {
    deps.logger.error(
      {
        alert,
        severity: 'critical',
        workflowId: dl.workflowId,
        topic: dl.topic,
        reason: dl.reason,
        fingerprint: dl.fingerprint,
        correlationId: dl.correlationId,
      },
      text,
    );
  }

  /** Raised at once for every security parking. Analytics counts these too. */
  async function reportSecurityFailure(dl: DeadLetter): Promise<void> {
    alertNow(
      'security-failure',
      dl,
      `SECURITY ALERT: message ${dl.messageId} on ${dl.topic} parked with ${dl.reason}`,
    );
    return Promise.resolve();
  }

  /** Raised at once when a message parks because it killed (or stalled) the workers that ran it. */
  async function reportWorkerCrash(dl: DeadLetter): Promise<void> {
    alertNow(
      'worker-crashed',
      dl,
      `POISON MESSAGE: ${dl.messageId} on ${dl.topic} killed its worker ${dl.attempts} time(s) in stage ${dl.stage}; parked, never re-driven`,
    );
    return Promise.resolve();
  }

  return { lookupRoute, runStage, validatePayload, reportSecurityFailure, reportWorkerCrash };
}

export type MessageActivities = ReturnType<typeof createMessageActivities>;
