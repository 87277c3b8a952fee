/**
 * Sources inside the worker (`createWorker({ sources })`) on the real RabbitMQ and the suite's Temporal server:
 * the starts go through the worker's NativeConnection with eager workflow start, and the server really hands
 * the first workflow task over in the start's response (`eagerlyStarted`, reported per message; with
 * `eagerStart: false` none is); the worker's shutdown drains the source first (nothing unstarted is acked: what
 * was not started is back in the queue); a deleted queue makes `run()` reject with `SourceStoppedError`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { messageWorkflowId } from '../src/contract/names';
import { SourceStoppedError, stripTopicPrefix } from '../src/connectors/source';
import type { SettledDetails, SourceOutcome } from '../src/connectors/source';
import { rabbitmqSource } from '../src/connectors/rabbitmq';
import { openRabbit } from './support/rabbitmq';
import type { RabbitFixture, TestQueue } from './support/rabbitmq';

let env: TestEnv;
let rabbit: RabbitFixture;
const run = uid();
const topic = `inworker-${run}`;
const handlers = [defineHandler({ topic, handle: () => 'ok' })];

before(async () => {
  rabbit = await openRabbit();
  env = await openTestEnv();
});
after(async () => {
  await env?.close();
  await rabbit?.close();
});

const open = (queue: TestQueue, prefetch = 8) =>
  rabbitmqSource({
    url: rabbit.url,
    queue: queue.name,
    prefetch,
    topicFromRoutingKey: stripTopicPrefix(queue.prefix),
  });

async function bridgeInWorker(
  queue: TestQueue,
  ids: string[],
  eagerStart: boolean,
): Promise<Array<{ outcome: SourceOutcome; details: SettledDetails }>> {
  const settled: Array<{ outcome: SourceOutcome; details: SettledDetails }> = [];
  const { stop } = await env.startWorker(
    handlers,
    {},
    {
      sources: [await open(queue)],
      eagerStart,
      sourceOptions: {
        maxInFlight: 8,
        onSettled: (outcome, _m, details) => settled.push({ outcome, details }),
      },
    },
  );
  try {
    await waitFor('every message settled', () =>
      Promise.resolve(settled.length >= ids.length ? true : undefined),
    );
    // Queries need the worker: check the outcome before it stops.
    for (const id of ids) await waitForStatus(env.client, messageWorkflowId(topic, id), 'succeeded');
  } finally {
    await stop();
  }
  return settled;
}

describe('sources inside the worker', () => {
  it('starts each message with eager workflow start on the worker connection', async () => {
    const queue = await rabbit.queue('eager');
    const total = 10;
    for (let i = 0; i < total; i++)
      await rabbit.send(`${queue.prefix}.${topic}`, { i }, { messageId: `e-${run}-${i}` });
    const ids = Array.from({ length: total }, (_, i) => `e-${run}-${i}`);
    const settled = await bridgeInWorker(queue, ids, true);
    assert.deepEqual(
      settled.map((s) => s.outcome),
      Array<SourceOutcome>(total).fill('started'),
    );
    const eager = settled.filter((s) => s.details.eagerlyStarted === true).length;
    process.stdout.write(`# eager start: ${eager} of ${total} starts handed over in the response\n`);
    // The server may decline one when no workflow slot is free; it never declines them all.
    assert.ok(eager >= 1, `${eager} of ${total} eagerly started`);
    assert.equal(await rabbit.ready(queue.name), 0);
  });

  it('starts nothing eagerly with eagerStart: false (the control)', async () => {
    const queue = await rabbit.queue('lazy');
    const total = 5;
    for (let i = 0; i < total; i++)
      await rabbit.send(`${queue.prefix}.${topic}`, { i }, { messageId: `l-${run}-${i}` });
    const ids = Array.from({ length: total }, (_, i) => `l-${run}-${i}`);
    const settled = await bridgeInWorker(queue, ids, false);
    assert.deepEqual(
      settled.map((s) => [s.outcome, s.details.eagerlyStarted]),
      Array(total).fill(['started', undefined]),
    );
  });

  it('drains the sources on shutdown: what was not started stays in the queue', async () => {
    const queue = await rabbit.queue('drain');
    const total = 200;
    for (let i = 0; i < total; i++)
      await rabbit.send(`${queue.prefix}.${topic}`, { i }, { messageId: `d-${run}-${i}` });
    const started = new Set<string>();
    const { stop } = await env.startWorker(
      handlers,
      {},
      {
        sources: [await open(queue, 32)], // above maxInFlight: at shutdown some are delivered, not yet taken
        sourceOptions: {
          maxInFlight: 8,
          onSettled: (outcome, _m, details) => {
            if (outcome === 'started' && details.workflowId) started.add(details.workflowId);
          },
        },
      },
    );
    await waitFor('some starts', () => Promise.resolve(started.size >= 20 ? true : undefined));
    await stop();
    const left = await rabbit.ready(queue.name);
    assert.ok(started.size < total, `stopped mid-stream (${started.size} started)`);
    assert.equal(left, total - started.size, 'every message not started is back in the queue, none acked');
    for (const id of started) await env.client.workflow.getHandle(id).describe();
  });

  it('rejects run() with SourceStoppedError when the broker cancels the consumer', async () => {
    const queue = await rabbit.queue('gone');
    const { worker, stop } = await env.startWorker(handlers, {}, { sources: [await open(queue)] });
    await waitFor('the consumer', async () =>
      (await rabbit.channel.checkQueue(queue.name)).consumerCount > 0 ? true : undefined,
    );
    await rabbit.channel.deleteQueue(queue.name);
    // The worker shuts itself down; run() (awaited by stop) rejects with the source's error.
    await waitFor('the worker to stop by itself', () =>
      Promise.resolve(worker.getState() === 'STOPPED' ? true : undefined),
    );
    await assert.rejects(stop(), (err: Error) => {
      assert.ok(err instanceof SourceStoppedError, String(err));
      assert.match(err.message, /consumer cancelled by the broker/);
      return true;
    });
  });
});
