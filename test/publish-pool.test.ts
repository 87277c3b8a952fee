/**
 * publishMany's pool against the real server: never more than `concurrency` starts in flight, and a stream is
 * read only as fast as slots free up (it is never drained into memory). The starts are counted by a client
 * interceptor around the real start call.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { openTestEnv, uid } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publishMany } from '../src/client/publish';

let env: TestEnv;
before(async () => {
  env = await openTestEnv();
  await env.startWorker([defineHandler({ topic: 'pool', handle: () => 'ok' })]);
});
after(async () => env.close());

describe('publishMany pool', () => {
  it('keeps at most `concurrency` starts in flight and reads a stream no further ahead than that plus one', async () => {
    const stats = { inFlight: 0, maxInFlight: 0, read: 0, answered: 0, maxAhead: 0 };
    const counting: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        stats.inFlight++;
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
        try {
          return await next(input);
        } finally {
          stats.inFlight--;
        }
      },
    };
    const client = new Client({
      connection: env.connection,
      namespace: env.client.options.namespace,
      interceptors: { workflow: [counting] },
    });
    async function* stream() {
      for (let i = 0; i < 48; i++) {
        await new Promise((r) => setImmediate(r));
        stats.read++;
        stats.maxAhead = Math.max(stats.maxAhead, stats.read - stats.answered);
        yield { id: uid(), topic: 'pool', payload: { i } };
      }
    }
    const results = await publishMany(client, stream(), {
      taskQueue: env.taskQueue,
      concurrency: 4,
      onResult: () => stats.answered++,
    });
    assert.equal(results.length, 48);
    assert.ok(results.every((r) => r.ok && !r.duplicate));
    assert.equal(stats.maxInFlight, 4, 'the pool was full and never fuller');
    assert.ok(stats.maxAhead <= 4 + 1, `read ${stats.maxAhead} messages ahead of the answered ones`);
  });

  it('stops reading when onResult throws, and throws that error', async () => {
    let read = 0;
    async function* endless() {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        read++;
        yield { id: 'not valid', topic: 'pool', payload: read }; // refused at the edge: no server call
      }
    }
    await assert.rejects(
      publishMany(env.client, endless(), {
        taskQueue: env.taskQueue,
        concurrency: 2,
        onResult: (_r, i) => {
          if (i === 3) throw new RangeError('stop at 3');
        },
      }),
      RangeError,
    );
    assert.ok(read < 10, `read ${read} messages`);
  });
});
