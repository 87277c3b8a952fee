/**
 * The outbox relay while Temporal is down: this test runs its own dev server (SQLite file), relays 300 outbox
 * rows, stops the server for 10 s mid-stream and starts it again on the same file. Each start has a 1 s gRPC
 * deadline, so that starts fail during the outage instead of waiting in the client's own retries (which hold a
 * start through a 10 s outage: without the deadline nothing is given back at all). During the outage at most
 * the batch in flight when the server stopped is marked published; the rows whose start failed stay
 * unpublished with `attempts` and a back-off; afterwards the relay catches up and every row has exactly one
 * workflow. No worker runs: the workflows only have to exist.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { freePort, startDevServer } from '../src/ops/dev-server';
import type { DevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { messageWorkflowId } from '../src/contract/names';
import { runSource } from '../src/connectors/source';
import type { SourceCounts } from '../src/connectors/source';
import { outboxSource } from '../src/connectors/outbox';
import { requireEnv, uid, waitFor } from './helpers';
import { openOutboxDb } from './support/postgres';
import type { OutboxDb } from './support/postgres';

const TOTAL = 300;
const OUTAGE_MS = 10_000;
const BATCH = 8;
let dir: string;
let port: number;
let server: DevServer | undefined;
let db: OutboxDb;

async function startServer(): Promise<DevServer> {
  const started = await startDevServer({
    cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
    port,
    uiPort: false,
    dbFilename: join(dir, 'temporal.db'),
  });
  const connection = await Connection.connect({ address: started.address });
  await setupServer(connection, { namespace: 'default', retention: '7d' });
  await connection.close();
  return started;
}

before(async () => {
  db = await openOutboxDb('outage');
  dir = mkdtempSync(join(tmpdir(), 'dlq-outbox-outage-'));
  port = await freePort();
  server = await startServer();
});
after(async () => {
  await server?.stop();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const publishedIds = async (table: string): Promise<Set<string>> =>
  new Set([...(await db.rows(table))].filter(([, row]) => row.published_at !== null).map(([id]) => id));

describe('outbox relay during a Temporal outage', () => {
  it('marks nothing published that it did not start while the server is down, then catches up', async () => {
    const run = uid();
    const topic = `outbox-outage-${run}`;
    const table = await db.table('outage');
    await db.insert(
      table,
      Array.from({ length: TOTAL }, (_, i) => ({ id: `o-${i}`, topic, payload: JSON.stringify({ i }) })),
    );
    const connection = await Connection.connect({ address: server!.address });
    const deadline: WorkflowClientInterceptor = {
      startWithDetails: (input, next) => connection.withDeadline(Date.now() + 1000, () => next(input)),
    };
    const client = new Client({ connection, interceptors: { workflow: [deadline] } });
    const source = outboxSource({ connectionString: db.url, table, batch: BATCH, pollEveryMs: 250 });
    const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
    const stop = new AbortController();
    const bridging = runSource(client, source, {
      taskQueue: `outage-${run}`,
      maxInFlight: BATCH,
      retryDelayMs: 250,
      maxRetryDelayMs: 2000,
      signal: stop.signal,
      onSettled: (outcome) => live[outcome]++,
    });
    try {
      await waitFor('a third of the rows published', async () =>
        (await publishedIds(table)).size >= TOTAL / 3 ? true : undefined,
      );
      await server!.stop();
      server = undefined;
      const publishedAtStop = await publishedIds(table);
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      const publishedInOutage = await publishedIds(table);
      const newlyMarked = [...publishedInOutage].filter((id) => !publishedAtStop.has(id));
      // Starts already on their way when the server stopped may have landed (their batch commits them);
      // nothing else can be marked.
      assert.ok(
        newlyMarked.length <= BATCH,
        `${newlyMarked.length} marked during the outage (at most a batch)`,
      );
      const { rows: backedOff } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${table}" WHERE published_at IS NULL AND attempts > 0`,
      );
      const failedDuringOutage = backedOff[0]!.n;
      assert.ok(
        live['retry-later'] > 0 && failedDuringOutage > 0,
        'starts failed: rows wait with a back-off',
      );
      server = await startServer();
      await waitFor(
        'the relay to catch up',
        async () => ((await publishedIds(table)).size === TOTAL ? true : undefined),
        90_000,
      );
      process.stdout.write(
        `# outage: ${newlyMarked.length} marked during it, ${failedDuringOutage} rows backed off; counts ${JSON.stringify(live)}\n`,
      );
    } finally {
      stop.abort();
      await bridging.catch(() => undefined);
      await source.close();
    }
    const counts = await bridging;
    assert.ok(counts.started <= TOTAL && counts.started + counts.duplicate === TOTAL, JSON.stringify(counts));
    for (let i = 0; i < TOTAL; i++)
      await client.workflow.getHandle(messageWorkflowId(topic, `o-${i}`)).describe();
    await waitFor('visibility to count every row once', async () =>
      (await client.workflow.count(`DlqTopic = '${topic}'`)).count === TOTAL ? true : undefined,
    );
    await connection.close();
  });
});
