/**
 * Seed 003's flow end to end, on the real PostgreSQL and the suite's Temporal server: a row written into the
 * outbox is relayed into a workflow, its stage fails for good, the dead letter appears in the `dead_letters`
 * table of the same database, and the operator's retry with a repaired payload resolves it there
 * (`resolved_at`, `resolution = 'recovered'`). One database of its own per run, dropped afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { PermanentError } from '../src/contract/errors';
import { retrySignal } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { ensureOutboxTable, outboxSource } from '../src/connectors/outbox';
import { runSource } from '../src/connectors/source';
import { openScratchDatabase } from './support/scratch-database';
import type { ScratchDatabase } from './support/scratch-database';

const run = uid();
const topic = `outbox-payments-${run}`;
let db: ScratchDatabase;
let env: TestEnv;
const stopRelay = new AbortController();
let relay: Promise<unknown> | undefined;

before(async () => {
  db = await openScratchDatabase('outbox_dl');
  env = await openTestEnv();
  await env.startWorker(
    [
      defineHandler({
        topic,
        handle: ({ payload }) => {
          if ((payload as { account?: string }).account === 'a-1') return 'booked';
          throw new PermanentError('unknown account', { reason: 'UNKNOWN_ACCOUNT' });
        },
      }),
    ],
    {},
    { sinks: { postgres: { connectionString: db.url } } },
  );
  await ensureOutboxTable(db.url);
  const source = outboxSource({ connectionString: db.url, pollEveryMs: 500 });
  relay = runSource(env.client, source, { taskQueue: env.taskQueue, signal: stopRelay.signal }).finally(() =>
    source.close(),
  );
});

after(async () => {
  stopRelay.abort();
  await relay?.catch(() => undefined);
  await env?.close();
  await db?.drop();
});

async function deadLetter(workflowId: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    'SELECT * FROM dead_letters WHERE workflow_id = $1',
    [workflowId],
  );
  return rows[0];
}

describe('an outbox row that fails ends in dead_letters and is resolved there', () => {
  it('parks from the outbox, shows in dead_letters, and the repaired retry marks the row recovered', async () => {
    const id = `pay-${run}`;
    // The service's business transaction: its own write and the outbox row, committed together.
    await db.pool.query('INSERT INTO dlq_outbox (id, topic, payload) VALUES ($1, $2, $3)', [
      id,
      topic,
      JSON.stringify({ account: 'a-404', amount: 42 }),
    ]);
    const workflowId = messageWorkflowId(topic, id);
    await waitForStatus(env.client, workflowId, 'dead');
    const { rows: outbox } = await db.pool.query<{ published_at: Date | null }>(
      'SELECT published_at FROM dlq_outbox WHERE id = $1',
      [id],
    );
    assert.ok(outbox[0]?.published_at, 'the outbox row is marked published once its workflow exists');

    const parked = await waitFor('the dead letter in dead_letters', () => deadLetter(workflowId));
    assert.equal(parked.reason_code, 'UNKNOWN_ACCOUNT');
    assert.equal(parked.destination, topic);
    assert.equal(Number(parked.park_count), 1);
    assert.equal(parked.resolved_at, null);
    assert.equal(parked.resolution, null);

    await env.client.workflow.getHandle(workflowId).signal(retrySignal, {
      payload: { account: 'a-1', amount: 42 },
      reason: 'account fixed',
      operator: 'ops',
    });
    await waitForStatus(env.client, workflowId, 'recovered');
    const resolved = await waitFor('the resolution in dead_letters', async () => {
      const row = await deadLetter(workflowId);
      return row?.resolved_at ? row : undefined;
    });
    assert.equal(resolved.resolution, 'recovered');
    assert.equal(resolved.reason_code, 'UNKNOWN_ACCOUNT', 'the row keeps why it failed');
  });
});
