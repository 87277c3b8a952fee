/**
 * The RabbitMQ source (AMQP 0-9-1, `amqplib`): a consumer on one queue with manual acks and a prefetch, settled
 * by `runSource`'s contract (src/connectors/source.ts).
 * - topic: the routing key (a mapping can change it, e.g. `stripTopicPrefix`); a message sent straight to the
 *   queue through the default exchange has the queue's name as its routing key;
 * - message id: the AMQP `message-id` property when present, else `rabbitmqFallbackId`: a SHA-256 of the queue,
 *   exchange, routing key, `timestamp` property and body, which every redelivery carries too (RabbitMQ has no
 *   stable sequence number). Its limit: two messages with identical bodies, no `message-id` and the same (or
 *   no) `timestamp` get the same id, so the second is acked as a duplicate of the first;
 * - ack: a plain `basic.ack` after the start is durable (AMQP 0-9-1 does not confirm acks: a lost ack means a
 *   redelivery, which is reported as a duplicate and acked);
 * - a start that failed: RabbitMQ has no delayed nack, so the message is held (unacked, so it still counts
 *   against the prefetch) for the delay, on a timer, then `nack`ed with requeue;
 * - a consumer cancelled by the broker (queue deleted) or a closed channel or connection ends the stream with a
 *   `SourceStoppedError`: the caller sees it (the bridge exits non-zero), and RabbitMQ requeues every unacked
 *   message of the closed channel.
 */
import { createHash } from 'node:crypto';
import { connect } from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { SourceStoppedError } from './source';
import type { Source, SourceMessage } from './source';

/** Options of `rabbitmqSource`. */
export interface RabbitmqSourceOptions {
  /** AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672`. */
  url: string;
  /** The queue to consume; it must exist (the source declares nothing). */
  queue: string;
  /** Unacked messages RabbitMQ delivers ahead (`basic.qos`); set it to `runSource`'s `maxInFlight`. @defaultValue `64` */
  prefetch?: number;
  /**
   * The topic of a routing key. @defaultValue the routing key itself (`orders.created` → topic `orders.created`);
   * `stripTopicPrefix` gives the common variant. A result outside the topic pattern parks as `SOURCE_BAD_TOPIC`.
   */
  topicFromRoutingKey?: (routingKey: string) => string;
}

/** The default prefetch. */
export const DEFAULT_RABBITMQ_PREFETCH = 64;

/** Deliveries remembered per message for the growing retry delay (classic queues only say "redelivered"). */
const REMEMBERED_DELIVERIES = 10_000;

/**
 * The message id of a message without `message-id`: `amqp-` and the SHA-256 (hex) of the queue, exchange,
 * routing key, `timestamp` property and body, each length-prefixed. Every redelivery of the message has the
 * same parts, so the same id.
 */
export function rabbitmqFallbackId(
  queue: string,
  exchange: string,
  routingKey: string,
  timestamp: number | undefined,
  body: Uint8Array,
): string {
  const hash = createHash('sha256');
  for (const part of [queue, exchange, routingKey, timestamp === undefined ? '' : String(timestamp)]) {
    const bytes = Buffer.from(part, 'utf8');
    hash.update(`${bytes.byteLength}:`).update(bytes);
  }
  hash.update(`${body.byteLength}:`).update(body);
  return `amqp-${hash.digest('hex')}`;
}

/** An AMQP header value as text: strings as they are, buffers as UTF-8, the rest as JSON. */
function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
  } catch {
    return String(value);
  }
}

/** The AMQP properties a message carries, as `amqp-<name>` headers. */
const PROPERTY_HEADERS = {
  contentType: 'amqp-content-type',
  contentEncoding: 'amqp-content-encoding',
  correlationId: 'amqp-correlation-id',
  replyTo: 'amqp-reply-to',
  expiration: 'amqp-expiration',
  messageId: 'amqp-message-id',
  timestamp: 'amqp-timestamp',
  type: 'amqp-type',
  userId: 'amqp-user-id',
  appId: 'amqp-app-id',
  priority: 'amqp-priority',
  deliveryMode: 'amqp-delivery-mode',
} as const;

/** The headers of a delivery: its AMQP headers (stringified), then its properties and routing. */
export function rabbitmqHeaders(m: ConsumeMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.properties.headers ?? {}))
    if (value !== undefined && value !== null) headers[name] = headerText(value);
  for (const [property, name] of Object.entries(PROPERTY_HEADERS)) {
    const value = (m.properties as unknown as Record<string, unknown>)[property];
    if (value !== undefined && value !== null) headers[name] = headerText(value);
  }
  headers['amqp-exchange'] = m.fields.exchange;
  headers['amqp-routing-key'] = m.fields.routingKey;
  return headers;
}

/** Connects, checks that the queue exists and sets the prefetch. */
export async function rabbitmqSource(options: RabbitmqSourceOptions): Promise<Source> {
  const prefetch = Math.max(1, options.prefetch ?? DEFAULT_RABBITMQ_PREFETCH);
  const topicOf = options.topicFromRoutingKey ?? ((routingKey: string) => routingKey);
  const connection: ChannelModel = await connect(options.url, {
    clientProperties: { connection_name: `temporal-dlq ${options.queue}` },
  });
  let channel: Channel;
  try {
    channel = await connection.createChannel();
    await channel.checkQueue(options.queue);
    await channel.prefetch(prefetch);
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }

  let closing = false;
  let failure: SourceStoppedError | undefined;
  let wake: (() => void) | undefined;
  const fail = (why: string) => {
    if (closing) return;
    failure ??= new SourceStoppedError(`RabbitMQ queue ${options.queue}: ${why}`);
    wake?.();
  };
  // Without an 'error' listener an emitted error would crash the process; the 'close' that follows ends the stream.
  connection.on('error', (err: Error) => fail(`connection error: ${err.message}`));
  connection.on('close', (err?: Error) => fail(`connection closed${err ? `: ${err.message}` : ''}`));
  channel.on('error', (err: Error) => fail(`channel error: ${err.message}`));
  channel.on('close', () => fail('channel closed'));

  /** Messages held for a delayed nack (a failed start), by their timer. */
  const held = new Map<NodeJS.Timeout, ConsumeMessage>();
  const nack = (m: ConsumeMessage) => {
    try {
      channel.nack(m, false, true);
    } catch {
      // The channel is closed: RabbitMQ requeues every unacked message of a closed channel by itself.
    }
  };
  const deliveries = new Map<string, number>();
  const deliveryCount = (id: string, m: ConsumeMessage): number => {
    // Quorum queues count deliveries in x-delivery-count; classic queues only set `redelivered`.
    const fromBroker = Number(m.properties.headers?.['x-delivery-count'] ?? 0) + 1;
    const seen = (deliveries.get(id) ?? (m.fields.redelivered ? 1 : 0)) + 1;
    deliveries.delete(id);
    deliveries.set(id, seen);
    if (deliveries.size > REMEMBERED_DELIVERIES) deliveries.delete(deliveries.keys().next().value!);
    return Math.max(fromBroker, seen);
  };

  const toSourceMessage = (m: ConsumeMessage): SourceMessage => {
    const rawId: unknown = m.properties.messageId;
    const brokerId = rawId === undefined || rawId === null || rawId === '' ? undefined : headerText(rawId);
    const timestamp: unknown = m.properties.timestamp;
    const fallbackId = rabbitmqFallbackId(
      options.queue,
      m.fields.exchange,
      m.fields.routingKey,
      typeof timestamp === 'number' ? timestamp : undefined,
      m.content,
    );
    return {
      body: m.content,
      headers: rabbitmqHeaders(m),
      topic: topicOf(m.fields.routingKey),
      brokerId,
      fallbackId,
      origin: `rabbitmq:${options.queue} ${m.fields.exchange || '(default)'}/${m.fields.routingKey}`,
      deliveryCount: deliveryCount(brokerId ?? fallbackId, m),
      ack: () => {
        // Throws when the channel is closed: RabbitMQ then redelivers it, and the redelivery is a duplicate.
        channel.ack(m);
        if (brokerId === undefined) deliveries.delete(fallbackId);
        else deliveries.delete(brokerId);
        return Promise.resolve();
      },
      retryLater: (delayMs) => {
        if (delayMs <= 0 || closing) return nack(m);
        // No delayed nack in AMQP: hold the message (it keeps its prefetch slot) and nack it later.
        const timer = setTimeout(() => {
          held.delete(timer);
          nack(m);
        }, delayMs);
        held.set(timer, m);
      },
    };
  };

  return {
    name: `rabbitmq ${options.queue}`,
    async *messages(signal: AbortSignal) {
      if (signal.aborted) return;
      const buffered: ConsumeMessage[] = [];
      let cancelled = false;
      const { consumerTag } = await channel.consume(
        options.queue,
        (m) => {
          if (m === null) fail('consumer cancelled by the broker (was the queue deleted?)');
          else buffered.push(m);
          wake?.();
        },
        { noAck: false },
      );
      const stop = () => {
        cancelled = true;
        wake?.();
      };
      signal.addEventListener('abort', stop, { once: true });
      try {
        for (;;) {
          if (cancelled || signal.aborted) break;
          // A closed channel cannot ack what it delivered (RabbitMQ requeues it): stop at once.
          if (failure) throw failure;
          const next = buffered.shift();
          if (next) {
            yield toSourceMessage(next);
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        signal.removeEventListener('abort', stop);
        if (!failure) await channel.cancel(consumerTag).catch(() => undefined);
        // Delivered to this process but never handed over (or arrived before the cancel took effect).
        for (const m of buffered.splice(0)) nack(m);
      }
    },
    async close() {
      // What waits for a delayed nack goes back now.
      for (const [timer, m] of held) {
        clearTimeout(timer);
        nack(m);
      }
      held.clear();
      closing = true;
      await channel.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
