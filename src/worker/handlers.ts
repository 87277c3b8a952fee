/**
 * `defineHandler`: registers what a topic does, on the worker side. Producers need only a topic and a payload.
 */
import { z } from 'zod';
import type { Logger as PinoLogger } from 'pino';
import { TOPIC_PATTERN } from '../contract/id-patterns';
import type { Envelope } from '../contract/envelope';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../contract/topic-policy';
import type { FirstAttempt } from '../contract/topic-policy';
import { DEFAULT_REDRIVE_POLICY } from '../contract/backoff';
import type { RedrivePolicy } from '../contract/backoff';
import { DEFAULT_NON_RETRYABLE_TYPES } from '../contract/errors';
import { DURATION_HINT, durationOption, parseDuration } from '../contract/duration';

/** What a stage function receives. */
export interface StageContext<P = unknown> {
  /** The current payload (after any repair), parsed by the topic's schema when it has one. */
  payload: P;
  envelope: Envelope;
  stage: string;
  /** Results of earlier stages, by stage name. */
  previous: Record<string, unknown>;
  /**
   * `<workflowId>:<stage>:<repairs>`, where `<repairs>` is `payloadVersion - 1`: the same for every attempt,
   * automatic re-drive and unchanged retry of one payload, new for a repaired payload. Use it to make side
   * effects idempotent: a stage that committed downstream and then failed or timed out is run again with
   * the same key.
   */
  idempotencyKey: string;
  /** Version of the payload: 1 as published, +1 per repair. */
  payloadVersion: number;
  /**
   * Attempt of this stage within the current cycle, from 1. Attempts that died beside another message's
   * crash are not counted.
   */
  attempt: number;
  /** Repair cycle: 0 for the first processing, +1 per retry or re-drive. */
  cycle: number;
  /**
   * Aborted when the attempt reaches its timeout, and when the workflow is cancelled (an activity attempt
   * learns of it through the heartbeats it sends while the stage runs).
   */
  signal: AbortSignal;
  log: PinoLogger;
}

export type StageFn<P> = (ctx: StageContext<P>) => unknown;

/** Activity retry policy of a topic. */
export interface TopicRetryOptions {
  /** @defaultValue `1s` */
  initialInterval: string;
  /** @defaultValue `2` */
  backoffCoefficient: number;
  /** @defaultValue `1m` */
  maximumInterval: string;
  /** Attempts per stage before the message parks with `RETRY_EXHAUSTED`. @defaultValue `5` */
  maximumAttempts: number;
  /**
   * Failure types never retried, added to PermanentError, ValidationError and SecurityError: the `type` of an
   * `ApplicationFailure` a stage throws, or the `name` of a thrown error class (`class QuotaGone extends
   * Error`). Such failures park as `permanent`. @defaultValue `[]`
   */
  nonRetryableErrorTypes: string[];
}

/** Options of `defineHandler`. Give `handle` or `stages`, not both. */
export interface HandlerOptions<P> {
  /** The topic this handler owns: 1-100 characters of A-Z a-z 0-9 . _ - */
  topic: string;
  /** Optional zod schema of the payload, checked inside the activity; failures park as `ValidationError`. */
  schema?: z.ZodType<P>;
  /** A single-step handler (runs as the stage `handle`). */
  handle?: StageFn<P>;
  /** Named stages, each run and retried on its own (see `firstAttempt`); a retry resumes at the failing stage. */
  stages?: Array<{ name: string; run: StageFn<P> }>;
  /** Retry policy of every stage. @defaultValue `{ initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 }` */
  retry?: Partial<TopicRetryOptions>;
  /** Start-to-close timeout of each stage attempt. @defaultValue `30s` */
  timeout?: string;
  /**
   * How long an activity attempt may go without a heartbeat before Temporal declares its worker dead and
   * the attempt lost (stages heartbeat on their own while they run, every third of this). A message whose
   * attempts keep dying with their worker parks as `WORKER_CRASHED` within `retry.maximumAttempts` deaths.
   * Shorter finds a dead worker sooner and sends more heartbeats; it must be at least `100ms` and shorter
   * than `timeout`, so a dead worker is told apart from a slow stage. A stage whose `timeout` is under
   * `200ms` gets none by default: its attempts are counted as Temporal counts them, and a dead worker shows
   * as a timeout.
   * @defaultValue `10s`, or half of `timeout` when that is shorter
   */
  heartbeatTimeout?: string;
  /**
   * Where the first attempt of each stage runs. `local`: as a local activity inside the workflow task, so a
   * message that succeeds at once costs one workflow task and no activity task (the fast path); its retries
   * are ordinary activities with the topic's backoff, visible in the Web UI as pending activities. The local
   * attempt holds the workflow task while it runs, so queries, signals and a cancellation wait for it (up to
   * about 8 s, when the worker extends the task), and it occupies one of the worker's workflow-task slots
   * (`maxConcurrentWorkflowTaskExecutions`, SDK default 40, against 100 activity slots), which bounds how
   * many first attempts run at once. `activity`: every attempt is an activity task; choose it for stages
   * that routinely run longer than a few hundred milliseconds under load, or longer than a few seconds.
   * @defaultValue `'local'`
   */
  firstAttempt?: FirstAttempt;
  /** Automatic re-drive of parked temporary/timeout failures. @defaultValue `{ enabled: true, baseDelay: '5m', multiplier: 2, maxDelay: '6h', maxRedrives: 3 }` */
  redrive?: RedriveOptions;
}

/** How a topic's parked temporary and timeout failures are re-driven automatically (`defineHandler`'s `redrive`). */
export interface RedriveOptions {
  /** Re-drive at all. @defaultValue `true` */
  enabled?: boolean;
  /** Delay before the first re-drive: a duration such as `'5m'`. @defaultValue `'5m'` */
  baseDelay?: string;
  /** Growth of the delay per re-drive. @defaultValue `2` */
  multiplier?: number;
  /** Longest delay between two re-drives: a duration such as `'6h'`. @defaultValue `'6h'` */
  maxDelay?: string;
  /** Re-drives before the message stays parked for an operator. @defaultValue `3` */
  maxRedrives?: number;
  /** @deprecated Give `baseDelay` as a duration (`'5m'`); milliseconds still work, with a warning. */
  baseDelayMs?: number;
  /** @deprecated Give `maxDelay` as a duration (`'6h'`); milliseconds still work, with a warning. */
  maxDelayMs?: number;
}

/** A handler of any payload type, as `createWorker` accepts them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stage functions are contravariant in P
export type AnyHandler = Handler<any>;

/** A validated handler, ready for `createWorker({ handlers })`. */
export interface Handler<P = unknown> {
  readonly topic: string;
  readonly schema: z.ZodType<P> | undefined;
  readonly stages: ReadonlyArray<{ name: string; run: StageFn<P> }>;
  readonly retry: {
    initialIntervalMs: number;
    backoffCoefficient: number;
    maximumIntervalMs: number;
    maximumAttempts: number;
    nonRetryableErrorTypes: string[];
  };
  readonly stageTimeoutMs: number;
  /** 0: no heartbeat timeout (a stage timeout under 200 ms). */
  readonly heartbeatTimeoutMs: number;
  readonly firstAttempt: FirstAttempt;
  readonly redrive: RedrivePolicy;
}

const MIN_HEARTBEAT_TIMEOUT_MS = 100;

/** `10s`, or half the stage timeout when that is shorter; 0 (none) when that would be under 100 ms. */
function defaultHeartbeatTimeoutMs(stageTimeoutMs: number): number {
  const half = Math.floor(stageTimeoutMs / 2);
  return half < MIN_HEARTBEAT_TIMEOUT_MS ? 0 : Math.min(DEFAULT_HEARTBEAT_TIMEOUT_MS, half);
}

const durationField = z
  .string()
  .refine((v) => (parseDuration(v) ?? 0) > 0, { message: `must be ${DURATION_HINT}` });

const optionsSchema = z.object({
  topic: z.string().regex(TOPIC_PATTERN, 'must be 1-100 characters of A-Z a-z 0-9 . _ -'),
  schema: z
    .custom<z.ZodType>((v) => v === undefined || v instanceof z.ZodType, 'must be a zod schema')
    .optional(),
  handle: z.function().optional(),
  stages: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be 1-100 of A-Z a-z 0-9 . _ -'),
        run: z.function(),
      }),
    )
    .min(1)
    .optional(),
  retry: z
    .object({
      initialInterval: durationField.optional(),
      backoffCoefficient: z.number().min(1).max(100).optional(),
      maximumInterval: durationField.optional(),
      maximumAttempts: z.number().int().min(1).max(1000).optional(),
      nonRetryableErrorTypes: z.array(z.string()).optional(),
    })
    .optional(),
  timeout: durationField.optional(),
  heartbeatTimeout: durationField.optional(),
  firstAttempt: z.enum(['local', 'activity'], { message: "must be 'local' or 'activity'" }).optional(),
  redrive: z
    .object({
      enabled: z.boolean().optional(),
      baseDelay: durationField.optional(),
      multiplier: z.number().min(1).optional(),
      maxDelay: durationField.optional(),
      maxRedrives: z.number().int().min(0).optional(),
      baseDelayMs: z.number().int().positive().optional(),
      maxDelayMs: z.number().int().positive().optional(),
    })
    .optional(),
});

/** Thrown by `defineHandler` for bad options; lists every problem. */
export class HandlerDefinitionError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid handler definition:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'HandlerDefinitionError';
  }
}

/** Defines the handler of one topic. Throws `HandlerDefinitionError` for bad options. */
export function defineHandler<P = unknown>(options: HandlerOptions<P>): Handler<P> {
  const parsed = optionsSchema.safeParse(options);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`);
  if (Boolean(options.handle) === Boolean(options.stages))
    problems.push('give exactly one of `handle` or `stages`');
  const names = (options.stages ?? []).map((s) => s.name);
  if (new Set(names).size !== names.length) problems.push('stages: names must be unique');
  // Temporal refuses a retry policy whose maximum interval is shorter than its initial one.
  const initialText: unknown = options.retry?.initialInterval ?? '1s';
  const maximumText: unknown = options.retry?.maximumInterval ?? '1m';
  const initial = typeof initialText === 'string' ? parseDuration(initialText) : undefined;
  const maximum = typeof maximumText === 'string' ? parseDuration(maximumText) : undefined;
  if (initial !== undefined && maximum !== undefined && initial > maximum)
    problems.push(
      `retry.maximumInterval: must be at least retry.initialInterval (${String(initialText)}); it is ${String(maximumText)}`,
    );
  const timeoutMs = parseDuration(typeof options.timeout === 'string' ? options.timeout : '30s');
  const heartbeatMs =
    typeof options.heartbeatTimeout === 'string' ? parseDuration(options.heartbeatTimeout) : undefined;
  if (timeoutMs !== undefined && heartbeatMs !== undefined && heartbeatMs >= timeoutMs)
    problems.push(
      `heartbeatTimeout: must be shorter than timeout (${String(options.timeout ?? '30s')}); it is ${String(options.heartbeatTimeout)}`,
    );
  if (heartbeatMs !== undefined && heartbeatMs < MIN_HEARTBEAT_TIMEOUT_MS)
    problems.push(`heartbeatTimeout: must be at least 100ms; it is ${String(options.heartbeatTimeout)}`);
  const redriveOptions = options.redrive ?? {};
  const baseDelay = durationOption(
    'redrive.baseDelay',
    redriveOptions.baseDelay,
    redriveOptions.baseDelayMs,
    'DLQ_DEP_REDRIVE_BASE_DELAY_MS',
  );
  const maxDelay = durationOption(
    'redrive.maxDelay',
    redriveOptions.maxDelay,
    redriveOptions.maxDelayMs,
    'DLQ_DEP_REDRIVE_MAX_DELAY_MS',
  );
  // A bad value is named by zod already; what durationOption adds is "give one form, not both".
  for (const [field, { problem }] of [
    ['redrive.baseDelay', baseDelay],
    ['redrive.maxDelay', maxDelay],
  ] as const)
    if (problem && !problems.some((p) => p.startsWith(field))) problems.push(problem);
  if (problems.length) throw new HandlerDefinitionError(problems);

  const retry = options.retry ?? {};
  return Object.freeze({
    topic: options.topic,
    schema: options.schema,
    stages: options.stages ?? [{ name: 'handle', run: options.handle! }],
    retry: {
      initialIntervalMs: parseDuration(retry.initialInterval ?? '1s')!,
      backoffCoefficient: retry.backoffCoefficient ?? 2,
      maximumIntervalMs: parseDuration(retry.maximumInterval ?? '1m')!,
      maximumAttempts: retry.maximumAttempts ?? 5,
      nonRetryableErrorTypes: [
        ...new Set([...DEFAULT_NON_RETRYABLE_TYPES, ...(retry.nonRetryableErrorTypes ?? [])]),
      ],
    },
    stageTimeoutMs: parseDuration(options.timeout ?? '30s')!,
    heartbeatTimeoutMs: heartbeatMs ?? defaultHeartbeatTimeoutMs(timeoutMs!),
    firstAttempt: options.firstAttempt ?? 'local',
    // Recorded in every history's policy marker: milliseconds, under the names it has always had.
    redrive: {
      enabled: redriveOptions.enabled ?? DEFAULT_REDRIVE_POLICY.enabled,
      baseDelayMs: baseDelay.ms ?? DEFAULT_REDRIVE_POLICY.baseDelayMs,
      multiplier: redriveOptions.multiplier ?? DEFAULT_REDRIVE_POLICY.multiplier,
      maxDelayMs: maxDelay.ms ?? DEFAULT_REDRIVE_POLICY.maxDelayMs,
      maxRedrives: redriveOptions.maxRedrives ?? DEFAULT_REDRIVE_POLICY.maxRedrives,
    },
  });
}
