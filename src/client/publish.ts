/** `publish` and `publishMany`: producers turn each message into a `processMessage` workflow. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import PQueue from 'p-queue';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { publishInputSchema } from '../contract/envelope';
import { formatIssues } from '../contract/validation-issues';
import type { Envelope, PublishInput } from '../contract/envelope';
import { DEFAULT_TASK_QUEUE, messageWorkflowId, PROCESS_MESSAGE_WORKFLOW } from '../contract/names';
import { DlqMessageId, DlqTopic } from '../contract/search-attributes';
import { jsonByteLength } from '../contract/size';
import type { ProcessMessageInput } from '../contract/types';
import { hasTracingInterceptor } from '../security/client-tracing';
import { TraceIdMismatch, withPublishSpan } from './publish-span';

/** Options of `publish` and `publishMany`. */
export interface PublishOptions {
  /** Task queue of the workers. @defaultValue `dlq-messages` */
  taskQueue?: string;
  /** Largest payload accepted, in UTF-8 bytes of its JSON. @defaultValue `262144` (256 KiB) */
  maxPayloadBytes?: number;
  /**
   * Trace the publish (README → Observability → Tracing): a `dlq.publish <topic>` span, a child of the
   * envelope's `headers.traceparent` when there is one (else of the active span), around the workflow start;
   * the envelope's `traceId` becomes that trace's id (a different `traceId` from the producer is refused with
   * `INVALID_ENVELOPE`). Needs the OpenTelemetry client interceptor on the client for the trace to reach the
   * workflow. Off costs nothing: no OpenTelemetry module is loaded.
   * @defaultValue `true` when the client carries `OpenTelemetryWorkflowClientInterceptor` (`connectClient` adds
   * it with `DLQ_TRACING=on`), else `false`
   */
  tracing?: boolean;
  /**
   * Eager workflow start: the server hands the workflow's first task to a worker in this process in the
   * start's response, with no trip through matching (the result's `eagerlyStarted` says whether it did).
   * Needs a client on the worker's `NativeConnection` (`new Client({ connection: nativeConnection })`); a
   * client on an ordinary `Connection` throws. The server may decline (no local worker slot free): the
   * workflow then starts as usual.
   * @defaultValue `false`
   */
  requestEagerStart?: boolean;
}

/** The result of one publish. */
export type PublishResult =
  | {
      ok: true;
      duplicate: false;
      workflowId: string;
      runId: string;
      /** Only when `requestEagerStart` was asked: the first workflow task went straight to a local worker. */
      eagerlyStarted?: boolean;
    }
  | { ok: true; duplicate: true; workflowId: string; runId?: string }
  | { ok: false; error: PublishError };

/** A message refused at the edge: nothing was started. `problems` names every bad field. */
export class PublishError extends Error {
  constructor(
    readonly problems: string[],
    readonly code: 'INVALID_ENVELOPE' | 'PAYLOAD_TOO_LARGE' | 'SERVER_ERROR',
  ) {
    super(`Message refused (${code}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PublishError';
  }
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** Validates a message into a full envelope, or throws `PublishError` listing every bad field. */
export function toEnvelope(
  input: unknown,
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES,
  now = new Date(),
): Envelope {
  const parsed = publishInputSchema.safeParse(input);
  if (!parsed.success) throw new PublishError(formatIssues(parsed.error.issues), 'INVALID_ENVELOPE');
  const size = jsonByteLength(parsed.data.payload);
  if (size > maxPayloadBytes) {
    throw new PublishError(
      [`payload: is ${size} bytes of JSON; the limit is ${maxPayloadBytes} bytes (DLQ_MAX_PAYLOAD_BYTES)`],
      'PAYLOAD_TOO_LARGE',
    );
  }
  return {
    ...parsed.data,
    headers: parsed.data.headers ?? {},
    producedAt: parsed.data.producedAt ?? now.toISOString(),
  };
}

/**
 * Publishes one message. A duplicate id (running, or closed within retention) starts nothing and
 * answers `{ duplicate: true }`. Throws `PublishError` for a bad message.
 */
export async function publish(
  client: Client,
  message: PublishInput,
  options: PublishOptions = {},
): Promise<PublishResult> {
  const envelope = toEnvelope(message, options.maxPayloadBytes);
  if (!(options.tracing ?? tracedClient(client))) return startMessage(client, envelope, options);
  try {
    return await withPublishSpan(
      envelope,
      (traced) => startMessage(client, traced, options),
      (result) => ({
        temporalWorkflowId: result.ok ? result.workflowId : '',
        'dlq.duplicate': result.ok && result.duplicate,
      }),
    );
  } catch (err) {
    if (err instanceof TraceIdMismatch) throw new PublishError([err.message], 'INVALID_ENVELOPE');
    throw err;
  }
}

const tracedClients = new WeakMap<Client, boolean>();
/** Whether the client carries the OpenTelemetry client interceptor (looked up once per client). */
function tracedClient(client: Client): boolean {
  let traced = tracedClients.get(client);
  if (traced === undefined) {
    traced = hasTracingInterceptor(client.workflow.options.interceptors);
    tracedClients.set(client, traced);
  }
  return traced;
}

async function startMessage(
  client: Client,
  envelope: Envelope,
  options: PublishOptions,
): Promise<PublishResult> {
  const workflowId = messageWorkflowId(envelope.topic, envelope.id);
  try {
    const handle = await client.workflow.start(PROCESS_MESSAGE_WORKFLOW, {
      workflowId,
      taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
      args: [{ envelope } satisfies ProcessMessageInput],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: DlqTopic, value: envelope.topic },
        { key: DlqMessageId, value: envelope.id },
      ],
      ...(options.requestEagerStart ? { requestEagerStart: true } : {}),
      staticSummary: `${envelope.topic} · ${envelope.id}`,
      staticDetails: [
        `**Topic** \`${envelope.topic}\` · **message** \`${envelope.id}\``,
        envelope.correlationId ? `**Correlation** \`${envelope.correlationId}\`` : '',
        envelope.source ? `**Source** ${envelope.source}` : '',
        `Produced at ${envelope.producedAt}`,
      ]
        .filter(Boolean)
        .join('\n'),
    });
    return {
      ok: true,
      duplicate: false,
      workflowId,
      runId: handle.firstExecutionRunId,
      ...(options.requestEagerStart ? { eagerlyStarted: handle.eagerlyStarted } : {}),
    };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // Nothing is processed again; tell the caller which execution already holds this message.
      const existing = await client.workflow
        .getHandle(workflowId)
        .describe()
        .then((d) => d.runId)
        .catch(() => undefined);
      return { ok: true, duplicate: true, workflowId, ...(existing ? { runId: existing } : {}) };
    }
    throw err;
  }
}

/** Options of `publishMany`. */
export interface PublishManyOptions extends PublishOptions {
  /** Messages in flight at once. @defaultValue `32` */
  concurrency?: number;
  /** Called after each message, e.g. for a progress bar. */
  onResult?: (result: PublishResult, index: number) => void;
}

/**
 * Publishes an array or an async stream with bounded concurrency. One bad message never stops the rest:
 * every message gets its own result, in input order. The pool is p-queue; a stream is read only as fast as
 * slots free up.
 */
export async function publishMany(
  client: Client,
  messages: Iterable<unknown> | AsyncIterable<unknown>,
  options: PublishManyOptions = {},
): Promise<PublishResult[]> {
  const queue = new PQueue({ concurrency: Math.max(1, options.concurrency ?? 32) });
  const results: PublishResult[] = [];
  let failure: { err: unknown } | undefined;
  let index = 0;
  const publishOne = async (message: unknown, i: number): Promise<void> => {
    let result: PublishResult;
    try {
      result = await publish(client, message as PublishInput, options);
    } catch (err) {
      result = {
        ok: false,
        error:
          err instanceof PublishError
            ? err
            : new PublishError([err instanceof Error ? err.message : String(err)], 'SERVER_ERROR'),
      };
    }
    results[i] = result;
    options.onResult?.(result, i);
  };
  for await (const message of messages as AsyncIterable<unknown>) {
    if (failure) break;
    const i = index++;
    // Only `onResult` can throw here: reading stops, those in flight finish, then publishMany throws it.
    queue
      .add(() => publishOne(message, i))
      .catch((err: unknown) => {
        failure ??= { err };
        queue.clear();
      });
    // Backpressure: read the next message only when nothing waits for a slot (a stream stays bounded).
    await queue.onEmpty();
  }
  await queue.onIdle();
  if (failure) throw failure.err;
  return results;
}
