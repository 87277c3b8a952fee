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
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { z } from 'zod';
import { openTestEnv, recordHistory, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/handlers';
import { publish } from '../src/publish';
import { PermanentError, TemporaryError } from '../src/shared/errors';
import { discardSignal, repairUpdate } from '../src/shared/definitions';
import { messageWorkflowId } from '../src/shared/names';
import type { AnalyticsConfigInput, AnalyticsResult } from '../src/shared/analytics';
import { ensureAnalyticsSchedule, getAnalyticsSettings } from '../src/analytics/schedule';
import { signBody } from '../src/analytics/webhook';

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
    // Every message that ever parked has its last park in the last hour and day (11 = 8 + 2 + 1).
    assert.equal(
      s.hourly.reduce((a, b) => a + b.parks, 0),
      11,
    );
    assert.equal(s.hourly.length, 24);
    assert.equal(
      s.daily.reduce((a, b) => a + b.parks, 0),
      11,
    );
    assert.equal(s.inflow, null);
    assert.equal(first.growth, null);
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
    const second = await runOnce(id);
    assert.deepEqual(second.snapshot.inflow, { since: first.computedAt, parks: 1 });
    assert.equal(second.growth, 1);
    assert.equal(second.snapshot.topGroups[0]?.topic, TOPIC.gone);
    assert.equal(second.snapshot.topGroups[0]?.count, 3);

    // `dlq stats --json` computes the same with the schedule's settings and last result.
    const stats = await dlq(id, 'stats', '--json');
    assert.equal(stats.code, 0, stats.err);
    const onDemand = JSON.parse(stats.out) as AnalyticsResult;
    assert.equal(onDemand.snapshot.parked.total, 9);
    assert.deepEqual(onDemand.snapshot.parked.byTopic, second.snapshot.parked.byTopic);
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
