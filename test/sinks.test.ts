/**
 * Dead letters mirrored out (policy revision 5) on the real brokers: NATS JetStream (127.0.0.1:4222, or
 * NATS_URL) and PostgreSQL (127.0.0.1:5432 user postgres, or PG*), with the suite's Temporal server.
 *
 * - Seed 004's flow: a JetStream message whose stage fails permanently parks and shows on
 *   `<prefix><original subject>` with its origin headers, and in `dead_letters`; a retry with a repaired
 *   payload recovers it, and the resolution follows on the same subject and in the row.
 * - A discard: the resolution `discarded` with its reason, in both sinks.
 * - Sinks that are down (nothing listens on their ports) never block the message: it parks, the operator's
 *   retry recovers it, and the events end as `DlqUndelivered`, which a run of analytics counts.
 *
 * Every run has its own source stream, sink stream and subject prefix, database and task queues, all deleted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestEnv, recordHistory, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { discardSignal, retrySignal } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { DlqUndelivered } from '../src/contract/search-attributes';
import type { MirrorEvent } from '../src/contract/mirror';
import type { MessageOutcome } from '../src/contract/types';
import { runSource } from '../src/connectors/source';
import { natsSource, stripSubjectPrefix } from '../src/connectors/nats';
import { computeSnapshot } from '../src/analytics/snapshot';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import { evaluateRules } from '../src/contract/alert-rules';
import type { SinksOptions } from '../src/sinks';
import { createPostgresSink } from '../src/sinks/postgres-sink';
import { createNatsSink } from '../src/sinks/nats-sink';
import { mirrorEvent } from '../src/contract/mirror';
import type { MirrorEventKind, MirrorPolicy } from '../src/contract/mirror';
import type { DeadLetter } from '../src/contract/types';
import { openNats, sendToStream } from './support/nats';
import type { NatsFixture } from './support/nats';
import { openScratchDatabase } from './support/scratch-database';
import type { ScratchDatabase } from './support/scratch-database';

const run = uid();
const topic = `sinks-orders-${run}`;
const sinkPrefix = `dlqsink_${run}.`;
const sinkStream = `DLQSINK_${run}`;
let nats: NatsFixture;
let db: ScratchDatabase;
let env: TestEnv;
let downEnv: TestEnv;
let expiringEnv: TestEnv;

/** Fails for good unless the payload says it was fixed. */
const ordersHandler = (name: string) =>
  defineHandler({
    topic: name,
    handle: ({ payload }) => {
      if ((payload as { fixed?: boolean }).fixed) return 'shipped';
      throw new PermanentError('no such customer', { reason: 'UNKNOWN_CUSTOMER' });
    },
  });

interface SinkMessage {
  subject: string;
  headers: Record<string, string>;
  event: MirrorEvent;
}

/** Every message on the sink stream under `subject`, in stream order. */
async function sinkMessages(subject: string): Promise<SinkMessage[]> {
  const info = await nats.jsm.streams.info(sinkStream);
  const out: SinkMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(sinkStream, { seq }).catch(() => null);
    if (!m || m.subject !== subject) continue;
    const headers: Record<string, string> = {};
    if (m.header) for (const [name, values] of m.header) headers[name] = values.join(', ');
    out.push({ subject: m.subject, headers, event: m.json<MirrorEvent>() });
  }
  return out;
}

/** The workflow's result, or a failure saying what held it up (rather than a suite that hangs). */
async function resultOrHeldUp(handle: { result(): Promise<unknown> }, what: string): Promise<MessageOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const heldUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within 2 minutes`)), 120_000);
  });
  try {
    return (await Promise.race([handle.result(), heldUp])) as MessageOutcome;
  } finally {
    clearTimeout(timer);
  }
}

async function deadLetterRow(workflowId: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    'SELECT * FROM dead_letters WHERE workflow_id = $1',
    [workflowId],
  );
  return rows[0];
}

before(async () => {
  nats = await openNats();
  db = await openScratchDatabase('sinks');
  env = await openTestEnv();
  const sinks: SinksOptions = {
    nats: { servers: [nats.url], subjectPrefix: sinkPrefix, stream: sinkStream },
    postgres: { connectionString: db.url },
  };
  await env.startWorker([ordersHandler(topic), ordersHandler(`${topic}-direct`)], {}, { sinks });
  // Parked messages expire after 2 s here.
  expiringEnv = await openTestEnv();
  await expiringEnv.startWorker([ordersHandler(`${topic}-expiring`)], { DLQ_EXPIRE_AFTER: '2s' }, { sinks });
  // Sinks where nothing listens: connections are refused at once, so short budgets end the deliveries.
  downEnv = await openTestEnv();
  await downEnv.startWorker(
    [ordersHandler(`${topic}-down`)],
    {},
    {
      sinks: {
        nats: { servers: ['127.0.0.1:1'], subjectPrefix: sinkPrefix, stream: sinkStream, timeoutMs: 500 },
        postgres: { connectionString: 'postgres://postgres@127.0.0.1:1/none', timeoutMs: 500 },
        // A park event is retried for an hour: the retry below must not wait for it.
        parkBudgetMs: 3_600_000,
        resolutionBudgetMs: 3000,
      },
    },
  );
});

after(async () => {
  await env?.close();
  await downEnv?.close();
  await expiringEnv?.close();
  await nats?.jsm.streams.delete(sinkStream).catch(() => undefined);
  await nats?.close();
  await db?.drop();
});

describe('dead letters mirrored out', () => {
  it('a JetStream message that fails for good shows on DLQ.<subject> and in dead_letters; the repair follows', async () => {
    const stream = await nats.stream('sinks');
    const subject = `${stream.prefix}.${topic}`;
    const seq = await sendToStream(nats, subject, { customer: 'c-404' }, { 'Nats-Msg-Id': `order-${run}` });
    const source = await natsSource({
      servers: [nats.url],
      stream: stream.name,
      subject: `${stream.prefix}.>`,
      durable: 'bridge',
      topicFromSubject: stripSubjectPrefix(stream.prefix),
    });
    const stop = new AbortController();
    const bridged = runSource(env.client, source, {
      taskQueue: env.taskQueue,
      signal: stop.signal,
      onSettled: () => stop.abort(),
    });
    await bridged;
    await source.close();

    const workflowId = messageWorkflowId(topic, `order-${run}`);
    await waitForStatus(env.client, workflowId, 'dead');
    const dlqSubject = `${sinkPrefix}${subject}`;
    const [parked] = await waitFor('the park event on the DLQ subject', async () => {
      const found = await sinkMessages(dlqSubject);
      return found.length >= 1 ? found : undefined;
    });
    assert.ok(parked);
    assert.equal(parked.headers['X-Original-Subject'], subject);
    assert.equal(parked.headers['X-Stream-Seq'], String(seq));
    assert.equal(parked.headers['X-Original-Stream'], stream.name);
    assert.equal(parked.headers['X-DLQ-Reason'], 'UNKNOWN_CUSTOMER');
    assert.equal(parked.headers['X-DLQ-Class'], 'permanent');
    assert.equal(parked.headers['X-DLQ-Workflow-Id'], workflowId);
    assert.equal(parked.headers['X-DLQ-Event'], 'parked');
    assert.equal(parked.headers['Nats-Msg-Id'], `${workflowId}:1:parked`);
    assert.equal(parked.event.kind, 'parked');
    assert.equal(parked.event.deadLetter.messageId, `order-${run}`);
    assert.equal('payload' in parked.event.deadLetter, false, 'payloads are not mirrored unless asked');

    const row = await waitFor('the dead_letters row', () => deadLetterRow(workflowId));
    assert.equal(row.id, `order-${run}`);
    assert.equal(row.reason_code, 'UNKNOWN_CUSTOMER');
    assert.equal(row.error_class, 'permanent');
    assert.equal(row.destination, topic);
    assert.equal(row.original_subject, subject);
    assert.equal(Number(row.stream_seq), seq);
    assert.equal(row.park_count, 1);
    assert.ok((row.attempts as number) >= 1);
    assert.ok(row.first_failed_at instanceof Date && row.last_failed_at instanceof Date);
    assert.equal(row.resolved_at, null);
    assert.equal(row.resolution, null);

    const handle = env.client.workflow.getHandle(workflowId);
    await handle.signal(retrySignal, {
      payload: { customer: 'c-1', fixed: true },
      reason: 'customer id corrected',
      operator: 'alice',
    });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    // The workflow completes after its resolution events were delivered: no waiting needed here.
    const events = await sinkMessages(dlqSubject);
    assert.deepEqual(
      events.map((e) => e.headers['X-DLQ-Event']),
      ['parked', 'recovered'],
    );
    const recovered = events[1]!;
    assert.equal(recovered.headers['Nats-Msg-Id'], `${workflowId}:1:recovered`);
    assert.equal(recovered.headers['X-Original-Subject'], subject);
    assert.equal(recovered.event.resolution?.status, 'recovered');
    assert.equal(recovered.event.resolution?.operator, 'alice');
    const resolvedRow = (await deadLetterRow(workflowId))!;
    assert.equal(resolvedRow.resolution, 'recovered');
    assert.ok(resolvedRow.resolved_at instanceof Date);
    assert.equal(resolvedRow.resolved_by, 'alice');
    assert.equal(resolvedRow.resolution_reason, 'customer id corrected');
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(DlqUndelivered), undefined);
    await recordHistory(env.client, workflowId, 'mirrored-recovered');
  });

  it('a discard goes out as the resolution, with its reason, on the topic subject and in the table', async () => {
    const direct = `${topic}-direct`;
    const id = `direct-${run}`;
    await publish(
      env.client,
      { id, topic: direct, payload: { customer: 'c-404' } },
      { taskQueue: env.taskQueue },
    );
    const workflowId = messageWorkflowId(direct, id);
    await waitForStatus(env.client, workflowId, 'dead');
    const handle = env.client.workflow.getHandle(workflowId);
    await handle.signal(discardSignal, { reason: 'customer closed the account', operator: 'bob' });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'discarded');
    // Not from NATS: the subject is the prefix and the topic, and there is no stream sequence.
    const events = await sinkMessages(`${sinkPrefix}${direct}`);
    assert.deepEqual(
      events.filter((e) => e.event.workflowId === workflowId).map((e) => e.event.kind),
      ['parked', 'discarded'],
    );
    assert.equal(events[0]!.headers['X-Original-Subject'], direct);
    assert.equal(events[0]!.headers['X-Stream-Seq'], undefined);
    assert.equal(events[1]!.event.resolution?.reason, 'customer closed the account');
    const row = (await deadLetterRow(workflowId))!;
    assert.equal(row.resolution, 'discarded');
    assert.equal(row.resolution_reason, 'customer closed the account');
    assert.equal(row.resolved_by, 'bob');
    assert.ok(row.resolved_at instanceof Date);
    await recordHistory(env.client, workflowId, 'mirrored-discarded');
  });

  it('an expired message sends its expired resolution', async () => {
    const expiring = `${topic}-expiring`;
    const id = `expiring-${run}`;
    await publish(
      expiringEnv.client,
      { id, topic: expiring, payload: { customer: 'c-404' } },
      { taskQueue: expiringEnv.taskQueue },
    );
    const workflowId = messageWorkflowId(expiring, id);
    const outcome = await resultOrHeldUp(expiringEnv.client.workflow.getHandle(workflowId), 'the expiry');
    assert.equal(outcome.status, 'expired');
    const events = await sinkMessages(`${sinkPrefix}${expiring}`);
    assert.deepEqual(
      events.map((e) => e.event.kind),
      ['parked', 'expired'],
    );
    assert.match(events[1]!.event.resolution?.reason ?? '', /^not resolved by /);
    const row = (await deadLetterRow(workflowId))!;
    assert.equal(row.resolution, 'expired');
    assert.ok(row.resolved_at instanceof Date);
  });

  it('a cancelled parked message sends its cancelled resolution before it ends', async () => {
    const direct = `${topic}-direct`;
    const id = `cancel-${run}`;
    await publish(
      env.client,
      { id, topic: direct, payload: { customer: 'c-404' } },
      { taskQueue: env.taskQueue },
    );
    const workflowId = messageWorkflowId(direct, id);
    await waitForStatus(env.client, workflowId, 'dead');
    const handle = env.client.workflow.getHandle(workflowId);
    await handle.cancel();
    await assert.rejects(handle.result());
    const row = (await deadLetterRow(workflowId))!;
    assert.equal(row.resolution, 'cancelled');
    const events = await sinkMessages(`${sinkPrefix}${direct}`);
    assert.deepEqual(
      events.filter((e) => e.event.workflowId === workflowId).map((e) => e.event.kind),
      ['parked', 'cancelled'],
    );
    await recordHistory(env.client, workflowId, 'mirrored-cancelled');
  });

  it('sinks that are down never block: the retry recovers the message and analytics counts the undelivered events', async () => {
    const downTopic = `${topic}-down`;
    await publish(
      downEnv.client,
      { id: `down-${run}`, topic: downTopic, payload: { customer: 'c-404' } },
      { taskQueue: downEnv.taskQueue },
    );
    const workflowId = messageWorkflowId(downTopic, `down-${run}`);
    await waitForStatus(downEnv.client, workflowId, 'dead');
    const handle = downEnv.client.workflow.getHandle(workflowId);
    await handle.signal(retrySignal, { payload: { customer: 'c-1', fixed: true }, operator: 'carol' });
    // The park events are retried for an hour: a retry that waited for them would not end here.
    const outcome = await resultOrHeldUp(handle, 'the operator retry beside sinks that are down');
    assert.equal(outcome.status, 'recovered');
    const undelivered = (await handle.describe()).typedSearchAttributes.get(DlqUndelivered);
    assert.deepEqual(new Set(undelivered?.split(',')), new Set(['nats', 'postgres']));

    const config = analyticsConfigSchema.parse({ filter: `DlqTopic = '${downTopic}'` });
    const snapshot = await waitFor('analytics to count the undelivered message', async () => {
      const s = await computeSnapshot(downEnv.client, config);
      return s.undeliveredMirror === 1 ? s : undefined;
    });
    const alerts = evaluateRules({ snapshot, config });
    assert.deepEqual(
      alerts.filter((a) => a.rule === 'mirror-undelivered').map((a) => a.value),
      [1],
    );
    assert.equal(await deadLetterRow(workflowId), undefined, 'the healthy table never saw this message');
    await recordHistory(downEnv.client, workflowId, 'mirror-undelivered-recovered');
  });
});

describe('each sink is idempotent and ignores stale events', () => {
  const policy: MirrorPolicy = {
    sinks: ['nats', 'postgres'],
    alertWebhook: false,
    payloads: false,
    parkBudgetMs: 1000,
    resolutionBudgetMs: 1000,
  };
  const workflowId = `msg:sink-order-${run}:m-1`;
  const letter = (parkCount: number, reason: string): DeadLetter => ({
    workflowId,
    messageId: 'm-1',
    topic: `sink-order-${run}`,
    payload: {},
    payloadVersion: parkCount,
    errorClass: 'permanent',
    errorType: 'PermanentError',
    reason,
    message: 'failed',
    attempts: 1,
    firstFailureAt: '2026-11-30T00:00:00.000Z',
    lastFailureAt: '2026-11-30T00:00:00.000Z',
    parkedAt: '2026-11-30T00:00:00.000Z',
    stage: 'handle',
    fingerprint: 'f',
    headers: {},
    parkCount,
    expiresAt: '2026-12-14T00:00:00.000Z',
  });
  const event = (parkCount: number, kind: MirrorEventKind, reason = `R${parkCount}`) =>
    mirrorEvent(
      letter(parkCount, reason),
      kind,
      policy,
      kind === 'parked'
        ? {}
        : { resolution: { status: kind, at: '2026-11-30T01:00:00.000Z', reason: 'why' } },
    );

  it('PostgreSQL: a re-park replaces the row, a late event of an older parking changes nothing', async () => {
    const sink = createPostgresSink({ connectionString: db.url, table: 'ordering_check' });
    const row = async () =>
      (
        await db.pool.query<Record<string, unknown>>('SELECT * FROM ordering_check WHERE workflow_id = $1', [
          workflowId,
        ])
      ).rows;
    try {
      await sink.deliver(event(1, 'parked'));
      await sink.deliver(event(1, 'parked')); // a retried delivery
      assert.equal((await row()).length, 1);
      await sink.deliver(event(2, 'parked')); // parked again after a failed retry
      await sink.deliver(event(1, 'recovered', 'R1')); // a late resolution of the first parking
      await sink.deliver(event(1, 'parked')); // a late park event of the first parking
      let [current] = await row();
      assert.equal(current?.park_count, 2);
      assert.equal(current?.reason_code, 'R2');
      assert.equal(current?.resolution, null);
      await sink.deliver(event(2, 'discarded'));
      await sink.deliver(event(2, 'parked')); // its park event arriving after its resolution
      [current] = await row();
      assert.equal(current?.resolution, 'discarded');
      assert.equal(current?.resolution_reason, 'why');
      await sink.deliver(event(3, 'parked'));
      [current] = await row();
      assert.equal(current?.park_count, 3);
      assert.equal(current?.resolution, null, 'a new parking clears the resolution');
    } finally {
      await sink.close();
    }
  });

  it('NATS: a retried publish of the same event is stored once', async () => {
    const sink = createNatsSink({ servers: [nats.url], subjectPrefix: sinkPrefix, stream: sinkStream });
    try {
      await sink.deliver(event(1, 'parked'));
      await sink.deliver(event(1, 'parked'));
      await sink.deliver(event(1, 'expired'));
      const subject = `${sinkPrefix}sink-order-${run}`;
      assert.deepEqual(
        (await sinkMessages(subject)).map((m) => m.headers['Nats-Msg-Id']),
        [`${workflowId}:1:parked`, `${workflowId}:1:expired`],
      );
    } finally {
      await sink.close();
    }
  });
});
