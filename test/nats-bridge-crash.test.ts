/**
 * The bridge under crashes, on the real NATS server and the suite's Temporal server: 2 000 JetStream messages,
 * `dlq bridge nats` (a process of its own) SIGKILLed twice mid-stream and restarted, then stopped with
 * SIGTERM (it drains and exits 0). Afterwards every message has exactly one workflow, none is missing, and no
 * stage ran twice for the same idempotency key. The consumer's ack wait is 2 s so that what a killed bridge
 * held comes back quickly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { openTestEnv, uid, waitFor } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { openNats, sendToStream } from './support/nats';
import type { NatsFixture, TestStream } from './support/nats';
import { assertExactlyOnePerMessage } from './support/exactly-once';

const TOTAL = 2000;
const run = uid();
const topic = `nats-crash-${run}`;
const runsByKey = new Map<string, number>();
let env: TestEnv;
let nats: NatsFixture;
let stream: TestStream;
let bridge: ChildProcess | undefined;

before(async () => {
  nats = await openNats();
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
  stream = await nats.stream(`crash_${run}`);
  await nats.jsm.consumers.add(stream.name, {
    durable_name: 'bridge',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: `${stream.prefix}.>`,
    ack_wait: 2_000_000_000,
    max_deliver: -1,
    max_ack_pending: 1000,
  });
});
after(async () => {
  if (bridge && bridge.exitCode === null && bridge.signalCode === null) bridge.kill('SIGKILL');
  await env?.close();
  await nats?.close();
});

function startBridge(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      join(__dirname, '..', 'bin', 'dlq.js'),
      'bridge',
      'nats',
      '--servers',
      nats.url,
      '--stream',
      stream.name,
      '--subject',
      `${stream.prefix}.>`,
      '--durable',
      'bridge',
      '--strip-prefix',
      stream.prefix,
      '--max-in-flight',
      '64',
      '--progress-every',
      '0',
    ],
    {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: env.taskQueue,
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
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

/** Messages the consumer has not seen acked yet. */
async function unacked(): Promise<number> {
  const { pending, ackPending } = await stream.unsettled('bridge');
  return pending + ackPending;
}

describe('dlq bridge nats under SIGKILL', () => {
  it('ends with exactly one workflow per message after two kills mid-stream', async () => {
    const startedAt = Date.now();
    for (let i = 0; i < TOTAL; i += 200)
      await Promise.all(
        Array.from({ length: Math.min(200, TOTAL - i) }, (_, j) =>
          sendToStream(
            nats,
            `${stream.prefix}.${topic}`,
            { i: i + j },
            { 'Nats-Msg-Id': `c-${run}-${i + j}` },
          ),
        ),
      );
    for (const killBelow of [1500, 700]) {
      bridge = startBridge();
      await waitFor(
        `fewer than ${killBelow} messages unacked`,
        async () => ((await unacked()) < killBelow ? true : undefined),
        60_000,
      );
      assert.equal(await stopped(bridge, 'SIGKILL'), 'SIGKILL');
    }
    const leftAfterKills = await unacked();
    assert.ok(leftAfterKills > 0, 'the kills came mid-stream');
    bridge = startBridge();
    await waitFor('every message acked', async () => ((await unacked()) === 0 ? true : undefined), 120_000);
    assert.equal(await stopped(bridge, 'SIGTERM'), 0, 'SIGTERM drains and exits 0');

    await assertExactlyOnePerMessage({
      client: env.client,
      topic,
      ids: Array.from({ length: TOTAL }, (_, i) => `c-${run}-${i}`),
      runsByKey,
    });
    process.stdout.write(
      `# 2000 messages, two SIGKILLs (${leftAfterKills} left after them), done in ${Date.now() - startedAt} ms\n`,
    );
  });
});
