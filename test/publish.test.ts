/** publishMany against the real server: bounded concurrency, per-message results, one bad message stops nothing. */
import { after, before, describe, it } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { openTestEnv, uid } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish, publishMany, PublishError } from '../src/client/publish';
import type { PublishResult } from '../src/client/publish';

let env: TestEnv;
before(async () => {
  env = await openTestEnv();
  await env.startWorker([defineHandler({ topic: 'bulk', handle: () => 'ok' })]);
});
after(async () => env.close());

describe('publishMany', () => {
  it('publishes an array; bad and duplicate messages get their own results in input order', async () => {
    const dup = uid();
    const messages = [
      { id: uid(), topic: 'bulk', payload: 1 },
      { id: 'bad id with spaces', topic: 'bulk', payload: 2 },
      { id: dup, topic: 'bulk', payload: 3 },
      { id: dup, topic: 'bulk', payload: 4 },
      { id: uid(), topic: 'bulk', payload: { big: 'x'.repeat(300) } },
      { id: uid(), topic: 'bulk', payload: 5 },
    ];
    const seen: number[] = [];
    const results = await publishMany(env.client, messages, {
      taskQueue: env.taskQueue,
      concurrency: 1, // sequential, so the duplicate is deterministic
      maxPayloadBytes: 200,
      onResult: (_r, i) => seen.push(i),
    });
    assert.equal(results.length, 6);
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5]);
    const kind = (r: PublishResult) => (!r.ok ? r.error.code : r.duplicate ? 'duplicate' : 'started');
    assert.deepEqual(results.map(kind), [
      'started',
      'INVALID_ENVELOPE',
      'started',
      'duplicate',
      'PAYLOAD_TOO_LARGE',
      'started',
    ]);
    const bad = results[1]!;
    assert.ok(!bad.ok && bad.error.problems[0]!.startsWith('id:'));
    for (const r of results) if (r.ok) await env.client.workflow.getHandle(r.workflowId).result();
  });

  it('publishes an async stream with bounded concurrency', async () => {
    async function* stream() {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setImmediate(r)); // a real asynchronous source
        yield { id: uid(), topic: 'bulk', payload: { i } };
      }
    }
    const results = await publishMany(env.client, stream(), { taskQueue: env.taskQueue, concurrency: 8 });
    assert.equal(results.length, 40);
    assert.ok(results.every((r) => r.ok && !r.duplicate));
  });

  it('publish throws PublishError for a bad envelope and starts nothing', async () => {
    const id = uid();
    await assert.rejects(
      publish(env.client, { id, topic: 'bad:topic', payload: 1 }, { taskQueue: env.taskQueue }),
      (err: unknown) => err instanceof PublishError && err.code === 'INVALID_ENVELOPE',
    );
    // describe() reads the execution itself (strongly consistent), unlike a visibility count.
    await assert.rejects(
      env.client.workflow.getHandle(`msg:bad:topic:${id}`).describe(),
      WorkflowNotFoundError,
    );
  });
});
