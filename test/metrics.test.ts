/**
 * Prometheus metrics, end to end with a real Prometheus (Debian's `prometheus` package): a worker serves the
 * endpoint (DLQ_METRICS_ADDRESS through `installRuntimeLogger`), Prometheus scrapes it every second, messages
 * park, recover, are discarded and a repair is rejected, analytics runs once, and Prometheus's HTTP API
 * answers with the series and values. Also checks that every name of observability/exported-metrics.txt (the
 * names the rules and the dashboard may use) is in a real scrape.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { installRuntimeLogger } from '../src/worker/runtime';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError, TemporaryError, ValidationError } from '../src/contract/errors';
import { discardSignal, repairUpdate } from '../src/contract/definitions';
import { ANALYTICS_WORKFLOW } from '../src/contract/names';
import type { AnalyticsResult } from '../src/contract/analytics';
import { exportedDlqMetrics } from '../src/contract/metrics';
import { freePort } from '../src/ops/dev-server';
import { openTestEnv, silentLogger, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';

const PROMETHEUS = '/usr/bin/prometheus';
const root = join(__dirname, '..');
const T = uid();
const ORDERS = `met-orders-${T}`;
const IMPORTS = `met-imports-${T}`;
const FLAKY = `met-flaky-${T}`;
const flakyRuns = new Map<string, number>();

let env: TestEnv;
let metricsPort: number;
let promUrl: string;
let prometheus: ChildProcess | undefined;
let promLog = '';
const dir = mkdtempSync(join(tmpdir(), 'dlq-metrics-'));

const handlers = [
  defineHandler({
    topic: ORDERS,
    schema: z.object({ sku: z.string(), fixed: z.boolean().optional() }),
    handle: ({ payload }) => {
      if (!payload.fixed) throw new PermanentError('no such sku', { reason: 'HTTP_404' });
      return 'ok';
    },
  }),
  defineHandler({
    // Parks on its first attempt, then an automatic re-drive succeeds.
    topic: FLAKY,
    retry: { maximumAttempts: 1 },
    redrive: { baseDelay: '300ms' },
    handle: ({ envelope }) => {
      const runs = (flakyRuns.get(envelope.id) ?? 0) + 1;
      flakyRuns.set(envelope.id, runs);
      if (runs === 1) throw new TemporaryError('upstream unavailable', { reason: 'HTTP_503' });
      return 'ok';
    },
  }),
  defineHandler({
    topic: IMPORTS,
    handle: () => {
      throw new ValidationError('column 7 is not a date', { reason: 'MY_OWN_IMPORT_CODE' });
    },
  }),
];

/** One instant-vector query through Prometheus's HTTP API. */
async function query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  return body.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Polls Prometheus until `promql` has exactly one series with `expected` (scrapes come every second). */
async function expectValue(promql: string, expected: number): Promise<Record<string, string>> {
  let seen: unknown;
  try {
    return await waitFor(
      `${promql} == ${expected}`,
      async () => {
        const result = await query(promql);
        seen = result;
        return result.length === 1 && result[0]!.value === expected ? result[0]!.metric : undefined;
      },
      60_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(seen)}`);
  }
}

async function publishOne(topic: string, id: string, payload: unknown): Promise<{ workflowId: string }> {
  const result = await publish(env.client, { topic, id, payload }, { taskQueue: env.taskQueue });
  assert.ok(result.ok, JSON.stringify(result));
  return result;
}

const inTaskQueue = () => `taskQueue="${env.taskQueue}"`;

before(async () => {
  assert.ok(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: apt-get install prometheus (.ci/run does)`);
  metricsPort = await freePort();
  // Before openTestEnv's connections: the first Runtime of the process decides whether metrics are served.
  installRuntimeLogger(silentLogger, { metricsAddress: `127.0.0.1:${metricsPort}` });
  env = await openTestEnv();
  await env.startWorker(handlers);

  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: dlq-worker',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsPort}']`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  prometheus.stderr!.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  await waitFor('Prometheus to be ready', async () => {
    if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
    const res = await fetch(`${promUrl}/-/ready`);
    return res.ok ? true : undefined;
  });
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus metrics of the worker, scraped by a real Prometheus', () => {
  it('counts parks, recoveries, discards and rejected repairs by topic, class and bounded reason', async () => {
    const fixed = await publishOne(ORDERS, 'a1', { sku: 'x' });
    const stays = await publishOne(ORDERS, 'a2', { sku: 'y' });
    const dropped = await publishOne(IMPORTS, 'b1', { row: 7 });
    for (const id of [fixed.workflowId, stays.workflowId, dropped.workflowId])
      await waitForStatus(env.client, id, 'dead');

    // A repair whose payload fails the topic's schema is rejected (and counted), then a good one recovers.
    const a1 = env.client.workflow.getHandle(fixed.workflowId);
    await assert.rejects(a1.executeUpdate(repairUpdate, { args: [{ payload: { sku: 42 } }] }));
    await a1.executeUpdate(repairUpdate, { args: [{ patch: { fixed: true } }] });
    await waitForStatus(env.client, fixed.workflowId, 'recovered');
    await env.client.workflow.getHandle(dropped.workflowId).signal(discardSignal, { reason: 'bad export' });
    await waitForStatus(env.client, dropped.workflowId, 'discarded');

    const ordersLabels = `${inTaskQueue()}, topic="${ORDERS}", error_class="permanent", reason="HTTP_404"`;
    const parked = await expectValue(`dlq_messages_parked_total{${ordersLabels}}`, 2);
    assert.equal(parked.workflowType, 'processMessage');
    await expectValue(`dlq_messages_retried_total{${ordersLabels}}`, 1);
    await expectValue(`dlq_messages_recovered_total{${ordersLabels}}`, 1);
    await expectValue(`dlq_repairs_rejected_total{${ordersLabels}}`, 1);
    // A handler's own reason code is not a label value of its own: `other` (bounded cardinality).
    const importsLabels = `${inTaskQueue()}, topic="${IMPORTS}", error_class="validation"`;
    await expectValue(`dlq_messages_parked_total{${importsLabels}, reason="other"}`, 1);
    await expectValue(`dlq_messages_discarded_total{${importsLabels}, reason="other"}`, 1);
    assert.deepEqual(await query(`{__name__=~"dlq_.*", reason="MY_OWN_IMPORT_CODE"}`), []);
    // Nothing expired here.
    assert.deepEqual(await query(`dlq_messages_expired_total{${inTaskQueue()}}`), []);
  });

  it('counts an automatic re-drive and the recovery it brings', async () => {
    const flaky = await publishOne(FLAKY, 'c1', { n: 1 });
    const state = await waitForStatus(env.client, flaky.workflowId, 'recovered');
    // The last attempt's failure ends the retries: the dead letter says RETRY_EXHAUSTED (HTTP_503 beneath).
    assert.equal(state.deadLetter?.reason, 'RETRY_EXHAUSTED');
    const labels = `${inTaskQueue()}, topic="${FLAKY}", error_class="temporary", reason="RETRY_EXHAUSTED"`;
    await expectValue(`dlq_messages_parked_total{${labels}}`, 1);
    await expectValue(`dlq_messages_redriven_total{${labels}}`, 1);
    await expectValue(`dlq_messages_recovered_total{${labels}}`, 1);
    assert.deepEqual(await query(`dlq_messages_retried_total{${inTaskQueue()}, topic="${FLAKY}"}`), []);
  });

  it('sets the analytics gauges from a run: parked by class and topic, oldest age, re-queue success, groups', async () => {
    const config = { topics: [ORDERS, IMPORTS], filter: `DlqTopic IN ('${ORDERS}', '${IMPORTS}')` };
    // Visibility is eventually consistent: run until the run sees the one message still parked and the recovery.
    const result = await waitFor('an analytics run that sees 1 parked and 1 recovered', async () => {
      const r = await env.client.workflow.execute<(c: unknown) => Promise<AnalyticsResult>>(
        ANALYTICS_WORKFLOW,
        {
          args: [config],
          taskQueue: env.taskQueue,
          workflowId: `metrics-analytics-${T}-${uid()}`,
        },
      );
      return r.snapshot.parked.total === 1 && r.snapshot.resolved.recovered === 1 ? r : undefined;
    });
    const at = `${inTaskQueue()}, activityType="computeDlqSnapshot"`;
    await expectValue(
      `dlq_analytics_computed_timestamp_seconds{${at}}`,
      Date.parse(result.snapshot.computedAt) / 1000,
    );
    await expectValue(`dlq_parked{${at}}`, 1);
    await expectValue(`dlq_parked_by_class{${at}, error_class="permanent"}`, 1);
    await expectValue(`dlq_parked_by_class{${at}, error_class="security"}`, 0);
    await expectValue(`dlq_parked_by_topic{${at}, topic="${ORDERS}"}`, 1);
    await expectValue(`dlq_parked_by_topic{${at}, topic="${IMPORTS}"}`, 0);
    await expectValue(`dlq_parked_by_topic{${at}, topic="other"}`, 0);
    await expectValue(`dlq_requeue_success_ratio{${at}}`, 1);
    const group = result.snapshot.topGroups[0]!;
    await expectValue(
      `dlq_failure_group_parked{${at}, fingerprint="${group.fingerprint}", topic="${ORDERS}", reason="HTTP_404"}`,
      1,
    );
    const age = await query(`dlq_oldest_parked_age_seconds{${at}}`);
    assert.equal(age.length, 1);
    assert.equal(age[0]!.value, result.snapshot.oldest!.ageMs / 1000);
  });

  it('serves every name of observability/exported-metrics.txt, and the SDK worker metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const scraped = new Set(
      text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]),
    );
    const listed = readFileSync(join(root, 'observability', 'exported-metrics.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const missing = listed.filter((name) => !scraped.has(name));
    assert.deepEqual(missing, [], `listed but not scraped; scraped: ${[...scraped].sort().join(' ')}`);
    // Not exercised here: an expiry (DLQ_EXPIRE_AFTER, 14 days) and inflow (set from an analytics run's second run on).
    for (const { name } of exportedDlqMetrics())
      if (name !== 'dlq_messages_expired_total' && name !== 'dlq_inflow_parks')
        assert.ok(scraped.has(name), `${name} scraped`);
    assert.ok(scraped.has('temporal_workflow_completed_total'), 'the SDK worker metrics are served too');
  });
});
