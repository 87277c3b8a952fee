/** The ingestion phase's NATS JetStream broker: a memory stream of its own per load, deleted on close. */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { IngestionBroker } from '../phases/ingestion';

/** Publishes in windows of this many unacknowledged messages (JetStream acks each publish). */
const PUBLISH_WINDOW = 256;

export async function natsBroker(url: string, maxInFlight: number): Promise<IngestionBroker> {
  const nc: NatsConnection = await connect({ servers: [url] }).catch((err: unknown) => {
    throw new Error(
      `bench: NATS with JetStream does not answer on ${url} (${String(err)}); set BENCH_NATS_URL`,
    );
  });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const streams: string[] = [];
  return {
    kind: 'nats',
    async load(n, topic, prefix) {
      const tag = randomUUID().slice(0, 8);
      const stream = `bench_ingest_${tag}`;
      const subjects = `bench-ingest.${tag}`;
      await jsm.streams.add({ name: stream, subjects: [`${subjects}.>`], storage: StorageType.Memory });
      streams.push(stream);
      for (let from = 0; from < n; from += PUBLISH_WINDOW) {
        const batch = [];
        for (let i = from; i < Math.min(n, from + PUBLISH_WINDOW); i++) {
          const h = natsHeaders();
          h.set('Nats-Msg-Id', `${prefix}-${i}`);
          batch.push(js.publish(`${subjects}.${topic}`, JSON.stringify({ i }), { headers: h }));
        }
        await Promise.all(batch);
      }
      return {
        spec: {
          kind: 'nats',
          url,
          stream,
          subjectPrefix: subjects,
          durable: `bench_${tag}`,
          pullBatch: maxInFlight,
        },
      };
    },
    async close() {
      for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
      await nc.drain();
    },
  };
}
