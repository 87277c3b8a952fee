/**
 * The NATS JetStream source: a durable pull consumer on a stream and subject filter, settled by `runSource`'s
 * contract (src/connectors/source.ts). The topic is the subject (a mapping can change it); the message id is
 * `Nats-Msg-Id` when present, else `<stream>:<stream sequence>`; the ack is a double ack (`ackAck`, confirmed
 * by the server), and a start that failed is `nak`ed with a delay.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { SourceStoppedError, stripTopicPrefix } from './source';
import type { Source, SourceMessage } from './source';

/** Options of `natsSource`. */
export interface NatsSourceOptions {
  /** NATS servers, e.g. `['127.0.0.1:4222']`. */
  servers: string[];
  /** The stream to read. */
  stream: string;
  /** The subject filter of the consumer, e.g. `orders.>`. */
  subject: string;
  /** Durable consumer name, created when missing; bridges with the same name share the work. @defaultValue `dlq-bridge` */
  durable?: string;
  /** Messages the client pulls ahead of `runSource` (set it to `maxInFlight`). @defaultValue `64` */
  pullBatch?: number;
  /** Ack wait of a consumer this source creates; `runSource` extends it while a start is in flight. @defaultValue `30000` */
  ackWaitMs?: number;
  /**
   * The topic of a subject. @defaultValue the subject itself (`orders.created` → topic `orders.created`);
   * `stripSubjectPrefix` gives the common variant. A result outside the topic pattern parks as `SOURCE_BAD_TOPIC`.
   */
  topicFromSubject?: (subject: string) => string;
  /**
   * Reconnect attempts after a lost connection before the client gives up; then `messages` throws a
   * `SourceStoppedError` (the bridge exits non-zero). `-1`: never give up. @defaultValue `10` (the client's)
   */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts. @defaultValue `2000` (the client's) */
  reconnectTimeWaitMs?: number;
}

/** Drops `prefix.` from the start of a subject (`dlq.orders.created` → `orders.created`). */
export const stripSubjectPrefix: (prefix: string) => (subject: string) => string = stripTopicPrefix;

/** A message id from a stream name and sequence: the stream name's characters outside the id pattern become `_`. */
export function streamSequenceId(stream: string, seq: number): string {
  return `${stream.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 150)}:${seq}`;
}

/** The default durable consumer name. */
export const DEFAULT_NATS_DURABLE = 'dlq-bridge';

/** Connects and makes sure the durable consumer exists (explicit acks, unlimited deliveries). */
export async function natsSource(options: NatsSourceOptions): Promise<Source> {
  const durable = options.durable ?? DEFAULT_NATS_DURABLE;
  const pullBatch = Math.max(1, options.pullBatch ?? 64);
  const topicOf = options.topicFromSubject ?? ((subject: string) => subject);
  const nc = await connect({
    servers: options.servers,
    name: `temporal-dlq ${durable}`,
    ...(options.maxReconnectAttempts !== undefined
      ? { maxReconnectAttempts: options.maxReconnectAttempts }
      : {}),
    ...(options.reconnectTimeWaitMs !== undefined ? { reconnectTimeWait: options.reconnectTimeWaitMs } : {}),
  });
  let closedBy: string | undefined;
  void nc.closed().then((err) => {
    closedBy = err ? err.message : 'closed';
  });
  try {
    const jsm = await jetstreamManager(nc);
    const existing = await jsm.consumers.info(options.stream, durable).catch(() => undefined);
    if (!existing) {
      await jsm.consumers.add(options.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: options.subject,
        ack_wait: (options.ackWaitMs ?? 30_000) * 1_000_000, // nanoseconds
        // Never given up on: a message leaves the stream's consumer only once a workflow holds it.
        max_deliver: -1,
        max_ack_pending: Math.max(1000, pullBatch * 4),
      });
    } else if ((existing.config.filter_subject ?? '') !== options.subject) {
      throw new Error(
        `Consumer ${durable} on stream ${options.stream} filters "${existing.config.filter_subject ?? ''}", not "${options.subject}"; use another --durable`,
      );
    }
  } catch (err) {
    await nc.close();
    throw err;
  }
  const js = jetstream(nc);

  const toSourceMessage = (m: JsMsg): SourceMessage => {
    const headers: Record<string, string> = {};
    if (m.headers) for (const [name, values] of m.headers) headers[name] = values.join(', ');
    const brokerId = m.headers?.get('Nats-Msg-Id') || undefined;
    return {
      body: m.data,
      headers,
      topic: topicOf(m.subject),
      brokerId,
      fallbackId: streamSequenceId(m.info.stream, m.seq),
      origin: `nats:${m.info.stream}/${m.seq} ${m.subject}`,
      deliveryCount: m.info.deliveryCount,
      ack: async () => {
        // false: this message was already settled once (nothing was sent now).
        if (!(await m.ackAck()))
          throw new Error(`ack of ${m.info.stream}/${m.seq} not sent: already settled`);
      },
      retryLater: (delayMs) => m.nak(delayMs),
      inProgress: () => m.working(),
    };
  };

  return {
    name: `nats ${options.stream}/${durable}`,
    async *messages(signal: AbortSignal) {
      if (signal.aborted) return;
      const consumer = await js.consumers.get(options.stream, durable);
      const batch: ConsumerMessages = await consumer.consume({ max_messages: pullBatch });
      const stop = () => void batch.close();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const m of batch) yield toSourceMessage(m);
        // The consumer's iterator also ends, quietly, when the client gave up reconnecting: that must not
        // look like a clean stop (a bridge exiting 0 while messages wait).
        if (!signal.aborted)
          throw new SourceStoppedError(
            `NATS stream ${options.stream}: the consumer stopped delivering (${
              nc.isClosed() ? `connection closed: ${closedBy ?? 'reconnects exhausted'}` : 'consumer ended'
            })`,
          );
      } finally {
        signal.removeEventListener('abort', stop);
        await batch.close();
      }
    },
    async close() {
      await nc.drain();
    },
  };
}
