/**
 * The end check of the bridge crash tests: every message of a topic has exactly one workflow, none is missing,
 * every workflow completed, and no stage ran twice for the same idempotency key.
 */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { messageWorkflowId } from '../../src/contract/names';
import { waitFor } from '../helpers';

export async function assertExactlyOnePerMessage(options: {
  client: Client;
  topic: string;
  ids: readonly string[];
  /** Stage runs by idempotency key, counted by the test's handler. */
  runsByKey: ReadonlyMap<string, number>;
  timeoutMs?: number;
}): Promise<void> {
  const { client, topic, ids, runsByKey } = options;
  // describe() throws for a missing workflow: none is missing.
  for (const id of ids) await client.workflow.getHandle(messageWorkflowId(topic, id)).describe();
  const query = `DlqTopic = '${topic}'`;
  await waitFor(
    'every workflow to complete',
    async () => {
      const { count } = await client.workflow.count(`${query} AND ExecutionStatus = 'Completed'`);
      return count === ids.length ? true : undefined;
    },
    options.timeoutMs ?? 120_000,
  );
  const { count } = await client.workflow.count(query);
  assert.equal(count, ids.length, 'exactly one execution per message');
  assert.equal(runsByKey.size, ids.length, 'every message ran');
  assert.deepEqual(
    [...runsByKey].filter(([, runs]) => runs !== 1),
    [],
    'no stage ran twice for the same key',
  );
}
