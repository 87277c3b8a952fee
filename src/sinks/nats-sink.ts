/**
 * The NATS JetStream sink (seed 004): each event is published on `<prefix><original subject>` (`DLQ.orders.created`
 * for a message read from `orders.created`, the topic for a message that did not come from NATS) on a stream
 * of its own (created when missing, over `<prefix>>`), with the origin headers and `Nats-Msg-Id` set to the
 * event id, so JetStream drops the duplicate of a retried publish within its duplicate window.
 *
 * One connection per sink (per worker process), opened on the first event and reused; the broker library is
 * loaded then, so a process that never mirrors never loads it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { MirrorEvent } from '../contract/mirror';
import type { EventSink } from './types';
import { messageOrigin } from './origin';

/** Options of the NATS sink. */
export interface NatsSinkOptions {
  /** NATS servers, e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Prefix of the DLQ subjects; ends with `.`. @defaultValue `"DLQ."` */
  subjectPrefix?: string;
  /** The stream that keeps the DLQ subjects; created over `<subjectPrefix>>` when missing. @defaultValue `"DLQ"` */
  stream?: string;
  /** Timeout of the connection and of each publish acknowledgement, in milliseconds. @defaultValue `5000` */
  timeoutMs?: number;
}

/** Header names the sink writes (seed 004's `X-Original-Subject` and `X-Stream-Seq`, and ours). */
export const NATS_SINK_HEADERS = {
  originalSubject: 'X-Original-Subject',
  originalStream: 'X-Original-Stream',
  streamSeq: 'X-Stream-Seq',
  reason: 'X-DLQ-Reason',
  errorClass: 'X-DLQ-Class',
  workflowId: 'X-DLQ-Workflow-Id',
  event: 'X-DLQ-Event',
  parkCount: 'X-DLQ-Park-Count',
} as const;

export function createNatsSink(options: NatsSinkOptions): EventSink {
  const prefix = options.subjectPrefix ?? 'DLQ.';
  const streamName = options.stream ?? 'DLQ';
  const timeout = options.timeoutMs ?? 5000;
  let opened: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined;

  const open = async () => {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: options.servers, timeout, name: 'temporal-dlq sink' });
    try {
      const jsm = await jetstreamManager(nc, { timeout });
      try {
        await jsm.streams.info(streamName);
      } catch {
        // Missing (or not readable): create it. A failure here (subjects overlapping another stream) fails the
        // delivery, which Temporal retries and finally reports as undelivered.
        await jsm.streams.add({ name: streamName, subjects: [`${prefix}>`] });
      }
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
    // A connection that closed for good (not a reconnect) is opened again on the next event.
    void nc.closed().then(() => {
      opened = undefined;
    });
    return { nc, js: jetstream(nc, { timeout }) };
  };

  return {
    async deliver(event: MirrorEvent) {
      const current = (opened ??= open().catch((err: unknown) => {
        opened = undefined;
        throw err;
      }));
      const { js } = await current;
      const { headers: natsHeaders } = await import('@nats-io/transport-node');
      const dl = event.deadLetter;
      const origin = messageOrigin(dl.source, dl.topic);
      const h = natsHeaders();
      h.set(NATS_SINK_HEADERS.originalSubject, origin.subject);
      if (origin.stream) h.set(NATS_SINK_HEADERS.originalStream, origin.stream);
      if (origin.streamSeq !== undefined) h.set(NATS_SINK_HEADERS.streamSeq, String(origin.streamSeq));
      h.set(NATS_SINK_HEADERS.reason, dl.reason);
      h.set(NATS_SINK_HEADERS.errorClass, dl.errorClass);
      h.set(NATS_SINK_HEADERS.workflowId, event.workflowId);
      h.set(NATS_SINK_HEADERS.event, event.kind);
      h.set(NATS_SINK_HEADERS.parkCount, String(event.parkCount));
      await js.publish(`${prefix}${origin.subject}`, JSON.stringify(event), {
        msgID: event.eventId,
        headers: h,
        timeout,
      });
    },
    async close() {
      const current = opened;
      opened = undefined;
      if (current) await (await current.catch(() => undefined))?.nc.close();
    },
  };
}
