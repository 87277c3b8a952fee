/**
 * The PostgreSQL outbox relay on the real PostgreSQL (a database of its own, dropped afterwards) and the suite's
 * real Temporal server: a row written beside a business row becomes exactly one workflow and is marked
 * published; a row whose COMMIT was lost is found again as a duplicate; the insert trigger's NOTIFY wakes an
 * idle relay, and polling alone works without LISTEN; two relays side by side over 500 rows publish each row
 * once; each kind of bad row parks as `validation` with its reason and raw body and is marked published with a
 * note; a start that fails leaves the row unpublished with a back-off and it is published later; a database
 * that refuses connections is retried and logged until it is back; `dlq bridge outbox` validates its flags and
 * variables.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { Client } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { messageWorkflowId } from '../src/contract/names';
import { runSource } from '../src/connectors/source';
import type { RunSourceOptions, SourceCounts } from '../src/connectors/source';
import { outboxFallbackId, outboxSource } from '../src/connectors/outbox';
import type { OutboxSourceOptions } from '../src/connectors/outbox';
import { SOURCE_REJECT_REASONS, SOURCE_REJECTS_TOPIC } from '../src/contract/source-rejects';
import type { SourceRejectPayload } from '../src/contract/source-rejects';
import { openOutboxDb } from './support/postgres';
import type { OutboxDb } from './support/postgres';

let env: TestEnv;
let db: OutboxDb;
const run = uid();
const okTopic = `outbox-ok-${run}`;
const runsByKey = new Map<string, number>();

before(async () => {
  db = await openOutboxDb('relay');
  env = await openTestEnv();
  await env.startWorker([
    defineHandler({
      topic: okTopic,
      handle: ({ idempotencyKey }) => {
        runsByKey.set(idempotencyKey, (runsByKey.get(idempotencyKey) ?? 0) + 1);
        return 'ok';
      },
    }),
  ]);
});
after(async () => {
  await env?.close();
  await db?.close();
});

/** How often each stage key of a workflow ran (`<workflowId>:<stage>:<repairs>`). */
const runsOf = (workflowId: string): number[] =>
  [...runsByKey].filter(([key]) => key.startsWith(`${workflowId}:`)).map(([, n]) => n);

type RelayOptions = RunSourceOptions & { client?: Client; outbox?: Partial<OutboxSourceOptions> };

/** Starts a relay on `table`; `done` (checked after each settled row) stops it. Answers its counts. */
function startRelay(
  table: string,
  done: (counts: SourceCounts) => boolean,
  options: RelayOptions = {},
): { stop: () => void; counts: Promise<SourceCounts> } {
  const stop = new AbortController();
  const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
  const source = outboxSource({
    connectionString: db.url,
    table,
    batch: 20,
    pollEveryMs: 200,
    ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
    ...options.outbox,
  });
  const timer = setTimeout(() => stop.abort(), 90_000);
  const counts = runSource(options.client ?? env.client, source, {
    taskQueue: env.taskQueue,
    ...options,
    signal: stop.signal,
    onSettled: (outcome, message, details) => {
      live[outcome]++;
      options.onSettled?.(outcome, message, details);
      if (done(live)) stop.abort();
    },
  }).finally(async () => {
    clearTimeout(timer);
    await source.close();
  });
  return { stop: () => stop.abort(), counts };
}

const relay = (table: string, done: (c: SourceCounts) => boolean, options: RelayOptions = {}) =>
  startRelay(table, done, options).counts;

/** Executions of a workflow id (visibility). */
async function executions(workflowId: string): Promise<number> {
  return (await env.client.workflow.count(`WorkflowId = '${workflowId}'`)).count;
}

/** Waits until PostgreSQL shows a connection of the test database that has run `LISTEN "<table>"`. */
async function listening(table: string): Promise<void> {
  await waitFor(`a LISTEN on ${table}`, async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = $1`,
      [`LISTEN "${table}"`],
    );
    return rows[0]!.n > 0 ? true : undefined;
  });
}

describe('PostgreSQL outbox relay', () => {
  it('turns a row into exactly one workflow, marks it published, and a lost COMMIT starts nothing twice', async () => {
    const table = await db.table('e2e');
    const id = `o-${run}-1`;
    await db.insert(table, [
      { id, topic: okTopic, payload: JSON.stringify({ order: 1 }), headers: { trace: 't-1', n: 7 } },
    ]);
    const counts = await relay(table, (c) => c.started === 1);
    assert.deepEqual(counts, { started: 1, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 });
    const workflowId = messageWorkflowId(okTopic, id);
    const state = await waitForStatus(env.client, workflowId, 'succeeded');
    assert.deepEqual(state.envelope.payload, { order: 1 });
    assert.equal(state.envelope.headers.trace, 't-1');
    assert.equal(state.envelope.headers.n, '7', 'a header that is not a string is JSON-encoded');
    assert.equal(state.envelope.source, `outbox:${table} ${id}`);
    const row = (await db.rows(table)).get(id)!;
    assert.ok(row.published_at instanceof Date, 'marked published');
    assert.equal(row.note, null);
    assert.equal(row.attempts, 0);

    // A relay killed after the start but before its COMMIT leaves the row unpublished: claimed again, the
    // start is reported as a duplicate and the row is marked; still one execution, one stage run.
    await db.pool.query(`UPDATE "${table}" SET published_at = NULL WHERE id = $1`, [id]);
    const again = await relay(table, (c) => c.duplicate === 1);
    assert.deepEqual(again, { started: 0, duplicate: 1, rejected: 0, 'retry-later': 0, ackFailures: 0 });
    assert.ok((await db.rows(table)).get(id)!.published_at instanceof Date);
    await waitFor('visibility to show the workflow', async () =>
      (await executions(workflowId)) >= 1 ? true : undefined,
    );
    assert.equal(await executions(workflowId), 1, 'one execution');
    await waitFor('the stage to run', () => Promise.resolve(runsOf(workflowId).length ? true : undefined));
    assert.deepEqual(runsOf(workflowId), [1], 'the stage ran once');
  });

  it('is woken by the insert trigger’s NOTIFY while idle (polling every 10 minutes)', async () => {
    const table = await db.table('notify');
    const ids: string[] = [];
    const relayRun = startRelay(table, () => false, { outbox: { pollEveryMs: 600_000 } });
    try {
      await listening(table);
      for (let i = 0; i < 3; i++) {
        // Each insert lands while the relay sleeps: only the NOTIFY can wake it before the 10-minute poll.
        const id = `n-${run}-${i}`;
        ids.push(id);
        await db.insert(table, [{ id, topic: okTopic, payload: JSON.stringify({ i }) }]);
        await waitFor(`row ${id} published`, async () =>
          (await db.rows(table)).get(id)?.published_at ? true : undefined,
        );
      }
    } finally {
      relayRun.stop();
    }
    const counts = await relayRun.counts;
    assert.equal(counts.started, 3, JSON.stringify(counts));
    for (const id of ids) await env.client.workflow.getHandle(messageWorkflowId(okTopic, id)).describe();
  });

  it('polls when LISTEN is off', async () => {
    const table = await db.table('poll');
    const relayRun = startRelay(table, () => false, { outbox: { listen: false, pollEveryMs: 300 } });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const rows = Array.from({ length: 5 }, (_, i) => ({
        id: `p-${run}-${i}`,
        topic: okTopic,
        payload: JSON.stringify({ i }),
      }));
      await db.insert(table, rows);
      await waitFor('every row published by polling', async () => {
        const marked = [...(await db.rows(table)).values()].filter((r) => r.published_at);
        return marked.length === rows.length ? true : undefined;
      });
      const { rows: listeners } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
      );
      assert.equal(listeners[0]!.n, 0, 'no LISTEN connection');
    } finally {
      relayRun.stop();
    }
    assert.equal((await relayRun.counts).started, 5);
  });

  it('two relays side by side over 500 rows: each row published once, one workflow each', async () => {
    const table = await db.table('pair');
    const total = 500;
    const rows = Array.from({ length: total }, (_, i) => ({
      id: `s-${run}-${i}`,
      topic: okTopic,
      payload: JSON.stringify({ i }),
    }));
    await db.insert(table, rows);
    const settledBy = [new Map<string, number>(), new Map<string, number>()];
    const all = () => settledBy[0]!.size + settledBy[1]!.size;
    const relays = [0, 1].map((r) =>
      startRelay(table, () => all() >= total, {
        maxInFlight: 16,
        outbox: { batch: 25 },
        onSettled: (outcome, m) => {
          if (outcome === 'started' || outcome === 'duplicate')
            settledBy[r]!.set(m.brokerId!, (settledBy[r]!.get(m.brokerId!) ?? 0) + 1);
        },
      }),
    );
    const timeout = setTimeout(() => relays.forEach((r) => r.stop()), 90_000);
    // One relay's `done` stops only itself; the other stops once the total is reached too.
    const watch = setInterval(() => {
      if (all() >= total) relays.forEach((r) => r.stop());
    }, 100);
    const counts = await Promise.all(relays.map((r) => r.counts));
    clearTimeout(timeout);
    clearInterval(watch);
    process.stdout.write(`# two relays: ${JSON.stringify(counts)}\n`);
    assert.equal(counts[0]!.started + counts[1]!.started, total, JSON.stringify(counts));
    assert.equal(counts[0]!.duplicate + counts[1]!.duplicate, 0, 'no row published twice');
    const overlap = [...settledBy[0]!.keys()].filter((id) => settledBy[1]!.has(id));
    assert.deepEqual(overlap, [], 'no row taken by both relays');
    for (const m of settledBy)
      assert.deepEqual(
        [...m].filter(([, n]) => n !== 1),
        [],
      );
    const marked = await db.rows(table);
    assert.equal([...marked.values()].filter((r) => r.published_at && r.attempts === 0).length, total);
    const query = `DlqTopic = '${okTopic}' AND WorkflowId STARTS_WITH '${messageWorkflowId(okTopic, `s-${run}-`)}'`;
    await waitFor(
      'every workflow to complete',
      async () => {
        const { count } = await env.client.workflow.count(`${query} AND ExecutionStatus = 'Completed'`);
        return count === total ? true : undefined;
      },
      90_000,
    );
    assert.equal((await env.client.workflow.count(query)).count, total, 'one execution per row');
    for (const row of rows) assert.deepEqual(runsOf(messageWorkflowId(okTopic, row.id)), [1], row.id);
  });

  it('parks each kind of bad row as validation with its reason and raw body, and marks it published', async () => {
    const table = await db.table('bad');
    const big = JSON.stringify({ blob: 'x'.repeat(3000) });
    const cases = [
      { reason: SOURCE_REJECT_REASONS.notJson, id: `b-${run}-json`, topic: okTopic, payload: '{"not json' },
      { reason: SOURCE_REJECT_REASONS.badId, id: 'an id with spaces', topic: okTopic, payload: '{"a":1}' },
      { reason: SOURCE_REJECT_REASONS.tooLarge, id: `b-${run}-big`, topic: okTopic, payload: big },
      {
        reason: SOURCE_REJECT_REASONS.badTopic,
        id: `b-${run}-topic`,
        topic: 'bad$topic',
        payload: '{"a":2}',
      },
    ];
    await db.insert(
      table,
      cases.map((c) => ({
        id: c.id,
        topic: c.topic,
        payload: c.payload,
        headers: { trace: `t-${c.reason}` },
      })),
    );
    const counts = await relay(table, (c) => c.rejected === cases.length, { maxPayloadBytes: 2000 });
    assert.deepEqual(counts, { started: 0, duplicate: 0, rejected: 4, 'retry-later': 0, ackFailures: 0 });
    const marked = await db.rows(table);
    for (const c of cases) {
      const workflowId = messageWorkflowId(SOURCE_REJECTS_TOPIC, outboxFallbackId(table, c.id));
      const state = await waitForStatus(env.client, workflowId, 'dead');
      assert.equal(state.deadLetter?.errorClass, 'validation', c.reason);
      assert.equal(state.deadLetter?.reason, c.reason);
      const payload = state.envelope.payload as SourceRejectPayload;
      assert.equal(payload.reason, c.reason);
      assert.equal(payload.origin, `outbox:${table} ${c.id}`);
      assert.equal(payload.brokerId, c.id);
      assert.equal(payload.topic, c.topic);
      assert.equal(payload.headers.trace, `t-${c.reason}`);
      assert.equal(payload.bodyBytes, Buffer.byteLength(c.payload));
      assert.equal(payload.bodySha256, createHash('sha256').update(c.payload).digest('hex'));
      assert.equal(
        Buffer.from(payload.body, 'base64').toString('utf8'),
        c.payload.slice(0, payload.bodyKeptBytes),
      );
      if (c.reason === SOURCE_REJECT_REASONS.tooLarge)
        assert.ok(payload.bodyKeptBytes > 0 && payload.bodyKeptBytes < payload.bodyBytes, 'body cut to fit');
      else assert.equal(payload.bodyKeptBytes, payload.bodyBytes, 'whole body kept');
      const row = marked.get(c.id)!;
      assert.ok(row.published_at instanceof Date, `${c.reason}: marked published, never retried`);
      assert.equal(row.note, `rejected: ${c.reason} (parked as ${workflowId})`);
    }
  });

  it('leaves a row whose start failed unpublished with a back-off, and publishes it later', async () => {
    const table = await db.table('down');
    const id = `d-${run}`;
    await db.insert(table, [{ id, topic: okTopic, payload: JSON.stringify({ n: 2 }) }]);
    let failures = 2;
    const seenBeforeStart: Array<{ published: boolean; attempts: number; due: boolean }> = [];
    const unavailable: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        const { rows } = await db.pool.query<{ published: boolean; attempts: number; due: boolean }>(
          `SELECT published_at IS NOT NULL AS published, attempts, next_attempt_at <= now() AS due
             FROM "${table}" WHERE id = $1`,
          [id],
        );
        seenBeforeStart.push(rows[0]!);
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
    const counts = await relay(table, (c) => c.started === 1, {
      client,
      retryDelayMs: 300,
      onSettled: (outcome, m) => seen.push([outcome, m.deliveryCount]),
    });
    assert.deepEqual(counts, { started: 1, duplicate: 0, rejected: 0, 'retry-later': 2, ackFailures: 0 });
    assert.deepEqual(seen, [
      ['retry-later', 1],
      ['retry-later', 2],
      ['started', 3],
    ]);
    assert.deepEqual(seenBeforeStart, [
      { published: false, attempts: 0, due: true },
      { published: false, attempts: 1, due: true },
      { published: false, attempts: 2, due: true },
    ]);
    const row = (await db.rows(table)).get(id)!;
    assert.ok(row.published_at instanceof Date);
    assert.equal(row.attempts, 2);
    await waitForStatus(env.client, messageWorkflowId(okTopic, id), 'succeeded');
  });

  it('retries a database that refuses connections, logs it, and relays once it is back', async () => {
    const table = await db.table('dbdown');
    const logs: Array<{ msg: string; retryInMs?: number }> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
            logs.push(JSON.parse(line) as { msg: string });
          cb();
        },
      }),
    );
    const database = new URL(db.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    const relayRun = startRelay(table, () => false, {
      outbox: { logger, reconnectDelayMs: 200, maxReconnectDelayMs: 800 },
    });
    try {
      await listening(table);
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      );
      await waitFor('three failed reconnections logged', () =>
        Promise.resolve(
          logs.filter((l) => l.msg === 'Outbox database unavailable; retrying').length >= 3
            ? true
            : undefined,
        ),
      );
      const delays = logs
        .filter((l) => l.msg === 'Outbox database unavailable; retrying')
        .map((l) => l.retryInMs);
      assert.deepEqual(delays.slice(0, 3), [200, 400, 800], 'the delay grows to its cap');
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
      await listening(table);
      const rows = Array.from({ length: 10 }, (_, i) => ({
        id: `r-${run}-${i}`,
        topic: okTopic,
        payload: JSON.stringify({ i }),
      }));
      await db.insert(table, rows);
      await waitFor('every row published after the database came back', async () => {
        const marked = [...(await db.rows(table)).values()].filter((r) => r.published_at);
        return marked.length === rows.length ? true : undefined;
      });
      assert.ok(logs.some((l) => l.msg === 'Outbox database reachable again'));
      assert.ok(logs.some((l) => l.msg === 'Outbox LISTEN connection lost; polling meanwhile'));
      assert.ok(logs.some((l) => l.msg === 'Outbox LISTEN connection back'));
    } finally {
      relayRun.stop();
      await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
    assert.equal((await relayRun.counts).started, 10);
  });

  it('dlq bridge outbox --create-table creates the table, relays a row, and drains on SIGTERM (exit 0)', async () => {
    const table = `outbox_cli_${run}`;
    const child = spawn(
      process.execPath,
      [join(__dirname, '..', 'bin', 'dlq.js'), 'bridge', 'outbox', '--create-table', '--progress-every', '0'],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          TEMPORAL_TASK_QUEUE: env.taskQueue,
          DLQ_BRIDGE_OUTBOX_DATABASE_URL: db.url,
          DLQ_BRIDGE_OUTBOX_TABLE: table,
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await listening(table);
      const id = `cli-${run}`;
      await db.insert(table, [{ id, topic: okTopic, payload: JSON.stringify({ via: 'cli' }) }]);
      await waitFor(`row ${id} published`, async () =>
        (await db.rows(table)).get(id)?.published_at ? true : undefined,
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
      assert.match(out, /^1 started, 0 duplicate, 0 rejected, 0 given back$/m);
      await waitForStatus(env.client, messageWorkflowId(okTopic, id), 'succeeded');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('dlq bridge outbox has --help and --print-ddl, refuses bad flags and variables (exit 1) and an unreachable database (exit 2)', async () => {
    const cliEnv = { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue };
    const help = await runCliCaptured(cliEnv, ['bridge', 'outbox', '--help']);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /DLQ_BRIDGE_OUTBOX_DATABASE_URL/);
    const ddl = await runCliCaptured(cliEnv, [
      'bridge',
      'outbox',
      '--print-ddl',
      '--table',
      'app.events_outbox',
    ]);
    assert.equal(ddl.code, 0, ddl.err);
    assert.match(ddl.out, /CREATE TABLE IF NOT EXISTS "app"\."events_outbox"/);
    const bad = await runCliCaptured(cliEnv, [
      'bridge',
      'outbox',
      '--database-url',
      'mysql://x',
      '--table',
      'Bad-Name',
      '--batch',
      '0',
      '--poll-every',
      'soon',
      '--max-in-flight',
      '5000',
    ]);
    assert.equal(bad.code, 1, bad.err);
    for (const flag of ['--database-url', '--table', '--batch', '--poll-every', '--max-in-flight'])
      assert.match(bad.err, new RegExp(`${flag}:`));
    const saved = { ...process.env };
    try {
      process.env.DLQ_BRIDGE_OUTBOX_DATABASE_URL = db.url;
      process.env.DLQ_BRIDGE_OUTBOX_BATCH = 'many';
      process.env.DLQ_BRIDGE_OUTBOX_LISTEN = 'maybe';
      const badEnv = await runCliCaptured(cliEnv, ['bridge', 'outbox']);
      assert.equal(badEnv.code, 1, badEnv.err);
      assert.match(badEnv.err, /DLQ_BRIDGE_OUTBOX_BATCH: must be a whole number/);
      assert.match(badEnv.err, /DLQ_BRIDGE_OUTBOX_LISTEN: must be true or false/);
      assert.doesNotMatch(badEnv.err, /DATABASE_URL/, 'a valid variable is not reported');
      // The flag wins over its variable.
      const flagWins = await runCliCaptured(cliEnv, ['bridge', 'outbox', '--batch', '0']);
      assert.match(flagWins.err, /--batch: must be at least 1/);
      delete process.env.DLQ_BRIDGE_OUTBOX_BATCH;
      delete process.env.DLQ_BRIDGE_OUTBOX_LISTEN;
      const missing = await runCliCaptured(cliEnv, ['bridge', 'outbox', '--table', 'no_such_outbox']);
      assert.equal(missing.code, 1, missing.err);
      assert.match(missing.err, /no_such_outbox does not exist.*--print-ddl/);
    } finally {
      process.env = saved;
    }
    const down = await runCliCaptured(cliEnv, [
      'bridge',
      'outbox',
      '--database-url',
      'postgres://postgres:secret@127.0.0.1:1/nothing',
    ]);
    assert.equal(down.code, 2, down.err);
    assert.match(down.err, /PostgreSQL postgres:\/\/…@127\.0\.0\.1:1\/nothing/);
    assert.doesNotMatch(down.err, /secret/, 'the password is not printed');
  });
});
