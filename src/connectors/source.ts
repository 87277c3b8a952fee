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
  /** Called after each message is settled, e.g. for progress. */
  onSettled?: (outcome: SourceOutcome, message: SourceMessage) => void;
}

/** What became of one message. */
export type SourceOutcome = 'started' | 'duplicate' | 'rejected' | 'retry-later';

/** Counts of a run, by outcome. `ackFailures` are acks the broker did not confirm (it redelivers those). */
export type SourceCounts = Record<SourceOutcome, number> & { ackFailures: number };

/** The envelope of a message, or the rejected-message envelope that parks it. Pure. */
export function sourceEnvelope(message: SourceMessage, maxPayloadBytes: number): PublishInput {
  const headers = envelopeHeaders(message.headers);
  const source = message.origin.slice(0, 200);
  const reject = (reason: SourceRejectReason, problem: string): PublishInput => ({
    id: message.fallbackId,
    topic: SOURCE_REJECTS_TOPIC,
    payload: rejectPayload(message, reason, [problem], maxPayloadBytes),
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

/** Headers that fit the envelope (names up to 200 characters, values up to 4 000); the rest are left out. */
function envelopeHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name, value]) => name.length <= 200 && value.length <= 4000),
  );
}

/** The rejected message's payload, its body cut so that the whole stays within the payload limit. */
function rejectPayload(
  message: SourceMessage,
  reason: SourceRejectReason,
  problems: string[],
  maxPayloadBytes: number,
): SourceRejectPayload {
  const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
  const base = {
    reason,
    problems,
    origin: message.origin,
    topic: message.topic.slice(0, 1000),
    ...(message.brokerId !== undefined ? { brokerId: message.brokerId.slice(0, 1000) } : {}),
    headers: Object.fromEntries(
      Object.entries(message.headers)
        .slice(0, 100)
        .map(([name, value]) => [name.slice(0, 200), value.slice(0, 4000)]),
    ),
    bodyBytes: body.byteLength,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
  // Base64 takes 4 bytes per 3; keep what fits beside the rest of the payload.
  const room = Math.max(0, maxPayloadBytes - jsonByteLength({ ...base, body: '', bodyKeptBytes: 0 }) - 64);
  const kept = Math.min(body.byteLength, Math.floor(room / 4) * 3);
  return { ...base, body: body.subarray(0, kept).toString('base64'), bodyKeptBytes: kept };
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

  const settle = async (message: SourceMessage): Promise<void> => {
    const input = sourceEnvelope(message, maxPayloadBytes);
    const rejected = input.topic === SOURCE_REJECTS_TOPIC && message.topic !== SOURCE_REJECTS_TOPIC;
    const beat = message.inProgress
      ? setInterval(() => message.inProgress?.(), inProgressEveryMs)
      : undefined;
    let outcome: SourceOutcome;
    try {
      const result = await publish(client, input, {
        ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
        maxPayloadBytes,
      });
      if (!result.ok) throw result.error;
      outcome = rejected ? 'rejected' : result.duplicate ? 'duplicate' : 'started';
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
      message.retryLater(delay);
      counts['retry-later']++;
      options.onSettled?.('retry-later', message);
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
    options.onSettled?.(outcome, message);
  };

  const inFlight = new Set<Promise<void>>();
  for await (const message of source.messages(signal)) {
    // Backpressure: the next message is taken only when a slot is free.
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (signal.aborted) {
      // Taken but unstarted: back to the broker at once, never acked.
      message.retryLater(0);
      continue;
    }
    const running: Promise<void> = settle(message).finally(() => inFlight.delete(running));
    inFlight.add(running);
  }
  await Promise.all(inFlight);
  return counts;
}
