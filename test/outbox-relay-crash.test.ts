/**
 * The outbox relay under crashes, on the real PostgreSQL and the suite's Temporal server: 2 000 outbox rows,
 * `dlq bridge outbox` (a process of its own) SIGKILLed twice mid-stream and restarted, then stopped with
 * SIGTERM (it drains and exits 0). Afterwards every row is marked published, every row has exactly one
 * workflow, none is missing, and no stage ran twice for the same idempotency key. A killed relay's open batch
 * is rolled back by PostgreSQL (its row locks go with the connection); the rows it had started are claimed
 * again and found as duplicates. Each kill waits until at least 10 rows are started but not yet marked (their
 * batch open), and the last bridge must report duplicates: the crash between a start and its COMMIT happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openTestEnv, uid, waitFor } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { messageWorkflowId } from '../src/contract/names';
import { openOutboxDb } from './support/postgres';
import type { OutboxDb } from './support/postgres';

const TOTAL = 2000;
const run = uid();
const topic = `outbox-crash-${run}`;
const runsByKey = new Map<string, number>();
let env: TestEnv;
let db: OutboxDb;
let table: string;
let bridge: ChildProcess | undefined;
/** What the bridges printed (the last one's counts when it drains). */
let lastSummary = '';

before(async () => {
  db = await openOutboxDb('crash');
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
  table = await db.table('crash');
});
after(async () => {
  if (bridge && bridge.exitCode === null && bridge.signalCode === null) bridge.kill('SIGKILL');
  await env?.close();
  await db?.close();
});

function startBridge(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      join(__dirname, '..', 'bin', 'dlq.js'),
      'bridge',
      'outbox',
      '--database-url',
      db.url,
      '--table',
      table,
      '--batch',
      '200',
      '--max-in-flight',
      '64',
      '--poll-every',
      '1s',
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
  child.stdout.on('data', (d: Buffer) => (lastSummary += d.toString()));
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

async function unpublished(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${table}" WHERE published_at IS NULL`,
  );
  return rows[0]!.n;
}

describe('dlq bridge outbox under SIGKILL', () => {
  it('ends with every row published and exactly one workflow per row after two kills mid-stream', async () => {
    const startedAt = Date.now();
    for (let i = 0; i < TOTAL; i += 200)
      await db.insert(
        table,
        Array.from({ length: 200 }, (_, j) => ({
          id: `c-${run}-${i + j}`,
          topic,
          payload: JSON.stringify({ i: i + j }),
        })),
      );
    for (const killBelow of [1500, 700]) {
      bridge = startBridge();
      await waitFor(
        `fewer than ${killBelow} rows unpublished`,
        async () => ((await unpublished()) < killBelow ? true : undefined),
        60_000,
      );
      // Kill mid-batch: rows already started whose batch has not committed yet (they must come back as
      // duplicates, never as second workflows).
      await waitFor(
        'rows started but not yet marked',
        async () => {
          const started = (await env.client.workflow.count(`DlqTopic = '${topic}'`)).count;
          return started - (TOTAL - (await unpublished())) >= 10 ? true : undefined;
        },
        60_000,
      );
      assert.equal(await stopped(bridge, 'SIGKILL'), 'SIGKILL');
    }
    const leftAfterKills = await unpublished();
    assert.ok(leftAfterKills > 0, 'the kills came mid-stream');
    bridge = startBridge();
    await waitFor(
      'every row published',
      async () => ((await unpublished()) === 0 ? true : undefined),
      120_000,
    );
    assert.equal(await stopped(bridge, 'SIGTERM'), 0, 'SIGTERM drains and exits 0');
    const duplicates = /(\d+) duplicate/.exec(lastSummary)?.[1];
    assert.ok(Number(duplicates) > 0, `the last bridge found the killed one's started rows: ${lastSummary}`);

    const { rows: retried } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}" WHERE attempts > 0 OR note IS NOT NULL`,
    );
    assert.equal(retried[0]!.n, 0, 'no failed start, no reject');
    for (let i = 0; i < TOTAL; i++)
      await env.client.workflow.getHandle(messageWorkflowId(topic, `c-${run}-${i}`)).describe();
    const query = `DlqTopic = '${topic}'`;
    await waitFor(
      'every workflow to complete',
      async () => {
        const { count } = await env.client.workflow.count(`${query} AND ExecutionStatus = 'Completed'`);
        return count === TOTAL ? true : undefined;
      },
      120_000,
    );
    const { count } = await env.client.workflow.count(query);
    assert.equal(count, TOTAL, 'exactly one execution per row');
    assert.equal(runsByKey.size, TOTAL, 'every row ran');
    assert.deepEqual(
      [...runsByKey].filter(([, runs]) => runs !== 1),
      [],
      'no stage ran twice for the same key',
    );
    process.stdout.write(
      `# 2000 rows, two SIGKILLs (${leftAfterKills} left after them), done in ${Date.now() - startedAt} ms; the last bridge: ${lastSummary.trim()}\n`,
    );
  });
});
