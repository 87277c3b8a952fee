/** Foundation smoke tests: set-up on a real server, a workflow running an activity, `npm start`'s entry, the CLI resolver. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;
import { openTestEnv, uid } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { setupServer } from '../src/ops/setup';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes';
import { cachedCliPath, findTemporalCli, TemporalCliUnavailableError } from '../src/ops/temporal-cli';
import type { MessageOutcome } from '../src/contract/types';

let env: TestEnv;
before(async () => {
  env = await openTestEnv();
  await env.startWorker([
    defineHandler<unknown>({ topic: 'smoke', handle: ({ payload }) => ({ echoed: payload }) }),
    defineHandler({
      topic: 'smoke-3',
      stages: ['a', 'b', 'c'].map((name) => ({ name, run: () => name })),
    }),
    defineHandler({
      topic: 'smoke-3-activity',
      firstAttempt: 'activity',
      stages: ['a', 'b', 'c'].map((name) => ({ name, run: () => name })),
    }),
  ]);
});
after(async () => env.close());

describe('server set-up', () => {
  it('is idempotent and registers every search attribute with its type', async () => {
    await setupServer(env.connection, { namespace: 'default', retention: '30d' });
    await setupServer(env.connection, { namespace: 'default', retention: '30d' });
    const listed = await env.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const key of ALL_SEARCH_ATTRIBUTES)
      assert.ok(listed.customAttributes?.[key.name] !== undefined, key.name);
    const ns = await env.connection.workflowService.describeNamespace({ namespace: 'default' });
    assert.equal(Number(ns.config?.workflowExecutionRetentionTtl?.seconds), 30 * 86_400);
  });
});

describe('a message on the real server', () => {
  it('runs its activity and completes', async () => {
    const result = await publish(
      env.client,
      { id: uid(), topic: 'smoke', payload: { hello: 'world' } },
      { taskQueue: env.taskQueue },
    );
    assert.ok(result.ok && !result.duplicate);
    const outcome = (await env.client.workflow.getHandle(result.workflowId).result()) as MessageOutcome;
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.stageResults.handle, { echoed: { hello: 'world' } });
  });

  const historyOf = async (topic: string) => {
    const result = await publish(env.client, { id: uid(), topic, payload: {} }, { taskQueue: env.taskQueue });
    assert.ok(result.ok);
    const handle = env.client.workflow.getHandle(result.workflowId);
    const outcome = (await handle.result()) as MessageOutcome;
    assert.deepEqual(outcome.stageResults, { a: 'a', b: 'b', c: 'c' });
    const events = (await handle.fetchHistory()).events ?? [];
    const count = (type: temporal.api.enums.v1.EventType) =>
      events.filter((e) => e.eventType === type).length;
    return { events, count };
  };

  it('keeps the happy path cheap: one workflow task, every stage a local attempt, no upserts', async () => {
    const { events, count } = await historyOf('smoke-3');
    assert.equal(count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), 0);
    assert.equal(count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 0);
    assert.equal(count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), 1);
    assert.equal(
      count(EventType.EVENT_TYPE_MARKER_RECORDED),
      4,
      'the policy lookup and one attempt per stage',
    );
    assert.equal(events.length, 9, 'started, one workflow task (3), 4 markers, completed');
  });

  it("with firstAttempt 'activity', runs one activity per stage and nothing else", async () => {
    const { events, count } = await historyOf('smoke-3-activity');
    assert.equal(count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), 0);
    assert.deepEqual(
      events
        .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name),
      ['runStage', 'runStage', 'runStage'],
    );
    assert.equal(count(EventType.EVENT_TYPE_MARKER_RECORDED), 1, 'one local activity: the policy lookup');
  });
});

describe('npm start entry', () => {
  it('uses a server at TEMPORAL_ADDRESS, starts none, runs the worker, prints the UI link and stops on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '..', 'src', 'ops', 'start.ts')],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          TEMPORAL_TASK_QUEUE: `start-${uid()}`,
          DLQ_DEMO: 'false',
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!out.includes('Press Ctrl+C') && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(out, /Using the Temporal server at TEMPORAL_ADDRESS/);
      assert.doesNotMatch(out, /Started the Temporal dev server/);
      // Parked means dead and still running (a terminated workflow keeps its last DlqStatus).
      assert.match(
        out,
        /Parked messages: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\?query=DlqStatus%20%3D%20%22dead%22%20AND%20ExecutionStatus%20%3D%20%22Running%22/,
      );
    } finally {
      // A failed assertion must not leave the worker running: the test runner would wait for it forever.
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }
    assert.equal(await exited, 0, out);
  });
});

describe('Temporal CLI resolution', () => {
  it('prefers TEMPORAL_CLI, then the cache, then PATH; a missing TEMPORAL_CLI is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const onPath = join(dir, 'bin');
    mkdirSync(onPath);
    writeFileSync(join(onPath, 'temporal'), '#!/bin/sh\n');
    chmodSync(join(onPath, 'temporal'), 0o755);
    const cacheHome = join(dir, 'cache');
    const base = { PATH: onPath, XDG_CACHE_HOME: cacheHome };
    assert.equal(findTemporalCli(base), join(onPath, 'temporal'));
    const cached = cachedCliPath(base);
    assert.equal(cached, join(cacheHome, 'temporal-dlq', 'temporal-1.5.1', 'temporal'));
    mkdirSync(join(cached, '..'), { recursive: true });
    writeFileSync(cached, '');
    assert.equal(findTemporalCli(base), cached);
    assert.equal(
      findTemporalCli({ ...base, TEMPORAL_CLI: join(onPath, 'temporal') }),
      join(onPath, 'temporal'),
    );
    assert.throws(
      () => findTemporalCli({ ...base, TEMPORAL_CLI: '/nope/temporal' }),
      (err: unknown) =>
        err instanceof TemporalCliUnavailableError &&
        /docker compose up/.test(err.message) &&
        /go install/.test(err.message),
    );
    assert.equal(findTemporalCli({ PATH: '', XDG_CACHE_HOME: join(dir, 'empty') }), undefined);
  });
});
