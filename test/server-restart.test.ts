/**
 * Server restart: this test runs its own dev server on a SQLite file. Messages park, the server stops,
 * producers publish during the outage (refused with a clear error, never silently lost), the server starts
 * again on the same file, and the parked messages are still listed by DlqStatus="dead" and can be retried
 * and discarded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { freePort, startDevServer } from '../src/ops/dev-server';
import type { DevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { defineHandler } from '../src/worker/handlers';
import { publish, PublishError } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { discardSignal, repairUpdate } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import type { MessageOutcome } from '../src/contract/types';
import { openTestEnv, requireEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';

const PARKED = 20;
const OUTAGE_PUBLISHES = 5;

const handlers = [
  defineHandler({
    topic: 'restart-orders',
    handle: ({ payload }) => {
      if ((payload as { fixed?: boolean }).fixed !== true)
        throw new PermanentError('order references an unknown customer', { reason: 'HTTP_404' });
      return 'shipped';
    },
  }),
];

let dir: string;
let server: DevServer | undefined;
let port: number;

async function startServer(): Promise<DevServer> {
  const started = await startDevServer({
    cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
    port,
    uiPort: false,
    dbFilename: join(dir, 'temporal.db'),
  });
  // --search-attribute only applies to a fresh database: register them again at every start.
  const connection = await Connection.connect({ address: started.address });
  await setupServer(connection, { namespace: 'default', retention: '7d' });
  await connection.close();
  return started;
}

describe('server restart', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dlq-restart-'));
    port = await freePort();
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps parked messages across a restart, refuses publishes during the outage, and retries/discards after', async (t) => {
    const tag = uid();
    const topic = 'restart-orders';
    let env: TestEnv = await openTestEnv(server!.address);
    const taskQueue = env.taskQueue;
    await env.startWorker(handlers);
    const ids = Array.from({ length: PARKED }, (_, i) => `${tag}-${i}`);
    for (const id of ids) await publish(env.client, { id, topic, payload: { id } }, { taskQueue });
    for (const id of ids) await waitForStatus(env.client, messageWorkflowId(topic, id), 'dead');
    const deadQuery = `DlqStatus = "dead" AND TaskQueue = "${taskQueue}"`;
    await waitFor('visibility to list every parked message', async () =>
      (await env.client.workflow.count(deadQuery)).count === PARKED ? true : undefined,
    );

    // Outage: stop the worker and the server; a producer whose connection was open keeps publishing.
    const producerConnection = await Connection.connect({ address: server!.address });
    const producer = new Client({ connection: producerConnection });
    await env.close();
    await server!.stop();
    const outageIds = Array.from({ length: OUTAGE_PUBLISHES }, (_, i) => `${tag}-outage-${i}`);
    const outcomes = await Promise.all(
      outageIds.map((id) =>
        producerConnection
          .withDeadline(Date.now() + 5000, () =>
            publish(producer, { id, topic, payload: { id, fixed: true } }, { taskQueue }),
          )
          .then(
            () => ({ id, refused: undefined }),
            (err: unknown) => ({ id, refused: err }),
          ),
      ),
    );
    const refused = outcomes.filter((o) => o.refused !== undefined);
    for (const o of refused) {
      // A clear error reaches the caller: a server error, not a validation refusal and not silence.
      assert.ok(o.refused instanceof Error);
      assert.ok(!(o.refused instanceof PublishError));
      assert.ok(o.refused.message.length > 0);
    }
    const example = refused[0]?.refused as Error | undefined;
    t.diagnostic(
      `outage publishes: ${refused.length} refused of ${OUTAGE_PUBLISHES}; e.g. ${example?.name}: ${example?.message} (cause: ${(example?.cause as Error | undefined)?.message ?? '-'})`,
    );
    await producerConnection.close();

    // Restart on the same database file.
    server = await startServer();
    env = await openTestEnv(server.address);
    await env.startWorker(handlers, { TEMPORAL_TASK_QUEUE: taskQueue });
    const listed = await waitFor('the parked messages to be listed after the restart', async () => {
      const found: string[] = [];
      for await (const wf of env.client.workflow.list({ query: deadQuery })) found.push(wf.workflowId);
      return found.length === PARKED ? found : undefined;
    });
    assert.deepEqual(listed.sort(), ids.map((id) => messageWorkflowId(topic, id)).sort());

    // None vanished: a refused publish started nothing and can be sent again; an accepted one exists.
    for (const o of outcomes) {
      const handle = env.client.workflow.getHandle(messageWorkflowId(topic, o.id));
      if (o.refused !== undefined) {
        await assert.rejects(handle.describe(), WorkflowNotFoundError);
        const again = await publish(
          env.client,
          { id: o.id, topic, payload: { id: o.id, fixed: true } },
          { taskQueue },
        );
        assert.equal(again.ok && !again.duplicate, true);
      }
      assert.equal(((await handle.result()) as MessageOutcome).status, 'succeeded');
    }

    // Retry half with a repair, discard the other half.
    const [toRetry, toDiscard] = [ids.slice(0, PARKED / 2), ids.slice(PARKED / 2)];
    for (const id of toRetry) {
      await env.client.workflow
        .getHandle(messageWorkflowId(topic, id))
        .executeUpdate(repairUpdate, { args: [{ patch: { fixed: true }, operator: 'restart-test' }] });
    }
    for (const id of toDiscard) {
      await env.client.workflow
        .getHandle(messageWorkflowId(topic, id))
        .signal(discardSignal, { reason: 'customer deleted', operator: 'restart-test' });
    }
    for (const id of toRetry) {
      const outcome = (await env.client.workflow
        .getHandle(messageWorkflowId(topic, id))
        .result()) as MessageOutcome;
      assert.equal(outcome.status, 'recovered');
    }
    for (const id of toDiscard) {
      const outcome = (await env.client.workflow
        .getHandle(messageWorkflowId(topic, id))
        .result()) as MessageOutcome;
      assert.equal(outcome.status, 'discarded');
      assert.equal(outcome.deadLetter?.reason, 'HTTP_404');
    }
    await waitFor('visibility to show the resolutions', async () => {
      const recovered = await env.client.workflow.count(
        `DlqStatus = "recovered" AND TaskQueue = "${taskQueue}"`,
      );
      const discarded = await env.client.workflow.count(
        `DlqStatus = "discarded" AND TaskQueue = "${taskQueue}"`,
      );
      return recovered.count === toRetry.length && discarded.count === toDiscard.length ? true : undefined;
    });
    await env.close();
    t.diagnostic(
      `restart figures: ${JSON.stringify({ parked: PARKED, restarts: 1, outagePublishes: OUTAGE_PUBLISHES, refused: refused.length, lost: 0 })}`,
    );
  });
});
