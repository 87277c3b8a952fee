/**
 * OpenTelemetry tracing on the suite's real dev server, with a real worker in this process and an in-memory
 * span exporter: an upstream `traceparent` continues through `publish`, the workflow and every stage attempt
 * (the first cycle, the attempts after an operator's repair, and those of an automatic re-drive), the dead
 * letter's trace id is that trace's, and `dlq show` prints it. The hostile side: a producer without tracing
 * leaves no span and no trace id, a `traceId` that contradicts the trace is refused, a malformed
 * `traceparent` starts a trace of its own, and a traced history replays with the shipped bundle.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { openTestEnv, requireEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import { startDevServer } from '../src/ops/dev-server';
import type { DevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish, PublishError } from '../src/client/publish';
import { connectClient } from '../src/security/connection';
import { ConfigError, loadConfig } from '../src/config';
import { TemporaryError, ValidationError } from '../src/contract/errors';
import { repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { TEMPORAL_TRACE_HEADER } from '../src/contract/tracing';
import type { MessageOutcome } from '../src/contract/types';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider();
provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
// Registers the global TracerProvider (and the W3C propagator); no context manager: tracing registers Node's.
provider.register();

const topic = `traced-${uid()}`;
const redriveTopic = `traced-redrive-${uid()}`;
let env: TestEnv;
let traced: Client;

/** `charge` fails until repaired (quantity a string: a validation failure that parks at once); after the
 * repair its first attempt fails once more (temporary), and the retry, an activity task, succeeds. */
const chargeFailures = new Map<string, number>();
const handlers = [
  defineHandler({
    topic,
    stages: [
      { name: 'reserve', run: () => ({ reserved: true }) },
      {
        name: 'charge',
        run: ({ payload, envelope }) => {
          const quantity = (payload as { quantity: unknown }).quantity;
          if (typeof quantity !== 'number') throw new ValidationError('quantity must be a number');
          const seen = chargeFailures.get(envelope.id) ?? 0;
          chargeFailures.set(envelope.id, seen + 1);
          if (seen === 0) throw new TemporaryError('card processor busy');
          return { charged: quantity };
        },
      },
    ],
    retry: { maximumAttempts: 3, initialInterval: '100ms' },
    redrive: { enabled: false },
  }),
  defineHandler({
    topic: redriveTopic,
    stages: [
      {
        name: 'deliver',
        // Two temporary failures spend the budget (a local attempt and an activity attempt): the message
        // parks, and the automatic re-drive succeeds.
        run: ({ envelope }) => {
          const seen = chargeFailures.get(envelope.id) ?? 0;
          chargeFailures.set(envelope.id, seen + 1);
          if (seen < 2) throw new TemporaryError('downstream unavailable');
          return { delivered: true };
        },
      },
    ],
    retry: { maximumAttempts: 2, initialInterval: '100ms' },
    redrive: { baseDelay: '500ms', maxRedrives: 2 },
  }),
];

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const spansOf = (traceId: string) =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const forWorkflow = (spans: ReadableSpan[], workflowId: string) =>
  spans.filter((s) => s.attributes.temporalWorkflowId === workflowId);
const stageAttempts = (spans: ReadableSpan[]) => spans.filter((s) => s.name === 'RunActivity:runStage');
const startMs = (s: ReadableSpan) => s.startTime[0] * 1000 + s.startTime[1] / 1e6;

before(async () => {
  env = await openTestEnv();
  traced = await connectClient({ ...env.config, DLQ_TRACING: 'on' });
  await env.startWorker(
    handlers,
    { DLQ_TRACING: 'on' },
    {
      tracing: { workflowSpanProcessor: new SimpleSpanProcessor(exporter) },
    },
  );
});
after(async () => {
  await env.close();
  await traced.connection.close();
  await provider.shutdown();
});

describe('OpenTelemetry tracing', () => {
  it('uses the OpenTelemetry interceptors’ Temporal header name', () => {
    assert.equal(TEMPORAL_TRACE_HEADER, TRACE_HEADER);
  });

  it('a worker with tracing on says when no TracerProvider is registered (a process of its own)', () => {
    const script = [
      "const { workerTracing } = require('./src/worker/tracing');",
      "const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');",
      'const before = workerTracing(true).noTracerProvider;',
      'new BasicTracerProvider().register();',
      'console.log(JSON.stringify([before, workerTracing(true).noTracerProvider, workerTracing(false).noTracerProvider]));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: join(__dirname, '..'),
    });
    assert.deepEqual(JSON.parse(out.toString()), [true, false, false]);
  });

  it('DLQ_TRACING is off by default, and a bad value names the variable and what is allowed', () => {
    assert.equal(loadConfig({}).DLQ_TRACING, 'off');
    assert.throws(
      () => loadConfig({ DLQ_TRACING: 'yes' }),
      (err: unknown) =>
        err instanceof ConfigError && err.problems.some((p) => /DLQ_TRACING/.test(p) && /off, on/.test(p)),
    );
  });

  it(
    'one trace from the upstream traceparent through publish, the parked run, the repair and the recovery',
    { timeout: 120_000 },
    async () => {
      const traceId = hex(16);
      const upstreamSpanId = hex(8);
      const id = `order-${uid()}`;
      const workflowId = messageWorkflowId(topic, id);
      const published = await publish(
        traced,
        {
          id,
          topic,
          payload: { orderId: id, quantity: 'two' },
          headers: { traceparent: `00-${traceId}-${upstreamSpanId}-01` },
        },
        { taskQueue: env.taskQueue },
      );
      assert.equal(published.ok, true);

      const parked = await waitForStatus(env.client, workflowId, 'dead');
      assert.equal(parked.deadLetter?.traceId, traceId, 'the dead letter keeps the real trace id');
      assert.equal(parked.envelope.traceId, traceId);
      const show = await runCliCaptured(
        { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue },
        ['show', workflowId],
      );
      assert.equal(show.code, 0, show.err);
      assert.match(show.out, new RegExp(`^  trace id +${traceId}$`, 'm'), show.out);

      const repairedAt = Date.now();
      const verdict = await traced.workflow
        .getHandle(workflowId)
        .executeUpdate(repairUpdate, { args: [{ patch: { quantity: 2 }, operator: 'alice' }] });
      assert.equal(verdict.accepted, true);
      const outcome = (await env.client.workflow.getHandle(workflowId).result()) as MessageOutcome;
      assert.equal(outcome.status, 'recovered');

      // The workflow's own span ends with the run, and reaches the exporter through the worker's sink.
      const runSpan = await waitFor('the RunWorkflow span', () =>
        Promise.resolve(spansOf(traceId).find((s) => s.name === 'RunWorkflow:processMessage')),
      );
      const spans = spansOf(traceId);
      const publishSpan = spans.find((s) => s.name === `dlq.publish ${topic}`);
      assert.ok(publishSpan, `a dlq.publish span in the trace: ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(publishSpan.parentSpanId, upstreamSpanId, 'publish continues the upstream span');
      const startSpan = spans.find((s) => s.name === 'StartWorkflow:processMessage');
      assert.equal(startSpan?.parentSpanId, publishSpan.spanContext().spanId);
      assert.equal(runSpan.parentSpanId, startSpan.spanContext().spanId);

      // Every stage attempt of this message, before and after the repair, is in the one trace.
      const allAttempts = forWorkflow(stageAttempts(exporter.getFinishedSpans()), workflowId);
      const attempts = stageAttempts(forWorkflow(spans, workflowId));
      assert.deepEqual(
        allAttempts.map((s) => s.spanContext().traceId),
        attempts.map(() => traceId),
        'no stage attempt of the message is outside its trace',
      );
      const described = attempts
        .map((s) => ({
          stage: s.attributes['dlq.stage'],
          attempt: s.attributes['dlq.attempt'],
          version: s.attributes['dlq.payload_version'],
          local: s.attributes['dlq.local'],
          afterRepair: startMs(s) >= repairedAt,
        }))
        .sort((a, b) => Number(a.version) - Number(b.version) || Number(a.attempt) - Number(b.attempt));
      assert.deepEqual(described, [
        { stage: 'reserve', attempt: 1, version: 1, local: true, afterRepair: false },
        { stage: 'charge', attempt: 1, version: 1, local: true, afterRepair: false },
        { stage: 'charge', attempt: 1, version: 2, local: true, afterRepair: true },
        { stage: 'charge', attempt: 2, version: 2, local: false, afterRepair: true },
      ]);
      const failed = attempts.filter((s) => s.status.code === SpanStatusCode.ERROR).length;
      assert.equal(failed, 2, 'the two failed attempts are error spans');
    },
  );

  it('an automatic re-drive runs in the message’s trace', { timeout: 120_000 }, async () => {
    const id = `redrive-${uid()}`;
    const workflowId = messageWorkflowId(redriveTopic, id);
    const published = await publish(
      traced,
      { id, topic: redriveTopic, payload: {} },
      { taskQueue: env.taskQueue },
    );
    assert.equal(published.ok, true);
    const outcome = (await env.client.workflow.getHandle(workflowId).result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    const state = await env.client.workflow.getHandle(workflowId).query(stateQuery);
    const traceId = state.envelope.traceId;
    assert.ok(traceId && /^[0-9a-f]{32}$/.test(traceId), `a trace id was recorded: ${String(traceId)}`);
    const attempts = forWorkflow(stageAttempts(exporter.getFinishedSpans()), workflowId);
    assert.deepEqual(
      attempts.map((s) => [s.spanContext().traceId, s.attributes['dlq.cycle']]).sort(),
      [
        [traceId, 0],
        [traceId, 0],
        [traceId, 1],
      ].sort(),
      'two attempts in the first cycle (0) and the re-drive (1), all in the trace',
    );
    const publishSpan = spansOf(traceId).find((s) => s.name === `dlq.publish ${redriveTopic}`);
    assert.equal(
      publishSpan?.parentSpanId,
      undefined,
      'without an upstream context publish starts the trace',
    );
  });

  it('a producer without tracing leaves no span and no trace id, with the worker tracing', async () => {
    const id = `plain-${uid()}`;
    const workflowId = messageWorkflowId(topic, id);
    const published = await publish(
      env.client,
      { id, topic, payload: { quantity: 1 }, headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` } },
      { taskQueue: env.taskQueue },
    );
    assert.equal(published.ok, true);
    const outcome = (await env.client.workflow.getHandle(workflowId).result()) as MessageOutcome;
    assert.equal(outcome.status, 'succeeded');
    const state = await env.client.workflow.getHandle(workflowId).query(stateQuery);
    assert.equal(state.envelope.traceId, undefined);
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    assert.equal(started?.header?.fields?.[TEMPORAL_TRACE_HEADER], undefined);
    assert.deepEqual(
      exporter.getFinishedSpans().filter((s) => s.attributes.temporalWorkflowId === workflowId),
      [],
    );
  });

  it('refuses a traceId that is not the id of the message’s trace, and starts nothing', async () => {
    const id = `mismatch-${uid()}`;
    await assert.rejects(
      publish(
        traced,
        { id, topic, payload: {}, traceId: hex(16), headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` } },
        { taskQueue: env.taskQueue },
      ),
      (err: unknown) =>
        err instanceof PublishError &&
        err.code === 'INVALID_ENVELOPE' &&
        /traceId: is "/.test(err.problems[0]!),
    );
    await assert.rejects(env.client.workflow.getHandle(messageWorkflowId(topic, id)).describe(), {
      name: 'WorkflowNotFoundError',
    });
  });

  it('a malformed traceparent starts a trace of its own, and the message is processed', async () => {
    const id = `badparent-${uid()}`;
    const workflowId = messageWorkflowId(topic, id);
    const published = await publish(
      traced,
      { id, topic, payload: { quantity: 3 }, headers: { TraceParent: 'not-a-traceparent' } },
      { taskQueue: env.taskQueue },
    );
    assert.equal(published.ok, true);
    const outcome = (await env.client.workflow.getHandle(workflowId).result()) as MessageOutcome;
    assert.equal(outcome.status, 'succeeded');
    const traceId = (await env.client.workflow.getHandle(workflowId).query(stateQuery)).envelope.traceId!;
    const publishSpan = spansOf(traceId).find((s) => s.name === `dlq.publish ${topic}`);
    assert.ok(publishSpan, 'a dlq.publish span');
    assert.equal(publishSpan.parentSpanId, undefined);
    assert.deepEqual(
      publishSpan.events.map((e) => e.name),
      ['dlq.invalid_traceparent'],
    );
    assert.ok(stageAttempts(forWorkflow(spansOf(traceId), workflowId)).length >= 2);
  });

  it('a traced history replays with the shipped bundle', async () => {
    const id = `replay-${uid()}`;
    const workflowId = messageWorkflowId(topic, id);
    await publish(traced, { id, topic, payload: { quantity: 'x' } }, { taskQueue: env.taskQueue });
    await waitForStatus(env.client, workflowId, 'dead');
    await traced.workflow
      .getHandle(workflowId)
      .executeUpdate(repairUpdate, { args: [{ patch: { quantity: 1 } }] });
    await env.client.workflow.getHandle(workflowId).result();
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE') } },
      history,
      workflowId,
    );
  });
});

describe('a traced message on workers that cannot export', () => {
  let plain: TestEnv;
  let broken: TestEnv;
  before(async () => {
    plain = await openTestEnv(env.address);
    await plain.startWorker(handlers); // DLQ_TRACING unset: off
    broken = await openTestEnv(env.address);
    const throwing = new SimpleSpanProcessor(exporter);
    throwing.onEnd = () => {
      throw new Error('span backend down');
    };
    await broken.startWorker(
      handlers,
      { DLQ_TRACING: 'on' },
      { tracing: { workflowSpanProcessor: throwing } },
    );
  });
  after(async () => {
    await plain?.close();
    await broken?.close();
  });

  for (const [label, which] of [
    ['a worker with tracing off processes it and exports nothing', () => plain],
    ['a worker whose workflow span processor throws still processes it', () => broken],
  ] as const) {
    it(label, async () => {
      const worker = which();
      const id = `mixed-${uid()}`;
      const workflowId = messageWorkflowId(topic, id);
      const published = await publish(
        traced,
        { id, topic, payload: { quantity: 5 } },
        { taskQueue: worker.taskQueue },
      );
      assert.equal(published.ok, true);
      const outcome = (await worker.client.workflow.getHandle(workflowId).result()) as MessageOutcome;
      assert.equal(outcome.status, 'succeeded');
      const traceId = (await worker.client.workflow.getHandle(workflowId).query(stateQuery)).envelope
        .traceId!;
      assert.match(traceId, /^[0-9a-f]{32}$/);
      const names = spansOf(traceId).map((s) => s.name);
      assert.ok(
        !names.includes('RunWorkflow:processMessage'),
        `no workflow span exported: ${names.join(', ')}`,
      );
      if (worker === plain) assert.ok(!names.includes('RunActivity:runStage'), 'no activity span');
      else
        assert.equal(
          stageAttempts(forWorkflow(spansOf(traceId), workflowId)).length,
          3,
          'activity spans still go',
        );
    });
  }
});

describe('OpenTelemetry tracing across continue-as-new', () => {
  let server: DevServer;
  let canEnv: TestEnv;
  let canClient: Client;
  before(async () => {
    // A server of its own that suggests continue-as-new after 40 events (as test/guards.test.ts does).
    server = await startDevServer({
      cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
      uiPort: false,
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40'],
    });
    canEnv = await openTestEnv(server.address);
    await setupServer(canEnv.connection, { namespace: 'default', retention: '1d' });
    canClient = await connectClient({ ...canEnv.config, DLQ_TRACING: 'on' });
    await canEnv.startWorker(
      handlers,
      { DLQ_TRACING: 'on' },
      {
        tracing: { workflowSpanProcessor: new SimpleSpanProcessor(exporter) },
      },
    );
  });
  after(async () => {
    await canEnv?.close();
    await canClient?.connection.close();
    await server?.stop();
  });

  it(
    'the next run joins the trace, and the stage attempts after it stay in it',
    { timeout: 120_000 },
    async () => {
      const traceId = hex(16);
      const id = `can-${uid()}`;
      const workflowId = messageWorkflowId(topic, id);
      await publish(
        canClient,
        { id, topic, payload: { quantity: 'x' }, headers: { traceparent: `00-${traceId}-${hex(8)}-01` } },
        { taskQueue: canEnv.taskQueue },
      );
      const handle = canEnv.client.workflow.getHandle(workflowId);
      await waitForStatus(canEnv.client, workflowId, 'dead');
      const firstRunId = (await handle.describe()).runId;
      // Each rejected signal adds history events until the server suggests continue-as-new.
      for (let i = 0; i < 30; i++) await handle.signal(retrySignal, { patch: 'not-an-object' as never });
      await waitFor('continue-as-new', async () =>
        (await handle.describe()).runId !== firstRunId ? true : undefined,
      );
      await canClient.workflow
        .getHandle(workflowId)
        .executeUpdate(repairUpdate, { args: [{ patch: { quantity: 4 } }] });
      assert.equal(((await handle.result()) as MessageOutcome).status, 'recovered');

      // Walk back from the last run: each run after the first is the child of a ContinueAsNew span of the
      // run before. Spans are keyed by id: a workflow task the server rejected (a signal arrived while the run
      // continued as new) runs again and exports its spans again, and its first ContinueAsNew leads nowhere.
      const chain = await waitFor('the chain of runs up to the last', () => {
        const spans = new Map(spansOf(traceId).map((s) => [s.spanContext().spanId, s]));
        const runs = [...spans.values()].filter((s) => s.name === 'RunWorkflow:processMessage');
        const continued = new Set(
          [...spans.values()]
            .filter((s) => s.name === 'ContinueAsNew:processMessage')
            .map((s) => s.parentSpanId),
        );
        const walk: string[] = [];
        let run = runs.find((r) => !continued.has(r.spanContext().spanId));
        while (run) {
          walk.unshift(run.name);
          const via = spans.get(run.parentSpanId ?? '');
          walk.unshift(via?.name ?? 'none');
          run = via?.name === 'ContinueAsNew:processMessage' ? spans.get(via.parentSpanId ?? '') : undefined;
        }
        return Promise.resolve(walk.length >= 4 ? walk : undefined);
      });
      assert.equal(
        chain[0],
        'StartWorkflow:processMessage',
        `the first run starts from publish: ${chain.join(' → ')}`,
      );
      assert.deepEqual(
        chain.slice(1),
        chain
          .slice(1)
          .map((_, i) => (i % 2 === 0 ? 'RunWorkflow:processMessage' : 'ContinueAsNew:processMessage')),
      );
      const attempts = forWorkflow(stageAttempts(exporter.getFinishedSpans()), workflowId);
      assert.ok(attempts.length >= 4, `stage attempts before and after: ${attempts.length}`);
      assert.deepEqual(
        attempts.map((s) => s.spanContext().traceId),
        attempts.map(() => traceId),
      );
      assert.ok(
        attempts.some((s) => s.attributes['dlq.payload_version'] === 2),
        'the repaired attempts ran in the trace',
      );
    },
  );
});
