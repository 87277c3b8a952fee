/**
 * The real NATS server of the source tests (NATS_URL, else 127.0.0.1:4222; `.ci/run` starts it when it does
 * not answer): streams with names and subjects unique to the run, deleted on `close`.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';

export interface TestStream {
  name: string;
  /** Every subject of the stream starts with `<prefix>.`. */
  prefix: string;
  /** Messages of the durable consumer not yet delivered, and delivered but not acked. */
  unsettled(durable: string): Promise<{ pending: number; ackPending: number }>;
}

export interface NatsFixture {
  url: string;
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream(label: string): Promise<TestStream>;
  close(): Promise<void>;
}

export async function openNats(): Promise<NatsFixture> {
  const url = process.env.NATS_URL ?? '127.0.0.1:4222';
  const nc = await connect({ servers: [url] }).catch((err: unknown) => {
    throw new Error(
      `NATS with JetStream does not answer on ${url} (${String(err)}); .ci/run starts it, or set NATS_URL`,
    );
  });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const created: string[] = [];
  return {
    url,
    js,
    jsm,
    async stream(label) {
      const name = `dlqtest_${label}_${randomUUID().slice(0, 8)}`;
      const prefix = `dlqtest.${randomUUID().slice(0, 8)}`;
      await jsm.streams.add({ name, subjects: [`${prefix}.>`], storage: StorageType.Memory });
      created.push(name);
      return {
        name,
        prefix,
        async unsettled(durable) {
          const info = await jsm.consumers.info(name, durable);
          return { pending: info.num_pending, ackPending: info.num_ack_pending };
        },
      };
    },
    async close() {
      for (const name of created) await jsm.streams.delete(name).catch(() => undefined);
      await nc.drain();
    },
  };
}

/** Publishes to a stream (JSON of an object, a string as is) and answers the stream sequence. */
export async function sendToStream(
  nats: NatsFixture,
  subject: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<number> {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(headers)) h.set(name, value);
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const ack = await nats.js.publish(subject, data, { headers: h });
  return ack.seq;
}
