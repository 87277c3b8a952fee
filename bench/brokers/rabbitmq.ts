/** The ingestion phase's RabbitMQ broker: a queue of its own per load (the default exchange), deleted on close. */
import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import type { IngestionBroker } from '../phases/ingestion';

export async function rabbitmqBroker(url: string, prefetch: number): Promise<IngestionBroker> {
  const connection = await connect(url).catch((err: unknown) => {
    throw new Error(`bench: RabbitMQ does not answer at ${url} (${String(err)}); set BENCH_RABBITMQ_URL`);
  });
  const channel = await connection.createConfirmChannel();
  const queues: string[] = [];
  return {
    kind: 'rabbitmq',
    async load(n, topic, prefix) {
      // The source's topic is the routing key: publish through a direct exchange of the queue's own.
      const queue = `bench-ingest-${randomUUID().slice(0, 8)}`;
      const exchange = `${queue}-x`;
      await channel.assertExchange(exchange, 'direct', { durable: false, autoDelete: true });
      await channel.assertQueue(queue, { durable: true });
      await channel.bindQueue(queue, exchange, topic);
      queues.push(queue);
      for (let i = 0; i < n; i++)
        channel.publish(exchange, topic, Buffer.from(JSON.stringify({ i })), {
          messageId: `${prefix}-${i}`,
          contentType: 'application/json',
        });
      await channel.waitForConfirms();
      return { spec: { kind: 'rabbitmq', url, queue, prefetch } };
    },
    async close() {
      for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
