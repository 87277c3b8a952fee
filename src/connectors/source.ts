/**
 * The one contract every broker source follows (`runSource`):
 * - each broker message goes to `publish` with a message id that survives redelivery (the workflow id is
 *   `msg:<topic>:<id>`, so a redelivered message starts nothing twice);
 * - it is acked only after the start is durable or reported as a duplicate;
 * - a start that fails (server down, rate-limited, any error but a refused envelope) is not acked: the message
 *   goes back to the broker with a delay that grows with its delivery count;
 * - a message that cannot become an envelope (not JSON, a bad id, too large, a bad topic) is published on the
 *   reserved topic `dlq.source-rejected` with its raw body, headers and origin, parks there as `validation`,
 *   and is then acked: never dropped, never redelivered forever;
 * - at most `maxInFlight` messages are being started at once (backpressure: the next one is not taken before);
 * - on abort, nothing new is taken, what is in flight finishes, and nothing unstarted is acked.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { DEFAULT_MAX_PAYLOAD_BYTES, publish, PublishError } from '../client/publish';
import type { PublishInput } from '../contract/envelope';
import { MESSAGE_ID_PATTERN, TOPIC_PATTERN } from '../contract/id-patterns';
import { jsonProblem, MAX_PAYLOAD_DEPTH } from '../contract/plain-json';
import { jsonByteLength } from '../contract/size';
import { SOURCE_REJECT_REASONS, SOURCE_REJECTS_TOPIC } from '../contract/source-rejects';
import type { SourceRejectPayload, SourceRejectReason } from '../contract/source-rejects';

/** One message as a source hands it over: the raw parts, and how to settle it with the broker. */
export interface SourceMessage {
  /** The raw body: the message's payload as UTF-8 JSON. */
  body: Uint8Array;
  /** The broker's headers, one string per name. */
  headers: Record<string, string>;
  /** The topic derived from the broker's address (subject, queue, row), possibly invalid. */
  topic: string;
  /** The broker's own message id (e.g. `Nats-Msg-Id`), when it has one, possibly invalid. */
  brokerId: string | undefined;
  /** A valid message id that every redelivery of this message has too (e.g. `<stream>:<seq>`). */
  fallbackId: string;
  /** Where it came from, for people: e.g. `nats:ORDERS/42 orders.created`. */
  origin: string;
  /** 1 for the first delivery. */
  deliveryCount: number;
  /** Acknowledges it: the broker forgets it. Called only after a durable start or a duplicate. */
  ack(): Promise<void>;
  /** Gives it back for a later redelivery (a start that failed for now). */
  retryLater(delayMs: number): void;
  /** Tells the broker it is still being worked on (extends its ack deadline), when the broker has that. */
  inProgress?(): void;
}

/**
 * The broker stopped a source's stream (a cancelled consumer, a closed channel or connection, a client that
 * gave up reconnecting): `messages` throws it, so `runSource` throws it after the messages in flight settle.
 * Classified by `name`.
 */
export class SourceStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceStoppedError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A broker source: an async stream of messages that ends when `signal` aborts. */
export interface Source {
  /** For logs: e.g. `nats ORDERS/dlq-bridge`. */
  readonly name: string;
  messages(signal: AbortSignal): AsyncIterable<SourceMessage>;
  /** Releases the broker connection. */
  close(): Promise<void>;
}

/** Options of `runSource`. */
export interface RunSourceOptions {
  /** Task queue of the workers. @defaultValue `dlq-messages` */
  taskQueue?: string;
  /** Largest payload, in UTF-8 bytes of its JSON; larger ones park as `SOURCE_PAYLOAD_TOO_LARGE`. @defaultValue `262144` */
  maxPayloadBytes?: number;
  /** Messages being started at once. @defaultValue `64` */
  maxInFlight?: number;
  /** Delay before the first redelivery of a message whose start failed; doubled per delivery. @defaultValue `1000` */
  retryDelayMs?: number;
  /** Longest redelivery delay. @defaultValue `30000` */
  maxRetryDelayMs?: number;
  /** How often an in-flight message tells the broker it is still in progress. @defaultValue `10000` */
  inProgressEveryMs?: number;
  /** Stops taking messages; those in flight finish. */
  signal?: AbortSignal;
  logger?: Logger;
  /**
   * Ask the server to hand the new workflow's first task straight to a worker of this process
   * (`requestEagerStart`). Only with a client on the worker's `NativeConnection` (`createWorker({ sources })`
   * does this); any other client refuses it.
   * @defaultValue `false`
   */
  requestEagerStart?: boolean;
  /** Called after each message is settled, e.g. for progress. */
  onSettled?: (outcome: SourceOutcome, message: SourceMessage, details: SettledDetails) => void;
}

/** What `onSettled` learns besides the outcome. */
export interface SettledDetails {
  /** The workflow that holds the message (started now, or already), when it was started or a duplicate. */
  workflowId?: string;
  /** The server handed the first workflow task to a local worker in the start's response. */
  eagerlyStarted?: boolean;
}

/** What became of one message. */
export type SourceOutcome = 'started' | 'duplicate' | 'rejected' | 'retry-later';

/** Counts of a run, by outcome. `ackFailures` are acks the broker did not confirm (it redelivers those). */
export type SourceCounts = Record<SourceOutcome, number> & { ackFailures: number };

/**
 * Drops `prefix.` from the start of a dotted address (a NATS subject, an AMQP routing key):
 * `dlq.orders.created` → `orders.created`; an address without the prefix is kept whole.
 */
export function stripTopicPrefix(prefix: string): (address: string) => string {
  const head = prefix.endsWith('.') ? prefix : `${prefix}.`;
  return (address) => (address.startsWith(head) ? address.slice(head.length) : address);
}

/** The envelope of a message, or the rejected-message envelope that parks it. Pure. */
export function sourceEnvelope(message: SourceMessage, maxPayloadBytes: number): PublishInput {
  const headers = envelopeHeaders(message.headers);
  const source = message.origin.slice(0, 200);
  const reject = (reason: SourceRejectReason, problem: string): PublishInput => ({
    id: message.fallbackId,
    topic: SOURCE_REJECTS_TOPIC,
    payload: rejectPayload(message, reason, [problem], Math.max(maxPayloadBytes, MIN_REJECT_BYTES)),
    headers,
    source,
  });
  if (!TOPIC_PATTERN.test(message.topic))
    return reject(
      SOURCE_REJECT_REASONS.badTopic,
      `topic "${message.topic.slice(0, 300)}" is not 1-100 characters of A-Z a-z 0-9 . _ -`,
    );
  if (message.brokerId !== undefined && !MESSAGE_ID_PATTERN.test(message.brokerId))
    return reject(
      SOURCE_REJECT_REASONS.badId,
      `message id "${message.brokerId.slice(0, 300)}" is not 1-200 characters of A-Z a-z 0-9 . _ : -`,
    );
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.body));
  } catch (err) {
    return reject(
      SOURCE_REJECT_REASONS.notJson,
      `body is not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  // publish refuses what is not plain JSON; from a parsed body that can only be too deep a nesting.
  const notPlain = jsonProblem(payload, MAX_PAYLOAD_DEPTH);
  if (notPlain)
    return reject(SOURCE_REJECT_REASONS.notPlainJson, `body is JSON the envelope refuses: ${notPlain}`);
  const size = jsonByteLength(payload);
  if (size > maxPayloadBytes)
    return reject(
      SOURCE_REJECT_REASONS.tooLarge,
      `payload is ${size} bytes of JSON; the limit is ${maxPayloadBytes} bytes (DLQ_MAX_PAYLOAD_BYTES)`,
    );
  return {
    id: message.brokerId ?? message.fallbackId,
    topic: message.topic,
    payload,
    headers,
    source,
  };
}

/** Most headers an envelope or a reject keeps, and their budget in bytes of JSON. */
const MAX_HEADERS = 100;
const HEADERS_BUDGET_BYTES = 64 * 1024;
/**
 * A reject is published within at least this payload limit, whatever `maxPayloadBytes` is, so the minimal
 * reject (no headers, no body) always fits.
 */
export const MIN_REJECT_BYTES = 4096;

/**
 * Headers that fit the envelope: names up to 200 characters, values up to 4 000, at most 100 of them within
 * 64 KiB; the rest are left out (the whole set stays in a reject's payload as far as it fits).
 */
function envelopeHeaders(headers: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  let bytes = 2;
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (name.length > 200 || value.length > 4000) continue;
    const cost = jsonByteLength(name) + jsonByteLength(value) + 2;
    if (count >= MAX_HEADERS || bytes + cost > HEADERS_BUDGET_BYTES) break;
    kept[name] = value;
    bytes += cost;
    count++;
  }
  return kept;
}

/** The rejected message's payload, its body cut so that the whole stays within the payload limit. */
function rejectPayload(
  message: SourceMessage,
  reason: SourceRejectReason,
  problems: string[],
  maxPayloadBytes: number,
): SourceRejectPayload {
  const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
  const minimal: SourceRejectPayload = {
    reason,
    problems: problems.map((p) => p.slice(0, 500)),
    origin: message.origin.slice(0, 300),
    topic: message.topic.slice(0, 200),
    ...(message.brokerId !== undefined ? { brokerId: message.brokerId.slice(0, 200) } : {}),
    headers: {},
    body: '',
    bodyBytes: body.byteLength,
    bodyKeptBytes: 0,
    bodySha256: createHash('sha256').update(body).digest('hex'),
    minimal: true,
  };
  const base = {
    ...minimal,
    problems,
    origin: message.origin,
    topic: message.topic.slice(0, 1000),
    ...(message.brokerId !== undefined ? { brokerId: message.brokerId.slice(0, 1000) } : {}),
    // Half the limit at most for the headers, so the body keeps room.
    headers: rejectHeaders(message.headers, Math.min(HEADERS_BUDGET_BYTES, Math.floor(maxPayloadBytes / 2))),
  };
  delete (base as { minimal?: true }).minimal;
  // Base64 takes 4 bytes per 3; keep what fits beside the rest of the payload.
  const room = maxPayloadBytes - jsonByteLength({ ...base, body: '', bodyKeptBytes: 0 }) - 64;
  // Even the parts around the body do not fit (a huge origin or topic): the minimal reject always does.
  if (room < 0) return minimal;
  const kept = Math.min(body.byteLength, Math.floor(room / 4) * 3);
  return { ...base, body: body.subarray(0, kept).toString('base64'), bodyKeptBytes: kept };
}

/** A reject's copy of the headers: at most 100, each cut to 200/4 000 characters, within `budget` bytes. */
function rejectHeaders(headers: Record<string, string>, budget: number): Record<string, string> {
  const kept: Record<string, string> = {};
  let bytes = 2;
  for (const [name, value] of Object.entries(headers).slice(0, MAX_HEADERS)) {
    const [n, v] = [name.slice(0, 200), value.slice(0, 4000)];
    const cost = jsonByteLength(n) + jsonByteLength(v) + 2;
    if (bytes + cost > budget) break;
    kept[n] = v;
    bytes += cost;
  }
  return kept;
}

/**
 * Runs a source until its stream ends or `signal` aborts, then waits for the messages in flight. Answers the
 * counts. Never throws for one message: each is started, reported as a duplicate, rejected or given back.
 */
export async function runSource(
  client: Client,
  source: Source,
  options: RunSourceOptions = {},
): Promise<SourceCounts> {
  const maxInFlight = Math.max(1, options.maxInFlight ?? 64);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const inProgressEveryMs = options.inProgressEveryMs ?? 10_000;
  const signal = options.signal ?? new AbortController().signal;
  const log = options.logger;
  const counts: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
  /** The caller's `onSettled`: what it throws is logged, never a rejection that could end the process. */
  const notifySettled = (outcome: SourceOutcome, message: SourceMessage, details: SettledDetails): void => {
    try {
      options.onSettled?.(outcome, message, details);
    } catch (err) {
      log?.error(
        { origin: message.origin, err: String(err) },
        'onSettled threw; the message is settled anyway',
      );
    }
  };

  /** Gives a message back; a broker client that throws (its connection closed) must not crash the process. */
  const giveBack = (message: SourceMessage, delayMs: number): void => {
    try {
      message.retryLater(delayMs);
    } catch (err) {
      log?.warn(
        { origin: message.origin, err: String(err) },
        'Could not give the message back; the broker redelivers it after its ack wait',
      );
    }
  };

  const settle = async (message: SourceMessage): Promise<void> => {
    const input = sourceEnvelope(message, maxPayloadBytes);
    const rejected = input.topic === SOURCE_REJECTS_TOPIC && message.topic !== SOURCE_REJECTS_TOPIC;
    // A timer's callback that throws is an uncaught exception: keep the broker's errors inside it.
    const beat = message.inProgress
      ? setInterval(() => {
          try {
            message.inProgress?.();
          } catch (err) {
            log?.debug({ origin: message.origin, err: String(err) }, 'In-progress notice not sent');
          }
        }, inProgressEveryMs)
      : undefined;
    let outcome: SourceOutcome;
    let details: SettledDetails;
    try {
      const result = await publish(client, input, {
        ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
        maxPayloadBytes: rejected ? Math.max(maxPayloadBytes, MIN_REJECT_BYTES) : maxPayloadBytes,
        ...(options.requestEagerStart ? { requestEagerStart: true } : {}),
      });
      if (!result.ok) throw result.error;
      outcome = rejected ? 'rejected' : result.duplicate ? 'duplicate' : 'started';
      details = {
        workflowId: result.workflowId,
        ...(result.duplicate ? {} : { eagerlyStarted: result.eagerlyStarted }),
      };
      if (result.duplicate)
        // A reused id (a recreated NATS stream reuses sequences) lands here too: say which workflow holds it.
        log?.info(
          { origin: message.origin, workflowId: result.workflowId, runId: result.runId },
          'Duplicate: a workflow already holds this message id; acked without starting',
        );
    } catch (err) {
      clearInterval(beat);
      if (err instanceof PublishError && err.code !== 'SERVER_ERROR') {
        // sourceEnvelope checked everything publish checks, so this is a bug: keep the message on the broker.
        log?.error({ origin: message.origin, problems: err.problems }, 'Envelope refused by publish');
      } else {
        log?.warn(
          { origin: message.origin, delivery: message.deliveryCount, err: String(err) },
          'Start failed; the message goes back to the broker',
        );
      }
      const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, message.deliveryCount - 1));
      giveBack(message, delay);
      counts['retry-later']++;
      notifySettled('retry-later', message, {});
      return;
    }
    clearInterval(beat);
    try {
      await message.ack();
    } catch (err) {
      // The start is durable: a redelivery finds the workflow and is acked as a duplicate.
      counts.ackFailures++;
      log?.warn(
        { origin: message.origin, err: String(err) },
        'Ack not confirmed; a redelivery will be a duplicate',
      );
    }
    counts[outcome]++;
    if (outcome === 'rejected')
      log?.warn({ origin: message.origin, id: input.id }, 'Broker message rejected: parked as validation');
    notifySettled(outcome, message, details);
  };

  const inFlight = new Set<Promise<void>>();
  try {
    for await (const message of source.messages(signal)) {
      // Backpressure: the next message is taken only when a slot is free.
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      if (signal.aborted) {
        // Taken but unstarted: back to the broker at once, never acked.
        giveBack(message, 0);
        continue;
      }
      const running: Promise<void> = settle(message).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
  } finally {
    // Also when the stream failed (SourceStoppedError): what is in flight settles before the error surfaces.
    await Promise.all(inFlight);
  }
  return counts;
}
