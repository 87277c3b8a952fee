/**
 * Analytics and alerts against a real server: messages seeded through the real lifecycle, the
 * `dlqAnalytics` workflow run by real schedules (paused, triggered with overlap SKIP so each run gets the
 * previous result), a local webhook receiver, and the `dlq config` / `dlq stats` commands.
 * Every schedule is scoped to this file's own topics, so other test files on the same server do not count.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { z } from 'zod';
import { openTestEnv, recordHistory, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError, TemporaryError } from '../src/contract/errors';
import { discardSignal, repairUpdate } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import type { AnalyticsConfigInput, AnalyticsResult } from '../src/contract/analytics';
import { ensureAnalyticsSchedule, getAnalyticsSettings } from '../src/analytics/schedule';
import { signBody } from '../src/analytics/webhook';
import { computeSnapshot, scopeQuery } from '../src/analytics/snapshot';
import { HOUR, DAY, parkedAtWindow } from '../src/analytics/trend';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import type { DlqSnapshot } from '../src/contract/analytics';
import { visibilityCountingClient } from './parked-fixtures';
import { startParked, terminateAll } from './support/parked-workflows';
import type { ParkedFixture } from './support/parked-workflows';

const T = uid();
const TOPIC = {
  orders: `an-orders-${T}`,
  pay: `an-pay-${T}`,
  gone: `an-gone-${T}`,
  flaky: `an-flaky-${T}`,
  temp: `an-temp-${T}`,
  alert: `an-alert-${T}`,
  hook: `an-hook-${T}`,
};
const SECRET = 'test-webhook-secret';
const healthy = new Set<string>();
const inList = (...topics: string[]) => `DlqTopic IN (${topics.map((t) => `'${t}'`).join(', ')})`;

let env: TestEnv;
const schedules: string[] = [];
/** Parked-looking fixtures (test/support/parked-workflows.ts), terminated at the end. */
const fixtures: string[] = [];
const NO_WORKER = `no-worker-${T}`;
const TIER = process.env.DLQ_TEST_TIER ?? 'dev';
const iso = (ms: number) => new Date(ms).toISOString();

// ---- a local webhook receiver --------------------------------------------------------------------
interface Received {
  body: string;
  signature: string | undefined;
  status: number;
}
const received: Received[] = [];
/** Status codes to answer next, in order; 200 when empty. */
let answers: number[] = [];
let alwaysFail = false;
let server: Server;
let webhookUrl = '';

function startReceiver(): Promise<void> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = alwaysFail ? 500 : (answers.shift() ?? 200);
      const sig = req.headers['x-dlq-signature'];
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: typeof sig === 'string' ? sig : undefined,
        status,
      });
      res.writeHead(status).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      resolve();
    }),
  );
}

// ---- handlers and seeding ------------------------------------------------------------------------
const handlers = [
  defineHandler({
    topic: TOPIC.orders,
    schema: z.object({ orderId: z.string() }),
    handle: () => 'ok',
  }),
  defineHandler({
    topic: TOPIC.pay,
    handle: () => {
      throw Object.assign(new Error('Unauthorized'), { status: 401 });
    },
  }),
  ...[TOPIC.gone, TOPIC.alert, TOPIC.hook].map((topic) =>
    defineHandler({
      topic,
      handle: () => {
        throw new PermanentError('customer 42 does not exist', { reason: 'HTTP_404' });
      },
    }),
  ),
  defineHandler({
    topic: TOPIC.flaky,
    handle: ({ envelope }) => {
      if (!healthy.has(envelope.id)) throw new PermanentError('upstream down', { reason: 'UPSTREAM_DOWN' });
      return 'ok';
    },
  }),
  defineHandler({
    topic: TOPIC.temp,
    retry: { initialInterval: '100ms', maximumAttempts: 2, maximumInterval: '100ms' },
    redrive: { enabled: false },
    handle: () => {
      throw new TemporaryError('busy, try later', { reason: 'HTTP_503' });
    },
  }),
];

async function park(topic: string, id: string, payload: unknown = { n: 1 }): Promise<string> {
  const result = await publish(env.client, { id, topic, payload }, { taskQueue: env.taskQueue });
  assert.equal(result.ok, true);
  const workflowId = messageWorkflowId(topic, id);
  await waitForStatus(env.client, workflowId, 'dead');
  return workflowId;
}

/** Waits until visibility has caught up: `query` counts exactly `n`. */
async function settle(query: string, n: number): Promise<void> {
  await waitFor(`${n} for ${query}`, async () => {
    const { count } = await env.client.workflow.count(`WorkflowType = 'processMessage' AND ${query}`);
    return count === n ? true : undefined;
  });
}

/**
 * Waits until the runs' window (now minus the default settle lag, 5 s) has passed every park made so far:
 * a run counts parks up to that window end, and the next one counts what came after.
 */
async function pastSettleLag(): Promise<void> {
  const parkedBy = Date.now();
  await waitFor('the settle lag to pass the last park', () =>
    Promise.resolve(Date.now() - SETTLE_LAG_MS > parkedBy + 1000 ? true : undefined),
  );
}
const SETTLE_LAG_MS = 5000;

// ---- schedules -----------------------------------------------------------------------------------
async function schedule(name: string, config: AnalyticsConfigInput): Promise<string> {
  const scheduleId = `dlq-analytics-test-${name}-${T}`;
  schedules.push(scheduleId);
  await ensureAnalyticsSchedule(env.client, { scheduleId, taskQueue: env.taskQueue, config, paused: true });
  return scheduleId;
}

/** Triggers one run (overlap SKIP, so it gets the previous result) and returns the workflow it started. */
async function triggerRun(scheduleId: string): Promise<{ workflowId: string; firstExecutionRunId: string }> {
  const handle = env.client.schedule.getHandle(scheduleId);
  const before = (await handle.describe()).info.numActionsTaken;
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  const action = await waitFor(`a run of ${scheduleId}`, async () => {
    const d = await handle.describe();
    return d.info.numActionsTaken > before ? d.info.recentActions.at(-1) : undefined;
  });
  assert.equal(action.action.type, 'startWorkflow');
  return action.action.workflow;
}

/** Triggers one run and returns its result. */
async function runOnce(scheduleId: string): Promise<AnalyticsResult> {
  const { workflowId, firstExecutionRunId } = await triggerRun(scheduleId);
  const result = (await env.client.workflow
    .getHandle(workflowId, firstExecutionRunId)
    .result()) as AnalyticsResult;
  // The first runs (with and without a previous result) become replay histories.
  if (recordedRuns < 4)
    await recordHistory(env.client, workflowId, `analytics-run-${++recordedRuns}`, firstExecutionRunId);
  return result;
}
let recordedRuns = 0;

// ---- CLI, in-process with captured output --------------------------------------------------------
async function dlq(scheduleId: string, ...argv: string[]) {
  return runCliCaptured(
    {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      DLQ_ANALYTICS_SCHEDULE_ID: scheduleId,
    },
    argv,
  );
}

before(async () => {
  await startReceiver();
  env = await openTestEnv();
  await env.startWorker(handlers, {
    DLQ_ALERT_WEBHOOK_URL: webhookUrl,
    DLQ_ALERT_WEBHOOK_SECRET: SECRET,
    DLQ_ALERT_WEBHOOK_TIMEOUT: '5s',
  });
});

after(async () => {
  await terminateAll(env.client, fixtures);
  for (const id of schedules)
    await env.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await env.close();
  await new Promise((r) => server.close(r));
});

describe('analytics from visibility', () => {
  const seeded = [TOPIC.orders, TOPIC.pay, TOPIC.gone, TOPIC.flaky, TOPIC.temp];
  let oldestId = '';

  before(async () => {
    // The oldest first, alone, so it is unambiguous.
    oldestId = await park(TOPIC.orders, 'o1', { bad: true });
    // DlqParkedAt holds whole seconds (a tie goes to the smaller workflow id): the others park a second later.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await Promise.all([
      park(TOPIC.orders, 'o2', { bad: true }),
      park(TOPIC.orders, 'o3', { bad: true }),
      park(TOPIC.pay, 'p1'),
      park(TOPIC.pay, 'p2'),
      park(TOPIC.gone, 'g1'),
      park(TOPIC.gone, 'g2'),
      park(TOPIC.flaky, 'f1'),
      park(TOPIC.flaky, 'f2'),
      park(TOPIC.flaky, 'f3'),
      park(TOPIC.temp, 't1'),
    ]);
    // Two recoveries, one retry that parks again, one discard.
    healthy.add('f1');
    healthy.add('f2');
    for (const id of ['f1', 'f2', 'f3']) {
      await env.client.workflow
        .getHandle(messageWorkflowId(TOPIC.flaky, id))
        .executeUpdate(repairUpdate, { args: [{ reason: 'upstream fixed', operator: 'test' }] });
    }
    await waitForStatus(env.client, messageWorkflowId(TOPIC.flaky, 'f1'), 'recovered');
    await waitForStatus(env.client, messageWorkflowId(TOPIC.flaky, 'f2'), 'recovered');
    await waitFor('f3 parked again', async () => {
      const d = await env.client.workflow.getHandle(messageWorkflowId(TOPIC.flaky, 'f3')).describe();
      const n = d.typedSearchAttributes.get({ name: 'DlqParkCount', type: 'INT' } as never) as
        number | undefined;
      return n === 2 ? true : undefined;
    });
    await env.client.workflow.getHandle(messageWorkflowId(TOPIC.orders, 'o3')).signal(discardSignal, {
      reason: 'test data',
    });
    await waitForStatus(env.client, messageWorkflowId(TOPIC.orders, 'o3'), 'discarded');
    await settle(`${inList(...seeded)} AND DlqStatus = 'dead'`, 8);
    await settle(`${inList(...seeded)} AND DlqStatus = 'recovered'`, 2);
    await settle(`${inList(...seeded)} AND DlqStatus = 'discarded'`, 1);
    await settle(`${inList(...seeded)} AND DlqStatus = 'dead' AND DlqParkCount > 1`, 1);
    await pastSettleLag();
  });

  it('reports exact totals, breakdowns, oldest, groups and re-queue success; inflow on the next run', async () => {
    const id = await schedule('counts', { topics: seeded, filter: inList(...seeded) });
    const first = await runOnce(id);
    const s = first.snapshot;
    assert.equal(s.parked.total, 8);
    assert.deepEqual(s.parked.byClass, {
      temporary: 1,
      permanent: 3,
      validation: 2,
      timeout: 0,
      security: 2,
    });
    assert.deepEqual(s.parked.byReason, {
      VALIDATION_ERROR: 2,
      HTTP_401: 2,
      HTTP_404: 2,
      RETRY_EXHAUSTED: 1,
      UPSTREAM_DOWN: 1,
    });
    assert.equal(s.parked.otherReasons, 0);
    assert.deepEqual(s.parked.byTopic, {
      [TOPIC.orders]: 2,
      [TOPIC.pay]: 2,
      [TOPIC.gone]: 2,
      [TOPIC.flaky]: 1,
      [TOPIC.temp]: 1,
    });
    assert.equal(s.parked.otherTopics, 0);
    assert.equal(s.parked.reParked, 1);
    assert.deepEqual(s.resolved, { recovered: 2, discarded: 1, expired: 0 });
    assert.equal(s.requeueSuccessRate, 2 / 3);
    assert.equal(s.averageAttempts, 9 / 8); // seven parked after 1 attempt, the temporary one after 2
    assert.deepEqual(s.attemptsDistribution, { '1': 7, '2': 1 });
    assert.equal(s.oldest?.workflowId, oldestId);
    assert.ok(s.oldest.ageMs >= 0);
    // Every message that ever parked has its last park in the last hour and day (11 = 8 + 2 + 1). A first
    // run knows no bucket: it counts them with the budget it has left (all of them here).
    const sumOf = (buckets: Array<{ parks: number | null }>) =>
      buckets.reduce((a, b) => a + (b.parks ?? Number.NaN), 0);
    assert.equal(sumOf(s.hourly), 11);
    assert.equal(s.hourly.length, 24);
    assert.equal(sumOf(s.daily), 11);
    assert.deepEqual([s.trend?.unknownHours, s.trend?.unknownDays], [0, 0]);
    assert.equal(s.inflow, null);
    assert.equal(first.growth, null);
    // The listing held every parked message: everything above came from it, exactly, within the budget.
    assert.deepEqual(s.listing, { listed: 8, complete: true });
    assert.deepEqual(s.coverage?.sampled, []);
    assert.deepEqual(s.coverage?.notCounted, []);
    assert.ok(s.serverCalls <= 20, `${s.serverCalls} visibility calls`);
    // Failure groups: one per topic here (same failure within a topic), counted exactly.
    const groups = Object.fromEntries(s.topGroups.map((g) => [g.topic, g]));
    assert.deepEqual(Object.fromEntries(Object.entries(groups).map(([t, g]) => [t, g.count])), {
      [TOPIC.orders]: 2,
      [TOPIC.pay]: 2,
      [TOPIC.gone]: 2,
      [TOPIC.flaky]: 1,
      [TOPIC.temp]: 1,
    });
    assert.equal(groups[TOPIC.pay]?.errorClass, 'security');
    assert.match(groups[TOPIC.gone]?.sampleMessageId ?? '', /^g[12]$/);
    assert.deepEqual(first.alerts.active, []);
    assert.match(first.summary, /8 parked \(security 2\)/);

    // One more park: the next run sees inflow 1 and growth +1.
    await park(TOPIC.gone, 'g3');
    await settle(`${inList(...seeded)} AND DlqStatus = 'dead'`, 9);
    await pastSettleLag();
    const second = await runOnce(id);
    // Inflow runs from the first run's window end to this one's; the trend adds it to the carried buckets,
    // so this run counts nothing else for it.
    assert.deepEqual(second.snapshot.inflow, {
      since: s.trend?.windowEnd,
      until: second.snapshot.trend?.windowEnd,
      parks: 1,
    });
    assert.equal(sumOf(second.snapshot.hourly), 12);
    assert.equal(sumOf(second.snapshot.daily), 12);
    assert.equal(second.snapshot.trend?.backfilled, 0);
    // One list page, four resolved/retrying counts, one or two inflow counts, and the count of messages with
    // undelivered mirror events (made, and 0: these topics have no sinks).
    assert.ok(second.snapshot.serverCalls <= 8, `${second.snapshot.serverCalls} visibility calls`);
    assert.equal(second.snapshot.undeliveredMirror, 0);
    assert.equal(second.growth, 1);
    assert.equal(second.snapshot.topGroups[0]?.topic, TOPIC.gone);
    assert.equal(second.snapshot.topGroups[0]?.count, 3);

    // `dlq stats --json` computes the same with the schedule's settings and last result.
    const stats = await dlq(id, 'stats', '--json');
    assert.equal(stats.code, 0, stats.err);
    const onDemand = JSON.parse(stats.out) as AnalyticsResult;
    assert.equal(onDemand.snapshot.parked.total, 9);
    assert.deepEqual(onDemand.snapshot.parked.byTopic, second.snapshot.parked.byTopic);
    // It carries the schedule's last trend, as the next scheduled run would.
    assert.equal(onDemand.snapshot.inflow?.since, second.snapshot.trend?.windowEnd);
    assert.equal(sumOf(onDemand.snapshot.hourly), 12);
    const table = await dlq(id, 'stats');
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /re-queue success rate\s*│?\s*66\.7%/);
  });
});

describe('alerts', () => {
  const scope = inList(TOPIC.alert);
  const bodies = () =>
    received.map((r) => JSON.parse(r.body) as { text: string; alerts: Array<{ id: string; kind: string }> });

  it('fire once with a signed webhook, are not re-sent inside the interval, and resolve', async () => {
    await Promise.all(['a1', 'a2', 'a3'].map((id) => park(TOPIC.alert, id)));
    await settle(`${scope} AND DlqStatus = 'dead'`, 3);
    const id = await schedule('lifecycle', { topics: [TOPIC.alert], filter: scope, parkedTotal: 2 });
    received.length = 0;

    const first = await runOnce(id);
    assert.deepEqual(
      first.alerts.notifications.map((n) => `${n.kind}:${n.id}`),
      ['fired:parked-total'],
    );
    assert.equal(first.alerts.webhook, 'delivered');
    assert.equal(received.length, 1);
    const [hit] = received;
    assert.equal(hit?.signature, signBody(hit?.body ?? '', SECRET));
    const body = bodies()[0]!;
    assert.match(body.text, /parked-total/);
    assert.match(body.text, /3 messages parked \(threshold 2\)/);
    assert.deepEqual(
      body.alerts.map((a) => `${a.kind}:${a.id}`),
      ['fired:parked-total'],
    );

    const second = await runOnce(id);
    assert.deepEqual(second.alerts.notifications, []);
    assert.deepEqual(
      second.alerts.active.map((a) => a.id),
      ['parked-total'],
    );
    assert.equal(received.length, 1, 'nothing re-sent inside the re-notify interval');

    for (const m of ['a1', 'a2']) {
      await env.client.workflow
        .getHandle(messageWorkflowId(TOPIC.alert, m))
        .signal(discardSignal, { reason: 'x' });
    }
    await settle(`${scope} AND DlqStatus = 'dead'`, 1);
    const third = await runOnce(id);
    assert.deepEqual(
      third.alerts.notifications.map((n) => `${n.kind}:${n.id}`),
      ['resolved:parked-total'],
    );
    assert.deepEqual(third.alerts.active, []);
    assert.equal(received.length, 2);
    assert.equal(bodies()[1]?.alerts[0]?.kind, 'resolved');
  });

  it('reaches a receiver that fails at first through Temporal retries; a sink that keeps failing is recorded', async () => {
    await park(TOPIC.hook, 'h1');
    const scopeHook = inList(TOPIC.hook);
    await settle(`${scopeHook} AND DlqStatus = 'dead'`, 1);

    const retried = await schedule('retry', { filter: scopeHook, parkedTotal: 0 });
    received.length = 0;
    answers = [503, 500];
    const ok = await runOnce(retried);
    assert.equal(ok.alerts.webhook, 'delivered');
    assert.deepEqual(
      received.map((r) => r.status),
      [503, 500, 200],
    );
    assert.equal(received[2]?.body, received[0]?.body, 'a retry sends the same body');
    assert.equal(received[2]?.signature, signBody(received[2]?.body ?? '', SECRET));

    const failing = await schedule('failing', { filter: scopeHook, parkedTotal: 0, webhookAttempts: 2 });
    received.length = 0;
    alwaysFail = true;
    const lost = await runOnce(failing);
    alwaysFail = false;
    assert.equal(lost.alerts.webhook, 'failed');
    assert.equal(received.length, 2);
    assert.deepEqual(
      lost.alerts.undelivered.map((n) => `${n.kind}:${n.id}`),
      ['fired:parked-total'],
    );
    assert.match(lost.alerts.deliveryError ?? '', /WebhookUnavailable/);
    // The next run sends what was not delivered (the alert itself is not fired again).
    const next = await runOnce(failing);
    assert.deepEqual(next.alerts.notifications, []);
    assert.equal(next.alerts.webhook, 'delivered');
    assert.deepEqual(next.alerts.undelivered, []);
    assert.deepEqual(
      (JSON.parse(received.at(-1)?.body ?? '{}') as { alerts: Array<{ id: string }> }).alerts.map(
        (a) => a.id,
      ),
      ['parked-total'],
    );
  });
});

describe('a failed run', () => {
  it("raises the analytics-failed alert on the next run, from the schedule's lastFailure", async () => {
    const id = await schedule('failed-run', { filter: inList(TOPIC.hook), parkedTotal: 1000 });
    const handle = env.client.schedule.getHandle(id);
    const setInput = (input: unknown) =>
      handle.update((prev) => {
        assert.equal(prev.action.type, 'startWorkflow');
        return { ...prev, action: { ...prev.action, args: [input] } };
      });
    // An operator edits the schedule's input by hand (Web UI or `temporal schedule update`) and breaks it.
    await setInput({ filter: inList(TOPIC.hook), parkedTotal: 'lots' });
    const { workflowId, firstExecutionRunId } = await triggerRun(id);
    await assert.rejects(
      env.client.workflow.getHandle(workflowId, firstExecutionRunId).result(),
      (err: Error) => /parkedTotal/.test(String((err.cause as Error | undefined)?.message)),
    );

    await setInput({ filter: inList(TOPIC.hook), parkedTotal: 1000 });
    const next = await runOnce(id);
    const failed = next.alerts.active.find((a) => a.id === 'analytics-failed');
    assert.ok(
      failed,
      `expected the analytics-failed alert, got ${next.alerts.active.map((a) => a.id).join(', ')}`,
    );
    assert.equal(failed.severity, 'critical');
    assert.match(failed.message, /ValidationError/);
    assert.match(failed.message, /parkedTotal/);
    // The run after that one has no failed predecessor: the alert resolves.
    const third = await runOnce(id);
    assert.equal(
      third.alerts.active.some((a) => a.id === 'analytics-failed'),
      false,
    );
  });
});

describe('settings', () => {
  it('dlq config set: a bad value changes nothing; a good one is used by the next run', async () => {
    const scopeHook = inList(TOPIC.hook);
    const id = await schedule('config', { filter: scopeHook });
    const before = await dlq(id, 'config', 'get', '--json');
    assert.equal(before.code, 0, before.err);

    for (const bad of [
      ['parkedTotal=abc'],
      ['oldestAge=soon'],
      ['interval=1s'],
      ['nope=1'],
      ['parkedTotal=5', 'topGroups=0'],
    ]) {
      const r = await dlq(id, 'config', 'set', ...bad);
      assert.equal(r.code, 1, `${bad.join(' ')} must fail`);
      assert.match(r.err, new RegExp(bad.at(-1)!.split('=')[0]!));
      assert.match(r.err, /nothing changed/);
    }
    const unchanged = await dlq(id, 'config', 'get', '--json');
    assert.equal(unchanged.out, before.out);

    const set = await dlq(id, 'config', 'set', 'parkedTotal=0', 'renotifyInterval=2h', 'interval=10m');
    assert.equal(set.code, 0, set.err);
    const settings = await getAnalyticsSettings(env.client, id);
    assert.equal(settings.interval, '10m');
    assert.equal(settings.config.parkedTotal, 0);
    const run = await runOnce(id);
    assert.equal(run.config.parkedTotal, 0);
    assert.deepEqual(
      run.alerts.active.map((a) => a.id),
      ['parked-total'],
    );
  });

  it('creating the schedule is idempotent and keeps what an operator changed', async () => {
    const scheduleId = `dlq-analytics-test-idem-${T}`;
    schedules.push(scheduleId);
    const first = await ensureAnalyticsSchedule(env.client, {
      scheduleId,
      taskQueue: env.taskQueue,
      topics: ['a'],
      paused: true,
    });
    assert.equal(first.created, true);
    assert.equal(first.settings.interval, '5m');
    const changed = await dlq(scheduleId, 'config', 'set', 'securityParked=3');
    assert.equal(changed.code, 0, changed.err);
    const second = await ensureAnalyticsSchedule(env.client, {
      scheduleId,
      taskQueue: env.taskQueue,
      topics: ['b'],
      paused: true,
    });
    assert.equal(second.created, false);
    assert.equal(second.settings.config.securityParked, 3);
    assert.deepEqual(second.settings.config.topics, ['a', 'b']);
    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) if (s.scheduleId === scheduleId) ids.push(s.scheduleId);
    assert.deepEqual(ids, [scheduleId]);
  });
});

describe('one visibility dialect', () => {
  it('DlqParkedAt windows count the same on both stores, at and around a whole second', async () => {
    // SQLite visibility (dev) compares a stored value equal to the literal as greater; PostgreSQL compares
    // times. Windows built with whole-second literals, `>=` and `<` only, agree on both.
    const topic = `an-dialect-${T}`;
    let H = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR; // a whole hour, in the past
    if (H % DAY === 0) H -= HOUR; // not midnight: the day started before it
    const offsets = [-1000, -500, 0, 500, 1000, 1500, 2000];
    fixtures.push(
      ...(await startParked(
        env.client,
        topic,
        NO_WORKER,
        offsets.map((o, i) => ({ id: `d${i}`, parkedAt: H + o })),
      )),
    );
    await settle(`DlqTopic = '${topic}' AND DlqStatus = 'dead'`, offsets.length);
    const config = analyticsConfigSchema.parse({ filter: inList(topic), topics: [topic], settleLag: '1s' });
    const count = async (window: string) =>
      (await env.client.workflow.count(`${scopeQuery(config)} AND ${window}`)).count;
    assert.equal(await count(parkedAtWindow(H, H + 1000)), 2, '[H, H+1s): H and H+0.5s');
    assert.equal(await count(parkedAtWindow(undefined, H)), 2, '< H: H-1s and H-0.5s');
    assert.equal(await count(parkedAtWindow(H + 1000, undefined)), 3, '>= H+1s: H+1s, H+1.5s, H+2s');

    // A run whose previous one ended at H: inflow and the carried hour are [H, H+2s); the hour before and
    // the day are counted afresh (backfill), up to the window end.
    const s = await computeSnapshot(env.client, config, {
      now: new Date(H + 3000),
      previous: { windowEnd: iso(H), hourly: [], daily: [] },
    });
    assert.deepEqual(s.inflow, { since: iso(H), until: iso(H + 2000), parks: 4 });
    assert.deepEqual(s.hourly.slice(-2), [
      { start: iso(H - HOUR), parks: 2 },
      { start: iso(H), parks: 4 },
    ]);
    assert.equal(s.daily.at(-1)?.parks, 6);
    assert.equal(s.oldest?.workflowId, messageWorkflowId(topic, 'd0'));
    assert.equal(s.parked.total, offsets.length);
  });
});

describe('a visibility budget at more parked messages than one list page', () => {
  const topic = `an-many-${T}`;
  const N = 1100;
  const now = Date.now();
  const REASONS = ['HTTP_404', 'HTTP_410', 'UPSTREAM_DOWN'];
  // Started oldest park first: the first list page (the latest starts) misses the oldest 100.
  const seeded: ParkedFixture[] = Array.from({ length: N }, (_, k) => {
    const i = N - 1 - k;
    const security = i % 10 === 0;
    const reason = security ? 'HTTP_401' : REASONS[i % 3]!;
    const errorClass = security ? 'security' : 'permanent';
    return {
      id: `m${i}`,
      // Whole seconds, one every 2 minutes back from now; the oldest three days ago.
      parkedAt: Math.floor((i === N - 1 ? now - 3 * DAY : now - 60_000 - i * 120_000) / 1000) * 1000,
      errorClass,
      reason,
      fingerprint: `fp-${errorClass}-${reason}`,
      attempts: 1 + (i % 3),
      parkCount: i % 50 === 0 ? 2 : 1,
    };
  });
  const expected = {
    byClass: { temporary: 0, permanent: 990, validation: 0, timeout: 0, security: 110 },
    byReason: Object.fromEntries(
      ['HTTP_401', ...REASONS].map((r) => [r, seeded.filter((f) => f.reason === r).length]),
    ),
    groups: Object.fromEntries(
      [...new Set(seeded.map((f) => f.fingerprint!))].map((fp) => [
        fp,
        seeded.filter((f) => f.fingerprint === fp).length,
      ]),
    ),
    reParked: seeded.filter((f) => f.parkCount === 2).length,
  };
  const config = { filter: inList(topic), topics: [topic] };

  /** Every figure a snapshot gives is exact, or marked as not counted. */
  function assertHonest(s: DlqSnapshot): void {
    assert.ok(s.serverCalls <= 20, `${s.serverCalls} visibility calls`);
    assert.deepEqual(s.listing, { listed: 1000, complete: false });
    assert.equal(s.parked.total, N);
    assert.deepEqual(s.parked.byClass, expected.byClass);
    assert.equal(s.parked.reParked, expected.reParked);
    // The oldest is proved by the bounded search (it is not in the first page).
    assert.equal(s.oldest?.workflowId, messageWorkflowId(topic, `m${N - 1}`));
    assert.equal(s.oldest?.exact, true);
    assert.deepEqual(s.coverage?.sampled, ['attempts']);
    for (const [reason, n] of Object.entries(s.parked.byReason)) assert.equal(n, expected.byReason[reason]);
    assert.equal(s.parked.otherReasons, N - Object.values(s.parked.byReason).reduce((a, b) => a + b, 0));
    for (const reason of Object.keys(expected.byReason))
      assert.ok(
        reason in s.parked.byReason || s.coverage?.notCounted.includes(`reason:${reason}`),
        `${reason}: counted, or named as not counted`,
      );
    for (const g of s.topGroups)
      if (g.exact) assert.equal(g.count, expected.groups[g.fingerprint], g.fingerprint);
      else assert.ok(s.coverage?.notCounted.includes(`group:${g.fingerprint}`));
    // A bucket is exact or unknown (null), never a wrong 0.
    const windowEnd = Date.parse(s.trend!.windowEnd);
    const truth = (start: number, size: number) =>
      seeded.filter((f) => f.parkedAt >= start && f.parkedAt < Math.min(start + size, windowEnd)).length;
    for (const b of s.hourly) if (b.parks !== null) assert.equal(b.parks, truth(Date.parse(b.start), HOUR));
    for (const b of s.daily) if (b.parks !== null) assert.equal(b.parks, truth(Date.parse(b.start), DAY));
    assert.equal(s.trend?.unknownHours, s.hourly.filter((b) => b.parks === null).length);
  }

  before(async () => {
    fixtures.push(...(await startParked(env.client, topic, NO_WORKER, seeded)));
    await settle(`DlqTopic = '${topic}' AND DlqStatus = 'dead'`, N);
  });

  it('every scheduled run makes at most 20 visibility calls at 1 100 parked, exact where it counts, marked where it sampled', async () => {
    const id = await schedule('budget', config);
    const first = await runOnce(id);
    assertHonest(first.snapshot);
    assert.deepEqual(first.alerts.active.map((a) => a.id).sort(), [
      'oldest-age',
      'parked-total',
      'security-parked',
    ]);
    const second = await runOnce(id);
    assertHonest(second.snapshot);
    assert.equal(second.snapshot.inflow?.parks, 0);
    assert.equal(second.growth, 0);

    // The snapshot's own count is what leaves for the server.
    const counting = visibilityCountingClient(env.connection);
    const direct = await computeSnapshot(counting.client, analyticsConfigSchema.parse(config));
    assertHonest(direct);
    assert.equal(counting.calls(), direct.serverCalls);
  });

  it(
    'a rate-limited run backs off and finishes',
    { skip: TIER !== 'production' && 'the dev server allows 100 visibility calls/s; the stock server 10' },
    async () => {
      // A client without the SDK's own gRPC retry, so the snapshot sees each RESOURCE_EXHAUSTED itself, and
      // other callers flooding the namespace's visibility budget until the snapshot has backed off 3 times.
      const connection = await Connection.connect({ address: env.address, interceptors: [] });
      const client = new Client({ connection });
      let backoffs = 0;
      const flood = Array.from({ length: 8 }, async () => {
        while (backoffs < 3) {
          await client.workflow.count(`WorkflowType = 'processMessage' AND DlqTopic = 'none'`).catch(() => 0);
          await new Promise((r) => setTimeout(r, 20));
        }
      });
      try {
        const s = await computeSnapshot(client, analyticsConfigSchema.parse(config), {
          onBackoff: () => void backoffs++,
          deadline: Date.now() + 110_000,
        });
        assertHonest(s);
        assert.ok((s.coverage?.rateLimited ?? 0) >= 1, 'the run was rate-limited');
      } finally {
        backoffs = 3;
        await Promise.all(flood);
        await connection.close();
      }
    },
  );
});
