/**
 * The RabbitMQ source while Temporal is down: this test runs its own dev server (SQLite file), bridges 300
 * messages with a prefetch of 8, stops the server for 10 s mid-stream and starts it again on the same file.
 * During the outage nothing is acked but the starts already on their way (at most the 8 in flight); afterwards
 * the source catches up, the queue is empty and every message has exactly one workflow. No worker runs: the
 * workflows only have to exist.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { messageWorkflowId } from '../src/contract/names';
import { runSource, stripTopicPrefix } from '../src/connectors/source';
import type { SourceCounts } from '../src/connectors/source';
import { rabbitmqSource } from '../src/connectors/rabbitmq';
import { uid, waitFor } from './helpers';
import { openRabbit } from './support/rabbitmq';
import type { RabbitFixture } from './support/rabbitmq';
import { openOwnServer } from './support/own-server';
import type { OwnServer } from './support/own-server';

const TOTAL = 300;
const OUTAGE_MS = 10_000;
let server: OwnServer;
let rabbit: RabbitFixture;

before(async () => {
  rabbit = await openRabbit();
  server = await openOwnServer('amqp-outage');
});
after(async () => {
  await server?.close();
  await rabbit?.close();
});

describe('RabbitMQ source during a Temporal outage', () => {
  it('acks nothing it could not start while the server is down, then catches up', async () => {
    const run = uid();
    const topic = `amqp-outage-${run}`;
    const queue = await rabbit.queue('outage');
    for (let i = 0; i < TOTAL; i++)
      rabbit.channel.publish(
        rabbit.exchange,
        `${queue.prefix}.${topic}`,
        Buffer.from(JSON.stringify({ i })),
        {
          messageId: `o-${i}`,
          persistent: true,
        },
      );
    await rabbit.channel.waitForConfirms();
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const source = await rabbitmqSource({
      url: rabbit.url,
      queue: queue.name,
      prefetch: 8,
      topicFromRoutingKey: stripTopicPrefix(queue.prefix),
    });
    const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
    const stop = new AbortController();
    const bridging = runSource(client, source, {
      taskQueue: `outage-${run}`,
      maxInFlight: 8,
      retryDelayMs: 250,
      maxRetryDelayMs: 2000,
      signal: stop.signal,
      onSettled: (outcome) => {
        live[outcome]++;
        if (live.started + live.duplicate === TOTAL) stop.abort();
      },
    });
    try {
      await waitFor('a third of the messages started', () =>
        Promise.resolve(live.started >= TOTAL / 3 ? true : undefined),
      );
      await server.stop();
      const ackedAtStop = live.started + live.duplicate;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const ackedInOutage = live.started + live.duplicate - ackedAtStop;
      // Starts already on their way when the server stopped may have landed; nothing else can be acked.
      assert.ok(ackedInOutage <= 8, `${ackedInOutage} acked during the outage (at most the 8 in flight)`);
      await server.start();
      await waitFor(
        'the source to catch up',
        () => Promise.resolve(stop.signal.aborted ? true : undefined),
        90_000,
      );
      const counts = await bridging;
      process.stdout.write(`# outage: ${ackedInOutage} acked during it; counts ${JSON.stringify(counts)}\n`);
      assert.ok(
        counts.started <= TOTAL && counts.started + counts.duplicate === TOTAL,
        JSON.stringify(counts),
      );
    } finally {
      stop.abort();
      await bridging.catch(() => undefined);
      await source.close();
    }
    assert.equal(await rabbit.ready(queue.name), 0, 'every message acked, none left');
    for (let i = 0; i < TOTAL; i++)
      await client.workflow.getHandle(messageWorkflowId(topic, `o-${i}`)).describe();
    await waitFor('visibility to count every message once', async () =>
      (await client.workflow.count(`DlqTopic = '${topic}'`)).count === TOTAL ? true : undefined,
    );
    await connection.close();
  });
});
