/**
 * The real RabbitMQ of the source tests (RABBITMQ_URL, else amqp://guest:guest@127.0.0.1:5672; `.ci/run` starts
 * it when it does not answer): queues with names unique to the run, deleted on `close`.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';

export interface TestQueue {
  name: string;
  /** The queue is bound to the run's topic exchange with `<prefix>.#`. */
  prefix: string;
}

export interface RabbitFixture {
  url: string;
  channel: ConfirmChannel;
  /** The run's topic exchange (deleted on `close`). */
  exchange: string;
  /** Declares a durable queue unique to the run, bound to the exchange with `<prefix>.#`. */
  queue(label: string): Promise<TestQueue>;
  /** Messages ready in the queue (not delivered, or given back). Unacked deliveries are not counted. */
  ready(queue: string): Promise<number>;
  /** Publishes a body (an object as JSON, a string or bytes as they are) on the exchange; waits for the confirm. */
  send(routingKey: string, body: unknown, properties?: Options.Publish): Promise<void>;
  close(): Promise<void>;
}

export async function openRabbit(): Promise<RabbitFixture> {
  const url = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const connection: ChannelModel = await connect(url).catch((err: unknown) => {
    throw new Error(
      `RabbitMQ does not answer on ${url} (${String(err)}); .ci/run starts it, or set RABBITMQ_URL`,
    );
  });
  const channel = await connection.createConfirmChannel();
  const exchange = `dlqtest-x-${randomUUID().slice(0, 8)}`;
  await channel.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  const created: string[] = [];
  return {
    url,
    channel,
    exchange,
    async queue(label) {
      const name = `dlqtest-${label}-${randomUUID().slice(0, 8)}`;
      const prefix = `dlqtest.${randomUUID().slice(0, 8)}`;
      await channel.assertQueue(name, { durable: true });
      await channel.bindQueue(name, exchange, `${prefix}.#`);
      created.push(name);
      return { name, prefix };
    },
    async ready(queue) {
      return (await channel.checkQueue(queue)).messageCount;
    },
    async send(routingKey, body, properties = {}) {
      const content =
        body instanceof Uint8Array
          ? Buffer.from(body)
          : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      channel.publish(exchange, routingKey, content, { persistent: true, ...properties });
      await channel.waitForConfirms();
    },
    async close() {
      for (const name of created) await channel.deleteQueue(name).catch(() => undefined);
      await channel.deleteExchange(exchange).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
