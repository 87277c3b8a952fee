/**
 * The metrics edges without a server: DLQ_METRICS_ADDRESS validation, the label bounds, the analytics gauges'
 * bounds and zeroing, and the two ways the endpoint can fail to come up (a taken port; a Runtime that was
 * created before), each in a process of its own because a process has one Temporal Runtime.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { ConfigError, loadConfig } from '../src/config';
import { OTHER_LABEL, MAX_TOPIC_SERIES, reasonLabel, topicLabel } from '../src/contract/metrics';
import { newGaugeMemory, recordSnapshotGauges } from '../activities/analytics-metrics';
import type { DlqSnapshot } from '../src/contract/analytics';

const root = join(__dirname, '..');

describe('DLQ_METRICS_ADDRESS', () => {
  it('takes an IPv4 or [IPv6] address with a port, and names what is allowed otherwise', () => {
    for (const ok of ['127.0.0.1:9464', '0.0.0.0:1', '[::1]:9464', '[::]:65535'])
      assert.equal(loadConfig({ DLQ_METRICS_ADDRESS: ok }).DLQ_METRICS_ADDRESS, ok);
    assert.equal(loadConfig({}).DLQ_METRICS_ADDRESS, undefined, 'off by default');
    for (const bad of [
      'localhost:9464',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      '300.0.0.1:9464',
      ':9464',
      '[zz]:1',
    ]) {
      assert.throws(
        () => loadConfig({ DLQ_METRICS_ADDRESS: bad }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.problems.some((p) => p.includes('DLQ_METRICS_ADDRESS') && p.includes('IP address and a port')),
        bad,
      );
    }
  });
});

describe('label bounds', () => {
  it('keeps catalogue reasons and HTTP_<status>, and makes every other reason "other"', () => {
    assert.equal(reasonLabel('HTTP_404'), 'HTTP_404');
    assert.equal(reasonLabel('HTTP_503'), 'HTTP_503');
    assert.equal(reasonLabel('WORKER_CRASHED'), 'WORKER_CRASHED');
    assert.equal(reasonLabel('SOURCE_NOT_JSON'), 'SOURCE_NOT_JSON');
    assert.equal(reasonLabel('CUSTOMER_12345_MISSING'), OTHER_LABEL);
    assert.equal(reasonLabel(undefined), OTHER_LABEL);
    assert.equal(topicLabel('orders', true), 'orders');
    assert.equal(topicLabel('typo-topic', false), OTHER_LABEL);
  });
});

/** A meter that keeps the last value of each gauge series, to read what recordSnapshotGauges set. */
function recordingMeter(): { meter: MetricMeter; values: Map<string, number> } {
  const values = new Map<string, number>();
  const key = (name: string, tags: MetricTags = {}) =>
    `${name}${JSON.stringify(Object.fromEntries(Object.entries(tags).sort()))}`;
  const meter = {
    createGauge: (name: string) => ({
      set: (v: number, tags?: MetricTags) => void values.set(key(name, tags), v),
    }),
  } as unknown as MetricMeter;
  return { meter, values };
}

function snapshot(byTopic: Record<string, number>, groups: string[]): DlqSnapshot {
  return {
    computedAt: '2026-11-30T00:00:00.000Z',
    parked: {
      total: Object.values(byTopic).reduce((a, b) => a + b, 0) + 3,
      byClass: { temporary: 1, permanent: 2, validation: 0, timeout: 0, security: 0 },
      byReason: {},
      otherReasons: 0,
      byTopic,
      otherTopics: 3,
      reParked: 0,
    },
    topGroups: groups.map((fingerprint, i) => ({
      fingerprint,
      count: 10 - i,
      errorClass: 'permanent',
      reason: 'HANDLER_OWN_CODE',
      topic: 'orders',
      sampleWorkflowId: 'w',
      sampleMessageId: 'm',
    })),
    oldest: null,
    inflow: null,
    requeueSuccessRate: null,
  } as unknown as DlqSnapshot;
}

describe('analytics gauges', () => {
  it(`keeps ${MAX_TOPIC_SERIES} topics and adds the rest to "other"; zeroes series a later run no longer reports`, () => {
    const { meter, values } = recordingMeter();
    const memory = newGaugeMemory();
    const topics = Object.fromEntries(
      Array.from({ length: 25 }, (_, i) => [`t${String(i).padStart(2, '0')}`, 100 - i]),
    );
    recordSnapshotGauges(meter, snapshot(topics, ['g1', 'g2']), memory);
    const topicSeries = [...values.keys()].filter((k) => k.startsWith('dlq_parked_by_topic'));
    assert.equal(topicSeries.length, MAX_TOPIC_SERIES + 1);
    // t20..t24 (80+79+78+77+76) and otherTopics (3).
    assert.equal(values.get('dlq_parked_by_topic{"topic":"other"}'), 80 + 79 + 78 + 77 + 76 + 3);
    assert.equal(values.get('dlq_parked_by_topic{"topic":"t00"}'), 100);
    assert.equal(
      values.get(
        'dlq_failure_group_parked{"error_class":"permanent","fingerprint":"g1","reason":"other","topic":"orders"}',
      ),
      10,
    );
    assert.equal(values.get('dlq_oldest_parked_age_seconds{}'), 0);
    assert.equal(values.has('dlq_requeue_success_ratio{}'), false, 'not set while undefined');

    recordSnapshotGauges(meter, snapshot({ t00: 5 }, ['g2']), memory);
    assert.equal(values.get('dlq_parked_by_topic{"topic":"t00"}'), 5);
    assert.equal(values.get('dlq_parked_by_topic{"topic":"t01"}'), 0, 'a topic no longer reported is zeroed');
    assert.equal(
      values.get(
        'dlq_failure_group_parked{"error_class":"permanent","fingerprint":"g1","reason":"other","topic":"orders"}',
      ),
      0,
      'a group no longer reported is zeroed',
    );
  });
});

/** Runs `code` in a fresh Node process (one Temporal Runtime per process) and returns its output. */
function inOwnProcess(code: string): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe('the metrics endpoint that cannot come up', () => {
  it('a taken port stops the worker with MetricsEndpointError naming the address', async () => {
    const held = createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    const port = (held.address() as { port: number }).port;
    try {
      const run = inOwnProcess(`
        const pino = require('pino');
        const { installRuntimeLogger } = require('./src/worker/runtime');
        try { installRuntimeLogger(pino({ level: 'silent' }), { metricsAddress: '127.0.0.1:${port}' }); console.log('installed'); }
        catch (err) { console.log(err.name + ': ' + err.message); }
      `);
      assert.match(
        run.out,
        new RegExp(
          `MetricsEndpointError: Cannot serve Prometheus metrics at 127\\.0\\.0\\.1:${port} \\(DLQ_METRICS_ADDRESS\\)`,
        ),
        run.out,
      );
    } finally {
      held.close();
    }
  });

  it('a Runtime created before without metrics: an error log says the metrics are NOT served', () => {
    const run = inOwnProcess(`
      const pino = require('pino');
      const { Runtime } = require('@temporalio/worker');
      const { installRuntimeLogger } = require('./src/worker/runtime');
      const noop = () => undefined;
      Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop } });
      installRuntimeLogger(pino({ level: 'info' }), { metricsAddress: '127.0.0.1:9' });
    `);
    assert.equal(run.status, 0, run.out);
    const lines = run.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(
      lines.some((l) => l.level === 50 && l.msg.startsWith('Prometheus metrics are NOT served')),
      run.out,
    );
  });
});
