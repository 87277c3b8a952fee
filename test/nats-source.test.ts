/**
 * The NATS JetStream source on the real NATS server (127.0.0.1:4222, or NATS_URL) and the suite's real
 * Temporal server: a JetStream message becomes a workflow and is acked; a failing one parks; each kind of bad
 * input parks as `validation` on `dlq.source-rejected` with its reason and raw body and is acked; a lost ack's
 * redelivery starts nothing twice; a start that fails is not acked and comes back after its delay; at most
 * `maxInFlight` starts run at once; a shutdown acks nothing it did not start. Each test has its own stream
 * (deleted afterwards).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Client } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { PermanentError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { MIN_REJECT_BYTES, runSource, sourceEnvelope, SourceStoppedError } from '../src/connectors/source';
import type {
  RunSourceOptions,
  Source,
  SourceCounts,
  SourceMessage,
  SourceOutcome,
} from '../src/connectors/source';
import { natsSource, streamSequenceId, stripSubjectPrefix } from '../src/connectors/nats';
import { toEnvelope } from '../src/client/publish';
import { freePort } from '../src/ops/dev-server';
import { SOURCE_REJECT_REASONS, SOURCE_REJECTS_TOPIC } from '../src/contract/source-rejects';
import type { SourceRejectPayload } from '../src/contract/source-rejects';
import { openNats, sendToStream } from './support/nats';
import type { NatsFixture } from './support/nats';

let env: TestEnv;
let nats: NatsFixture;
const run = uid();
const okTopic = `nats-ok-${run}`;
const failTopic = `nats-fail-${run}`;

before(async () => {
  nats = await openNats();
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
  await nats?.close();
});

/** Runs the bridge until `done` holds (checked after each settled message), then shuts it down. */
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

describe('NATS JetStream source', () => {
  it('starts a workflow per message, acks it, and a failing one parks', async () => {
    const stream = await nats.stream(`e2e_${run}`);
    const withId = await sendToStream(
      nats,
      `${stream.prefix}.${okTopic}`,
      { order: 1 },
      { 'Nats-Msg-Id': 'o-1' },
    );
    const plain = await sendToStream(nats, `${stream.prefix}.${failTopic}`, { order: 2 });
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    const counts = await bridge(source, (c) => c.started === 2);
    assert.deepEqual(counts, { started: 2, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 });

    const ok = await waitForStatus(env.client, messageWorkflowId(okTopic, 'o-1'), 'succeeded');
    assert.deepEqual(ok.envelope.payload, { order: 1 });
    assert.equal(ok.envelope.headers['Nats-Msg-Id'], 'o-1');
    assert.equal(ok.envelope.source, `nats:${stream.name}/${withId} ${stream.prefix}.${okTopic}`);
    const failed = await waitForStatus(
      env.client,
      messageWorkflowId(failTopic, streamSequenceId(stream.name, plain)),
      'dead',
    );
    assert.equal(failed.deadLetter?.reason, 'UNKNOWN_CUSTOMER');
    assert.equal(failed.deadLetter?.errorClass, 'permanent');
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('parks each kind of bad input as validation with its reason and raw body, and acks it', async () => {
    const stream = await nats.stream(`bad_${run}`);
    const big = JSON.stringify({ blob: 'x'.repeat(3000) });
    const cases: Array<{ reason: string; subject: string; body: string; headers: Record<string, string> }> = [
      { reason: SOURCE_REJECT_REASONS.notJson, subject: okTopic, body: '{"not json', headers: {} },
      {
        reason: SOURCE_REJECT_REASONS.badId,
        subject: okTopic,
        body: '{"a":1}',
        headers: { 'Nats-Msg-Id': 'an id with spaces' },
      },
      { reason: SOURCE_REJECT_REASONS.tooLarge, subject: okTopic, body: big, headers: { trace: 't-9' } },
      { reason: SOURCE_REJECT_REASONS.badTopic, subject: 'bad$topic', body: '{"a":2}', headers: {} },
    ];
    const seqs: number[] = [];
    for (const c of cases)
      seqs.push(await sendToStream(nats, `${stream.prefix}.${c.subject}`, c.body, c.headers));
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    const counts = await bridge(source, (c) => c.rejected === cases.length, { maxPayloadBytes: 2000 });
    assert.deepEqual(counts, { started: 0, duplicate: 0, rejected: 4, 'retry-later': 0, ackFailures: 0 });

    for (const [i, c] of cases.entries()) {
      const workflowId = messageWorkflowId(SOURCE_REJECTS_TOPIC, streamSequenceId(stream.name, seqs[i]!));
      const state = await waitForStatus(env.client, workflowId, 'dead');
      assert.equal(state.deadLetter?.errorClass, 'validation', c.reason);
      assert.equal(state.deadLetter?.reason, c.reason);
      const payload = state.envelope.payload as SourceRejectPayload;
      assert.equal(payload.reason, c.reason);
      assert.equal(payload.origin, `nats:${stream.name}/${seqs[i]} ${stream.prefix}.${c.subject}`);
      assert.equal(payload.bodyBytes, Buffer.byteLength(c.body));
      assert.equal(payload.bodySha256, createHash('sha256').update(c.body).digest('hex'));
      const kept = Buffer.from(payload.body, 'base64').toString('utf8');
      assert.equal(kept, c.body.slice(0, payload.bodyKeptBytes));
      for (const [name, value] of Object.entries(c.headers)) assert.equal(payload.headers[name], value);
      if (c.reason === SOURCE_REJECT_REASONS.tooLarge) {
        assert.ok(payload.bodyKeptBytes > 0 && payload.bodyKeptBytes < payload.bodyBytes, 'body cut to fit');
      } else {
        assert.equal(payload.bodyKeptBytes, payload.bodyBytes, 'whole body kept');
      }
    }
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('starts nothing twice when an ack is lost and the message comes back', async () => {
    const stream = await nats.stream(`redeliver_${run}`);
    await sendToStream(nats, `${stream.prefix}.${okTopic}`, { n: 1 }, { 'Nats-Msg-Id': `r-${run}` });
    const real = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      ackWaitMs: 1000,
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    // The first delivery's ack never reaches the server: the broker redelivers after its ack wait.
    const losingFirstAck: Source = {
      name: real.name,
      close: () => real.close(),
      async *messages(signal) {
        for await (const m of real.messages(signal))
          yield m.deliveryCount === 1
            ? { ...m, ack: () => Promise.reject(new Error('ack lost on the way')) }
            : m;
      },
    };
    const deliveries: number[] = [];
    const lines: Array<{ level: number; msg: string; workflowId?: string }> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
          done();
        },
      }),
    );
    const counts = await bridge(losingFirstAck, (c) => c.duplicate === 1, {
      logger,
      onSettled: (_outcome, m) => deliveries.push(m.deliveryCount),
    });
    // A duplicate is never silent (a recreated stream reuses ids): it names the workflow that holds it.
    const duplicateLines = lines.filter((l) => l.msg.startsWith('Duplicate'));
    assert.equal(duplicateLines.length, 1, JSON.stringify(lines));
    assert.equal(duplicateLines[0]!.level, 30, 'info');
    assert.equal(duplicateLines[0]!.workflowId, messageWorkflowId(okTopic, `r-${run}`));
    assert.deepEqual(counts, { started: 1, duplicate: 1, rejected: 0, 'retry-later': 0, ackFailures: 1 });
    assert.deepEqual(deliveries, [1, 2]);
    const workflowId = messageWorkflowId(okTopic, `r-${run}`);
    await waitForStatus(env.client, workflowId, 'succeeded');
    const runs = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w);
    assert.equal(runs.length, 1, 'one execution');
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('does not ack a message whose start failed, and starts it on a later delivery', async () => {
    const stream = await nats.stream(`down_${run}`);
    await sendToStream(nats, `${stream.prefix}.${okTopic}`, { n: 2 }, { 'Nats-Msg-Id': `d-${run}` });
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
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    const seen: Array<{ outcome: string; delivery: number; at: number }> = [];
    const counts = await bridge(source, (c) => c.started === 1, {
      client,
      retryDelayMs: 300,
      onSettled: (outcome, m) => seen.push({ outcome, delivery: m.deliveryCount, at: Date.now() }),
    });
    assert.deepEqual(counts, { started: 1, duplicate: 0, rejected: 0, 'retry-later': 2, ackFailures: 0 });
    assert.deepEqual(
      seen.map((s) => [s.outcome, s.delivery]),
      [
        ['retry-later', 1],
        ['retry-later', 2],
        ['started', 3],
      ],
    );
    // The nak delays: 300 ms after the first failure, 600 ms after the second.
    assert.ok(seen[1]!.at - seen[0]!.at >= 250, `second delivery after ${seen[1]!.at - seen[0]!.at} ms`);
    assert.ok(seen[2]!.at - seen[1]!.at >= 550, `third delivery after ${seen[2]!.at - seen[1]!.at} ms`);
    await waitForStatus(env.client, messageWorkflowId(okTopic, `d-${run}`), 'succeeded');
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('keeps at most maxInFlight starts running, and a shutdown acks only what it started', async () => {
    const stream = await nats.stream(`flow_${run}`);
    const total = 40;
    for (let i = 0; i < total; i++)
      await sendToStream(nats, `${stream.prefix}.${okTopic}`, { i }, { 'Nats-Msg-Id': `f-${run}-${i}` });
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
    const open = () =>
      natsSource({
        servers: [nats.url],
        stream: stream.name,
        subject: `${stream.prefix}.>`,
        durable: 'bridge',
        pullBatch: 3,
        // What the first run pulled but never started comes back after this.
        ackWaitMs: 2000,
        topicFromSubject: stripSubjectPrefix(stream.prefix),
      });
    const ackedBy: Array<Set<string>> = [new Set(), new Set()];
    const settled = (r: number) => (outcome: SourceOutcome, m: SourceMessage) => {
      if (outcome === 'started' || outcome === 'duplicate')
        ackedBy[r]!.add(messageWorkflowId(okTopic, m.brokerId ?? ''));
    };
    // Shut down after 10 starts: what is in flight finishes and is acked, nothing else is.
    const first = await bridge(await open(), (c) => c.started >= 10, {
      client,
      maxInFlight: 3,
      onSettled: settled(0),
    });
    assert.ok(stats.max <= 3 && stats.max >= 2, `at most 3 starts at once (saw ${stats.max})`);
    assert.ok(first.started >= 10 && first.started < total, `first run started ${first.started}`);
    assert.deepEqual([...ackedBy[0]!].sort(), [...startedBy[0]!].sort(), 'acked exactly what it started');
    runIndex = 1;
    const all = new Set(ackedBy[0]);
    const second = await bridge(
      await open(),
      () => {
        for (const id of ackedBy[1]!) all.add(id);
        return all.size === total;
      },
      { client, maxInFlight: 3, onSettled: settled(1) },
    );
    assert.equal(first.started + second.started, total, JSON.stringify({ first, second }));
    for (let i = 0; i < total; i++)
      await env.client.workflow.getHandle(messageWorkflowId(okTopic, `f-${run}-${i}`)).describe();
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('parks JSON nested deeper than the envelope allows, and a reject whose headers would not fit', async () => {
    const stream = await nats.stream(`deep_${run}`);
    let deep = '1';
    for (let i = 0; i < 70; i++) deep = `{"a":${deep}}`;
    const deepSeq = await sendToStream(nats, `${stream.prefix}.${okTopic}`, deep);
    // 15 headers of 3 900 characters (NATS allows 64 KiB of headers): far over this run's 2 000-byte limit.
    const bulky = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`h-${i}`, 'h'.repeat(3900)]));
    const bulkySeq = await sendToStream(nats, `${stream.prefix}.${okTopic}`, '{"not json', bulky);
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    const counts = await bridge(source, (c) => c.rejected === 2, { maxPayloadBytes: 2000 });
    assert.deepEqual(counts, { started: 0, duplicate: 0, rejected: 2, 'retry-later': 0, ackFailures: 0 });
    const deepState = await waitForStatus(
      env.client,
      messageWorkflowId(SOURCE_REJECTS_TOPIC, streamSequenceId(stream.name, deepSeq)),
      'dead',
    );
    assert.equal(deepState.deadLetter?.reason, SOURCE_REJECT_REASONS.notPlainJson);
    assert.equal((deepState.envelope.payload as SourceRejectPayload).bodyKeptBytes, deep.length);
    const bulkyState = await waitForStatus(
      env.client,
      messageWorkflowId(SOURCE_REJECTS_TOPIC, streamSequenceId(stream.name, bulkySeq)),
      'dead',
    );
    assert.equal(bulkyState.deadLetter?.reason, SOURCE_REJECT_REASONS.notJson);
    const bulkyPayload = bulkyState.envelope.payload as SourceRejectPayload;
    assert.equal(bulkyPayload.bodySha256, createHash('sha256').update('{"not json').digest('hex'));
    assert.ok(Object.keys(bulkyPayload.headers).length < 15, 'headers cut to the budget');
    assert.deepEqual(await stream.unsettled('bridge'), { pending: 0, ackPending: 0 });
  });

  it('falls back to a minimal reject that publish accepts whatever the message carries', () => {
    const huge = 'o'.repeat(50_000);
    const input = sourceEnvelope(
      {
        body: new TextEncoder().encode('not json'),
        headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`h${i}`, 'v'.repeat(4000)])),
        topic: `bad topic ${huge}`,
        brokerId: undefined,
        fallbackId: 'S:1',
        origin: `nats:S/1 ${huge}`,
        deliveryCount: 1,
        ack: () => Promise.resolve(),
        retryLater: () => undefined,
      },
      10,
    );
    const payload = input.payload as SourceRejectPayload;
    assert.equal(payload.minimal, true);
    assert.equal(payload.reason, SOURCE_REJECT_REASONS.badTopic);
    // The same check publish makes: it must not refuse the reject (or the message would be given back forever).
    assert.doesNotThrow(() => toEnvelope(input, MIN_REJECT_BYTES));
  });

  it('never lets a broker client that throws on a closed connection escape a timer; the end is an error', async () => {
    const stream = await nats.stream(`closed_${run}`);
    await sendToStream(nats, `${stream.prefix}.${okTopic}`, { n: 5 }, { 'Nats-Msg-Id': `cl-${run}` });
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    // nats.js 3.4.0 drops a `working()`/`nak()` on a closed connection silently (checked here), but a client
    // may throw there (amqplib's channel does, "Channel closed"): settle the real messages through a client
    // that throws once the connection is closed.
    let closed = false;
    const throwingWhenClosed: Source = {
      name: source.name,
      close: () => source.close(),
      async *messages(signal) {
        for await (const m of source.messages(signal))
          yield {
            ...m,
            inProgress: () => {
              if (closed) throw new Error('CONNECTION_CLOSED');
              m.inProgress?.();
            },
            retryLater: (delayMs) => {
              if (closed) throw new Error('CONNECTION_CLOSED');
              m.retryLater(delayMs);
            },
          };
      },
    };
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    // The start closes the NATS connection, stays in flight while in-progress notices are due, then fails:
    // both the notice (`working()`) and the give-back (`nak()`) meet a closed connection.
    const closing: WorkflowClientInterceptor = {
      async startWithDetails() {
        await source.close();
        closed = true;
        await new Promise((r) => setTimeout(r, 300));
        throw Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
      },
    };
    const client = new Client({
      connection: env.connection,
      namespace: env.client.options.namespace,
      interceptors: { workflow: [closing] },
    });
    try {
      await assert.rejects(
        runSource(client, throwingWhenClosed, { taskQueue: env.taskQueue, inProgressEveryMs: 50 }),
        (err: Error) => err instanceof SourceStoppedError && /consumer stopped delivering/.test(err.message),
      );
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(uncaught.map(String), []);
  });

  it('throws SourceStoppedError when the client gives up reconnecting (never a quiet end)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlq-nats-'));
    const port = await freePort();
    const server = spawn(
      '/usr/sbin/nats-server',
      ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
      {
        stdio: 'ignore',
      },
    );
    try {
      const url = `127.0.0.1:${port}`;
      const nc = await waitFor('our own nats-server', () =>
        natsConnect({ servers: [url] }).catch(() => undefined),
      );
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'GONE', subjects: ['gone.>'], storage: StorageType.Memory });
      await nc.close();
      const source = await natsSource({
        servers: [url],
        stream: 'GONE',
        subject: 'gone.>',
        maxReconnectAttempts: 2,
        reconnectTimeWaitMs: 100,
      });
      const running = runSource(env.client, source, { taskQueue: env.taskQueue });
      await new Promise((r) => setTimeout(r, 300));
      server.kill('SIGKILL');
      await assert.rejects(running, (err: Error) => {
        assert.ok(err instanceof SourceStoppedError, String(err));
        assert.match(err.message, /NATS stream GONE: .*connection closed/);
        return true;
      });
      await source.close().catch(() => undefined);
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dlq bridge nats has --help, refuses bad flags (exit 1) and an unreachable NATS (exit 2)', async () => {
    const cliEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue };
    const help = await runCliCaptured(cliEnv, ['bridge', 'nats', '--help']);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /Nats-Msg-Id/);
    const bad = await runCliCaptured(cliEnv, [
      'bridge',
      'nats',
      '--stream',
      'has.dot',
      '--subject',
      'a.>',
      '--max-in-flight',
      '0',
      '--servers',
      'nohost',
    ]);
    assert.equal(bad.code, 1, bad.err);
    for (const flag of ['--servers', '--stream', '--max-in-flight']) assert.match(bad.err, new RegExp(flag));
    const down = await runCliCaptured(cliEnv, [
      'bridge',
      'nats',
      '--stream',
      'S',
      '--subject',
      'a.>',
      '--servers',
      '127.0.0.1:1',
    ]);
    assert.equal(down.code, 2, down.err);
    assert.match(down.err, /NATS 127\.0\.0\.1:1/);
  });
});
