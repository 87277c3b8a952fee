/**
 * The RabbitMQ source on the real RabbitMQ (127.0.0.1:5672, or RABBITMQ_URL) and the suite's real Temporal
 * server: a message becomes a workflow and is acked only after the start; a failing one parks; each kind of bad
 * input parks as `validation` on `dlq.source-rejected` with its reason and raw body and is acked; a redelivery
 * (with or without `message-id`) starts nothing twice; a failed start is requeued and started later; at most
 * `prefetch` starts run at once and a shutdown acks only what it started; a deleted queue ends the stream with
 * `SourceStoppedError` and `dlq bridge rabbitmq` exits 2. Each test has its own queue (deleted afterwards).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { PermanentError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { runSource, SourceStoppedError, stripTopicPrefix } from '../src/connectors/source';
import type { RunSourceOptions, Source, SourceCounts } from '../src/connectors/source';
import { rabbitmqFallbackId, rabbitmqSource } from '../src/connectors/rabbitmq';
import { SOURCE_REJECT_REASONS, SOURCE_REJECTS_TOPIC } from '../src/contract/source-rejects';
import type { SourceRejectPayload } from '../src/contract/source-rejects';
import { NATS_BRIDGE_FLAGS } from '../src/cli/commands/bridge';
import { RABBITMQ_BRIDGE_FLAGS } from '../src/cli/commands/bridge-rabbitmq';
import { openRabbit } from './support/rabbitmq';
import type { RabbitFixture, TestQueue } from './support/rabbitmq';

let env: TestEnv;
let rabbit: RabbitFixture;
const run = uid();
const okTopic = `amqp-ok-${run}`;
const failTopic = `amqp-fail-${run}`;

before(async () => {
  rabbit = await openRabbit();
  env = await openTestEnv();
  await env.startWorker([
    defineHandler({ topic: okTopic, handle: () => 'ok' }),
    defineHandler({
      topic: failTopic,
      handle: () => {
        throw new PermanentError('no such customer', { reason: 'UNKNOWN_CUSTOMER' });
      },
    }),
  ]);
});
after(async () => {
  await env?.close();
  await rabbit?.close();
});

const open = (queue: TestQueue, prefetch = 64) =>
  rabbitmqSource({
    url: rabbit.url,
    queue: queue.name,
    prefetch,
    topicFromRoutingKey: stripTopicPrefix(queue.prefix),
  });

/** Runs the source until `done` holds (checked after each settled message), then shuts it down. */
async function bridge(
  source: Source,
  done: (counts: SourceCounts) => boolean,
  options: RunSourceOptions & { client?: Client } = {},
): Promise<SourceCounts> {
  const stop = new AbortController();
  const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
  const running = runSource(options.client ?? env.client, source, {
    taskQueue: env.taskQueue,
    ...options,
    signal: stop.signal,
    onSettled: (outcome, message, details) => {
      live[outcome]++;
      options.onSettled?.(outcome, message, details);
      if (done(live)) stop.abort();
    },
  });
  const timer = setTimeout(() => stop.abort(), 60_000);
  try {
    return await running;
  } finally {
    clearTimeout(timer);
    await source.close();
  }
}

/** Every message of the queue acked: none ready once the consumer's channel is closed. */
async function assertDrained(queue: TestQueue): Promise<void> {
  assert.equal(await rabbit.ready(queue.name), 0, 'nothing left in the queue');
}

describe('RabbitMQ source', () => {
  it('starts a workflow per message, acks it after the start, and a failing one parks', async () => {
    const queue = await rabbit.queue('e2e');
    await rabbit.send(
      `${queue.prefix}.${okTopic}`,
      { order: 1 },
      { messageId: `o-${run}`, correlationId: 'corr-1', headers: { trace: 't-1', attempt: 3 } },
    );
    await rabbit.send(`${queue.prefix}.${failTopic}`, { order: 2 }, { timestamp: 1_700_000_000 });
    const counts = await bridge(await open(queue), (c) => c.started === 2);
    assert.deepEqual(counts, { started: 2, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 });

    const ok = await waitForStatus(env.client, messageWorkflowId(okTopic, `o-${run}`), 'succeeded');
    assert.deepEqual(ok.envelope.payload, { order: 1 });
    assert.equal(ok.envelope.headers.trace, 't-1');
    assert.equal(ok.envelope.headers.attempt, '3');
    assert.equal(ok.envelope.headers['amqp-correlation-id'], 'corr-1');
    assert.equal(ok.envelope.headers['amqp-message-id'], `o-${run}`);
    assert.equal(ok.envelope.source, `rabbitmq:${queue.name} ${rabbit.exchange}/${queue.prefix}.${okTopic}`);
    const fallback = rabbitmqFallbackId(
      queue.name,
      rabbit.exchange,
      `${queue.prefix}.${failTopic}`,
      1_700_000_000,
      Buffer.from(JSON.stringify({ order: 2 })),
    );
    const failed = await waitForStatus(env.client, messageWorkflowId(failTopic, fallback), 'dead');
    assert.equal(failed.deadLetter?.reason, 'UNKNOWN_CUSTOMER');
    assert.equal(failed.deadLetter?.errorClass, 'permanent');
    await assertDrained(queue);
  });

  it('parks each kind of bad input as validation with its reason and raw body, and acks it', async () => {
    const queue = await rabbit.queue('bad');
    let deep = '1';
    for (let i = 0; i < 70; i++) deep = `[${deep}]`;
    const cases: Array<{ reason: string; topic: string; body: string; id: string | undefined }> = [
      { reason: SOURCE_REJECT_REASONS.notJson, topic: okTopic, body: '{"not json', id: `nj-${run}` },
      { reason: SOURCE_REJECT_REASONS.badId, topic: okTopic, body: '{"a":1}', id: 'an id with spaces' },
      {
        reason: SOURCE_REJECT_REASONS.tooLarge,
        topic: okTopic,
        body: JSON.stringify({ blob: 'x'.repeat(3000) }),
        id: `tl-${run}`,
      },
      { reason: SOURCE_REJECT_REASONS.badTopic, topic: 'bad$topic', body: '{"a":2}', id: `bt-${run}` },
      { reason: SOURCE_REJECT_REASONS.notPlainJson, topic: okTopic, body: deep, id: undefined },
    ];
    for (const c of cases)
      await rabbit.send(`${queue.prefix}.${c.topic}`, c.body, c.id ? { messageId: c.id } : {});
    const counts = await bridge(await open(queue), (c) => c.rejected === cases.length, {
      maxPayloadBytes: 2000,
    });
    assert.deepEqual(counts, {
      started: 0,
      duplicate: 0,
      rejected: cases.length,
      'retry-later': 0,
      ackFailures: 0,
    });
    for (const c of cases) {
      const routingKey = `${queue.prefix}.${c.topic}`;
      const fallback = rabbitmqFallbackId(
        queue.name,
        rabbit.exchange,
        routingKey,
        undefined,
        Buffer.from(c.body),
      );
      const state = await waitForStatus(
        env.client,
        messageWorkflowId(SOURCE_REJECTS_TOPIC, fallback),
        'dead',
      );
      assert.equal(state.deadLetter?.errorClass, 'validation', c.reason);
      assert.equal(state.deadLetter?.reason, c.reason);
      const payload = state.envelope.payload as SourceRejectPayload;
      assert.equal(payload.reason, c.reason);
      assert.equal(payload.origin, `rabbitmq:${queue.name} ${rabbit.exchange}/${routingKey}`);
      assert.equal(payload.bodyBytes, Buffer.byteLength(c.body));
      assert.equal(payload.bodySha256, createHash('sha256').update(c.body).digest('hex'));
      assert.equal(
        Buffer.from(payload.body, 'base64').toString('utf8'),
        c.body.slice(0, payload.bodyKeptBytes),
      );
      if (c.reason === SOURCE_REJECT_REASONS.tooLarge)
        assert.ok(payload.bodyKeptBytes > 0 && payload.bodyKeptBytes < payload.bodyBytes, 'body cut to fit');
      else assert.equal(payload.bodyKeptBytes, payload.bodyBytes, 'whole body kept');
    }
    await assertDrained(queue);
  });

  it('starts nothing twice when a message comes back, with or without message-id', async () => {
    const queue = await rabbit.queue('redeliver');
    await rabbit.send(`${queue.prefix}.${okTopic}`, { n: 1 }, { messageId: `r-${run}` });
    await rabbit.send(`${queue.prefix}.${okTopic}`, { n: 2 }, { timestamp: 1_700_000_123 });
    const real = await open(queue);
    // The first delivery's ack is lost: the message goes back to the queue and is delivered again.
    const losingFirstAck: Source = {
      name: real.name,
      close: () => real.close(),
      async *messages(signal) {
        for await (const m of real.messages(signal))
          yield m.deliveryCount === 1
            ? {
                ...m,
                ack: () => {
                  m.retryLater(0);
                  return Promise.reject(new Error('ack lost on the way'));
                },
              }
            : m;
      },
    };
    const counts = await bridge(losingFirstAck, (c) => c.duplicate === 2);
    assert.deepEqual(counts, { started: 2, duplicate: 2, rejected: 0, 'retry-later': 0, ackFailures: 2 });
    const fallback = rabbitmqFallbackId(
      queue.name,
      rabbit.exchange,
      `${queue.prefix}.${okTopic}`,
      1_700_000_123,
      Buffer.from(JSON.stringify({ n: 2 })),
    );
    for (const id of [`r-${run}`, fallback]) {
      const workflowId = messageWorkflowId(okTopic, id);
      await waitForStatus(env.client, workflowId, 'succeeded');
      const runs = [];
      for await (const w of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w);
      assert.equal(runs.length, 1, `one execution of ${id}`);
    }
    await assertDrained(queue);
  });

  it('requeues a message whose start failed, and starts it on a later delivery', async () => {
    const queue = await rabbit.queue('down');
    await rabbit.send(`${queue.prefix}.${okTopic}`, { n: 3 }, { messageId: `d-${run}` });
    let failures = 2;
    const unavailable: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        if (failures > 0) {
          failures--;
          throw Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
        }
        return next(input);
      },
    };
    const client = new Client({
      connection: env.connection,
      namespace: env.client.options.namespace,
      interceptors: { workflow: [unavailable] },
    });
    const seen: Array<[string, number]> = [];
    const counts = await bridge(await open(queue), (c) => c.started === 1, {
      client,
      retryDelayMs: 100,
      onSettled: (outcome, m) => seen.push([outcome, m.deliveryCount]),
    });
    assert.deepEqual(counts, { started: 1, duplicate: 0, rejected: 0, 'retry-later': 2, ackFailures: 0 });
    // Each redelivery is counted, so the delay before the next one grows.
    assert.deepEqual(seen, [
      ['retry-later', 1],
      ['retry-later', 2],
      ['started', 3],
    ]);
    await waitForStatus(env.client, messageWorkflowId(okTopic, `d-${run}`), 'succeeded');
    await assertDrained(queue);
  });

  it('keeps at most prefetch starts running, and a shutdown acks only what it started', async () => {
    const queue = await rabbit.queue('flow');
    const total = 30;
    for (let i = 0; i < total; i++)
      await rabbit.send(`${queue.prefix}.${okTopic}`, { i }, { messageId: `f-${run}-${i}` });
    const stats = { inFlight: 0, max: 0 };
    const startedBy: Array<Set<string>> = [new Set(), new Set()];
    let runIndex = 0;
    const slow: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        stats.inFlight++;
        stats.max = Math.max(stats.max, stats.inFlight);
        try {
          await new Promise((r) => setTimeout(r, 100));
          const started = await next(input);
          startedBy[runIndex]!.add(input.options.workflowId);
          return started;
        } finally {
          stats.inFlight--;
        }
      },
    };
    const client = new Client({
      connection: env.connection,
      namespace: env.client.options.namespace,
      interceptors: { workflow: [slow] },
    });
    const acked: Array<Set<string>> = [new Set(), new Set()];
    const onSettled = (r: number) => (outcome: string, _m: unknown, details: { workflowId?: string }) => {
      if ((outcome === 'started' || outcome === 'duplicate') && details.workflowId)
        acked[r]!.add(details.workflowId);
    };
    const first = await bridge(await open(queue, 3), (c) => c.started >= 10, {
      client,
      maxInFlight: 3,
      onSettled: onSettled(0),
    });
    assert.ok(stats.max <= 3 && stats.max >= 2, `at most 3 starts at once (saw ${stats.max})`);
    assert.ok(first.started >= 10 && first.started < total, `first run started ${first.started}`);
    assert.deepEqual([...acked[0]!].sort(), [...startedBy[0]!].sort(), 'acked exactly what it started');
    // The rest went back to the queue: nothing unstarted was acked.
    assert.equal(await rabbit.ready(queue.name), total - first.started);
    runIndex = 1;
    const second = await bridge(
      await open(queue, 3),
      (c) => c.started + c.duplicate === total - first.started,
      {
        client,
        maxInFlight: 3,
        onSettled: onSettled(1),
      },
    );
    assert.equal(first.started + second.started, total, JSON.stringify({ first, second }));
    for (let i = 0; i < total; i++)
      await env.client.workflow.getHandle(messageWorkflowId(okTopic, `f-${run}-${i}`)).describe();
    await assertDrained(queue);
  });

  it('lets RabbitMQ deliver no more than the prefetch ahead of the starts', async () => {
    const queue = await rabbit.queue('prefetch');
    const total = 20;
    for (let i = 0; i < total; i++)
      await rabbit.send(`${queue.prefix}.${okTopic}`, { i }, { messageId: `p-${run}-${i}` });
    const source = await open(queue, 3);
    const stop = new AbortController();
    const messages = source.messages(stop.signal)[Symbol.asyncIterator]();
    // One message taken and never settled: the broker holds the rest back once 3 are unacked.
    await messages.next();
    await waitFor('the prefetch to fill', async () =>
      (await rabbit.ready(queue.name)) <= total - 3 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await rabbit.ready(queue.name), total - 3, 'exactly the prefetch is out');
    stop.abort();
    await messages.return?.(undefined);
    await source.close();
    assert.equal(await rabbit.ready(queue.name), total, 'closing gave every unacked message back');
  });

  it('ends the stream with SourceStoppedError when the broker cancels the consumer', async () => {
    const queue = await rabbit.queue('cancel');
    await rabbit.send(`${queue.prefix}.${okTopic}`, { n: 4 }, { messageId: `x-${run}` });
    const source = await open(queue);
    const running = runSource(env.client, source, {
      taskQueue: env.taskQueue,
      onSettled: () => void rabbit.channel.deleteQueue(queue.name),
    });
    await assert.rejects(running, (err: Error) => {
      assert.ok(err instanceof SourceStoppedError, String(err));
      assert.match(err.message, /consumer cancelled by the broker/);
      return true;
    });
    await source.close();
  });
});

describe('dlq bridge rabbitmq', () => {
  const cliEnv = () => ({ TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue });

  it('has --help, refuses bad flags and variables (exit 1) and an unreachable broker (exit 2)', async () => {
    const help = await runCliCaptured(cliEnv(), ['bridge', 'rabbitmq', '--help']);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /message-id/);
    const bad = await runCliCaptured({ ...cliEnv(), DLQ_BRIDGE_RABBITMQ_PREFETCH: '0' }, [
      'bridge',
      'rabbitmq',
      '--url',
      'http://nope',
    ]);
    assert.equal(bad.code, 1, bad.err);
    assert.match(bad.err, /--url \(DLQ_BRIDGE_RABBITMQ_URL\): must be an amqp/);
    assert.match(bad.err, /--queue \(DLQ_BRIDGE_RABBITMQ_QUEUE\): is required/);
    assert.match(bad.err, /--prefetch \(DLQ_BRIDGE_RABBITMQ_PREFETCH\): must be at least 1/);
    // The variables alone configure it; a flag wins over its variable (the bad URL variable is not used).
    const down = await runCliCaptured(
      { ...cliEnv(), DLQ_BRIDGE_RABBITMQ_QUEUE: 'q', DLQ_BRIDGE_RABBITMQ_URL: 'not a url' },
      ['bridge', 'rabbitmq', '--url', 'amqp://guest:secret@127.0.0.1:1'],
    );
    assert.equal(down.code, 2, down.err);
    assert.match(down.err, /RabbitMQ amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1 queue q/);
    assert.doesNotMatch(down.err, /secret/);
  });

  it('exits 2 with a clear line, not 0, when its queue is deleted under it', async () => {
    const queue = await rabbit.queue('gone');
    const bridging = runCliCaptured(
      { ...cliEnv(), DLQ_BRIDGE_RABBITMQ_URL: rabbit.url, DLQ_BRIDGE_RABBITMQ_QUEUE: queue.name },
      ['bridge', 'rabbitmq', '--progress-every', '0'],
    );
    await waitFor('the bridge to consume', async () => {
      const { consumerCount } = await rabbit.channel.checkQueue(queue.name);
      return consumerCount > 0 ? true : undefined;
    });
    await rabbit.channel.deleteQueue(queue.name);
    const result = await bridging;
    assert.equal(result.code, 2, result.err);
    assert.match(result.err, /consumer cancelled by the broker/);
  });

  it('documents every DLQ_BRIDGE_* variable in the README', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const names = [...NATS_BRIDGE_FLAGS, ...RABBITMQ_BRIDGE_FLAGS].map((f) => f.env);
    assert.deepEqual(
      names.filter((name) => !readme.includes(`\`${name}\``)),
      [],
    );
  });
});
