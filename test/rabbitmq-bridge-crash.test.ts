/**
 * `dlq bridge rabbitmq` under crashes, on the real RabbitMQ and the suite's Temporal server: 2 000 messages,
 * the bridge (a process of its own) SIGKILLed twice mid-stream and restarted, then stopped with SIGTERM (it
 * drains and exits 0). Afterwards the queue is empty, every message has exactly one workflow, none is missing,
 * and no stage ran twice for the same idempotency key. A killed bridge's unacked messages go back to the queue
 * when RabbitMQ sees its connection drop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openTestEnv, uid, waitFor } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { openRabbit } from './support/rabbitmq';
import type { RabbitFixture, TestQueue } from './support/rabbitmq';
import { assertExactlyOnePerMessage } from './support/exactly-once';

const TOTAL = 2000;
const run = uid();
const topic = `amqp-crash-${run}`;
const runsByKey = new Map<string, number>();
let env: TestEnv;
let rabbit: RabbitFixture;
let queue: TestQueue;
let bridge: ChildProcess | undefined;

before(async () => {
  rabbit = await openRabbit();
  env = await openTestEnv();
  await env.startWorker([
    defineHandler({
      topic,
      handle: ({ idempotencyKey }) => {
        runsByKey.set(idempotencyKey, (runsByKey.get(idempotencyKey) ?? 0) + 1);
        return 'ok';
      },
    }),
  ]);
  queue = await rabbit.queue('crash');
});
after(async () => {
  if (bridge && bridge.exitCode === null && bridge.signalCode === null) bridge.kill('SIGKILL');
  await env?.close();
  await rabbit?.close();
});

function startBridge(): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(__dirname, '..', 'bin', 'dlq.js'), 'bridge', 'rabbitmq', '--progress-every', '0'],
    {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: env.taskQueue,
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
        // The variables, not flags: they configure a bridge just as well.
        DLQ_BRIDGE_RABBITMQ_URL: rabbit.url,
        DLQ_BRIDGE_RABBITMQ_QUEUE: queue.name,
        DLQ_BRIDGE_RABBITMQ_PREFETCH: '64',
        DLQ_BRIDGE_RABBITMQ_STRIP_PREFIX: queue.prefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

async function stopped(child: ChildProcess, signal: NodeJS.Signals): Promise<number | NodeJS.Signals | null> {
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, sig) => resolve(sig ?? code)),
  );
  child.kill(signal);
  return exited;
}

describe('dlq bridge rabbitmq under SIGKILL', () => {
  it('ends with exactly one workflow per message after two kills mid-stream', async () => {
    const startedAt = Date.now();
    const ids = Array.from({ length: TOTAL }, (_, i) => `c-${run}-${i}`);
    for (const [i, id] of ids.entries())
      rabbit.channel.publish(
        rabbit.exchange,
        `${queue.prefix}.${topic}`,
        Buffer.from(JSON.stringify({ i })),
        {
          messageId: id,
          persistent: true,
        },
      );
    await rabbit.channel.waitForConfirms();
    assert.equal(await rabbit.ready(queue.name), TOTAL);
    for (const killBelow of [1500, 700]) {
      bridge = startBridge();
      // Ready counts what is neither delivered nor acked: with a prefetch of 64, at most 64 more are unacked.
      await waitFor(
        `fewer than ${killBelow} messages ready`,
        async () => ((await rabbit.ready(queue.name)) < killBelow ? true : undefined),
        60_000,
      );
      assert.equal(await stopped(bridge, 'SIGKILL'), 'SIGKILL');
    }
    const leftAfterKills = await waitFor('the killed connection to give its messages back', async () => {
      const { consumerCount, messageCount } = await rabbit.channel.checkQueue(queue.name);
      return consumerCount === 0 ? messageCount : undefined;
    });
    assert.ok(leftAfterKills > 0, 'the kills came mid-stream');
    bridge = startBridge();
    await waitFor(
      'every message started',
      async () =>
        (await env.client.workflow.count(`DlqTopic = '${topic}'`)).count === TOTAL ? true : undefined,
      120_000,
    );
    await waitFor('the queue to empty', async () =>
      (await rabbit.ready(queue.name)) === 0 ? true : undefined,
    );
    assert.equal(await stopped(bridge, 'SIGTERM'), 0, 'SIGTERM drains and exits 0');
    // The bridge's channel is closed: anything it had not acked would be ready again.
    assert.equal(await rabbit.ready(queue.name), 0, 'every message acked');
    await assertExactlyOnePerMessage({ client: env.client, topic, ids, runsByKey });
    process.stdout.write(
      `# 2000 messages, two SIGKILLs (${leftAfterKills} left after them), done in ${Date.now() - startedAt} ms\n`,
    );
  });
});
