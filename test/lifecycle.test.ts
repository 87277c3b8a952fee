/**
 * The message lifecycle against a real server: every class, repair, discard, duplicates, stages, re-drive,
 * guards.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { openTestEnv, recordHistory, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError, TemporaryError } from '../src/contract/errors';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqStatus,
  DlqTopic,
} from '../src/contract/search-attributes';
import type { MessageOutcome } from '../src/contract/types';

let env: TestEnv;
const stageRuns = new Map<string, number>();
const count = (key: string) => stageRuns.set(key, (stageRuns.get(key) ?? 0) + 1);
const healthy = new Set<string>();

const handlers = [
  defineHandler({
    topic: 'orders',
    schema: z.object({ orderId: z.string(), quantity: z.number().int().positive() }),
    handle: ({ payload }) => ({ ok: payload.orderId }),
  }),
  defineHandler({
    topic: 'flaky',
    retry: { initialInterval: '100ms', maximumAttempts: 3, maximumInterval: '200ms' },
    redrive: { enabled: false },
    handle: ({ envelope }) => {
      count(`flaky:${envelope.id}`);
      throw new TemporaryError('upstream 503 for request 12345', { reason: 'HTTP_503' });
    },
  }),
  defineHandler({
    topic: 'gone',
    handle: () => {
      throw new PermanentError('customer 42 does not exist', { reason: 'HTTP_404' });
    },
  }),
  defineHandler({
    topic: 'secure',
    handle: () => {
      throw Object.assign(new Error('Unauthorized'), { status: 401 });
    },
    redrive: { baseDelay: '200ms' },
  }),
  defineHandler({
    topic: 'slow',
    timeout: '300ms',
    retry: { initialInterval: '100ms', maximumAttempts: 2 },
    redrive: { enabled: false },
    handle: async ({ signal }) => {
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 5000);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(signal.reason as Error);
        });
      });
      return 'late';
    },
  }),
  defineHandler({
    topic: 'pipeline',
    retry: { initialInterval: '100ms', maximumAttempts: 2 },
    redrive: { enabled: false },
    stages: [
      { name: 'extract', run: ({ envelope }) => (count(`extract:${envelope.id}`), { rows: 3 }) },
      {
        name: 'transform',
        run: ({ payload, envelope, previous, idempotencyKey }) => {
          count(`transform:${envelope.id}`);
          count(`key:${idempotencyKey}`);
          if ((payload as { mode?: string }).mode !== 'fixed')
            throw new PermanentError('unsupported mode "broken"');
          return { rows: (previous.extract as { rows: number }).rows * 2 };
        },
      },
      { name: 'load', run: ({ envelope, previous }) => (count(`load:${envelope.id}`), previous.transform) },
    ],
  }),
  // Runs until it is aborted: a stage that is in flight when the workflow is cancelled.
  ...(['local', 'activity'] as const).map((firstAttempt) =>
    defineHandler({
      topic: `hang-${firstAttempt}`,
      firstAttempt,
      timeout: '30s',
      retry: { maximumAttempts: 1 },
      handle: ({ envelope, signal }) => {
        count(`hang:${envelope.id}`);
        return new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            count(`aborted:${envelope.id}`);
            reject(signal.reason as Error);
          }),
        );
      },
    }),
  ),
  defineHandler({
    topic: 'rate-limited',
    retry: { initialInterval: '50ms', maximumAttempts: 3 },
    handle: ({ envelope, attempt }) => {
      count(`rate-limited:${envelope.id}`);
      if (attempt === 1)
        throw new TemporaryError('429 from the partner API', { reason: 'HTTP_429', retryAfter: '700ms' });
      return { attempt };
    },
  }),
  defineHandler({
    topic: 'redrive',
    retry: { initialInterval: '100ms', maximumAttempts: 2 },
    redrive: { baseDelay: '500ms', multiplier: 1, maxRedrives: 3 },
    handle: ({ envelope }) => {
      count(`redrive:${envelope.id}`);
      if (!healthy.has(envelope.id))
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return 'ok';
    },
  }),
];

async function sa(workflowId: string) {
  const d = await env.client.workflow.getHandle(workflowId).describe();
  const get = <T>(key: { name: string }) => d.typedSearchAttributes.get(key as never) as T | undefined;
  return {
    topic: get<string>(DlqTopic),
    status: get<string>(DlqStatus),
    errorClass: get<string>(DlqErrorClass),
    reason: get<string>(DlqReason),
    fingerprint: get<string>(DlqFingerprint),
    attempts: get<number>(DlqAttempts),
    parkCount: get<number>(DlqParkCount),
    parkedAt: get<Date>(DlqParkedAt),
  };
}

async function send(topic: string, payload: unknown, id = uid()) {
  const result = await publish(env.client, { id, topic, payload }, { taskQueue: env.taskQueue });
  assert.ok(result.ok && !result.duplicate, 'published');
  return result.workflowId;
}

before(async () => {
  env = await openTestEnv();
  await env.startWorker(handlers);
});
after(async () => env.close());

describe('classification paths', () => {
  it('a message that succeeds at once ends succeeded with no DLQ search attributes but its topic', async () => {
    const id = await send('orders', { orderId: 'o-1', quantity: 2 });
    const outcome = (await env.client.workflow.getHandle(id).result()) as MessageOutcome;
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.stageResults, { handle: { ok: 'o-1' } });
    const attrs = await sa(id);
    assert.equal(attrs.topic, 'orders');
    assert.equal(attrs.status, undefined);
    assert.equal(attrs.errorClass, undefined);
    await recordHistory(env.client, id, 'succeeded');
  });

  it('a temporary failure is retried until the budget is spent, then parks with RETRY_EXHAUSTED', async () => {
    const id = await send('flaky', { n: 1 });
    const state = await waitForStatus(env.client, id, 'dead');
    const dl = state.deadLetter!;
    assert.equal(dl.errorClass, 'temporary');
    assert.equal(dl.errorType, 'TemporaryError');
    assert.equal(dl.reason, 'RETRY_EXHAUSTED');
    assert.equal(dl.causeReason, 'HTTP_503');
    assert.equal(dl.attempts, 3);
    assert.equal(stageRuns.get(`flaky:${dl.messageId}`), 3);
    assert.equal(dl.nextRedriveAt, undefined, 're-drive disabled for this topic');
    assert.ok(dl.stack && dl.stack.includes('TemporaryError'));
    assert.ok(dl.workerIdentity);
    await recordHistory(env.client, id, 'parked-temporary');
  });

  it('a permanent failure parks at once after one attempt', async () => {
    const id = await send('gone', {});
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'permanent');
    assert.equal(dl.reason, 'HTTP_404');
    assert.equal(dl.attempts, 1);
    assert.equal(dl.nextRedriveAt, undefined);
  });

  it('a schema failure parks at once as validation with the zod issues', async () => {
    const id = await send('orders', { orderId: 'o-2', quantity: 0 });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'validation');
    assert.equal(dl.reason, 'VALIDATION_ERROR');
    assert.equal(dl.attempts, 1);
    const issues = dl.details as Array<{ path: string[] }>;
    assert.deepEqual(issues[0]?.path, ['quantity']);
  });

  it('an HTTP 401 parks at once as security and is never re-driven', async () => {
    const id = await send('secure', { token: 'x' });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'security');
    assert.equal(dl.reason, 'HTTP_401');
    assert.equal(dl.attempts, 1);
    assert.equal(dl.nextRedriveAt, undefined, 'security failures get no re-drive even with a policy');
    await new Promise((r) => setTimeout(r, 800)); // longer than the topic's re-drive delay
    const later = await env.client.workflow.getHandle(id).query(stateQuery);
    assert.equal(later.status, 'dead');
    assert.equal(later.cycle, 0);
    await recordHistory(env.client, id, 'security-parked');
  });

  it('a stage that exceeds its timeout parks as timeout after its attempts', async () => {
    const id = await send('slow', {});
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'timeout');
    assert.equal(dl.reason, 'RETRY_EXHAUSTED');
    assert.equal(dl.causeReason, 'TIMEOUT');
    assert.equal(dl.attempts, 2);
    await recordHistory(env.client, id, 'parked-timeout');
  });

  it('a topic with no handler parks as temporary NO_HANDLER, due for a re-drive (the right worker may come)', async () => {
    const id = await send('nobody-home', { a: 1 });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'temporary');
    assert.equal(dl.reason, 'NO_HANDLER');
    assert.equal(dl.stage, '(route)');
    assert.ok(dl.nextRedriveAt, 'a NO_HANDLER message is re-driven automatically');
    await recordHistory(env.client, id, 'no-handler');
  });
});

describe('operator actions', () => {
  it('fix-and-retry with a merge patch ends recovered, with every search attribute right at each step', async () => {
    const id = await send('orders', { orderId: 'o-3', quantity: -1, note: 'x' });
    const parked = await waitForStatus(env.client, id, 'dead');
    const dead = await waitFor('dead attributes', async () =>
      (await sa(id)).status === 'dead' ? sa(id) : undefined,
    );
    assert.equal(dead.topic, 'orders');
    assert.equal(dead.errorClass, 'validation');
    assert.equal(dead.reason, 'VALIDATION_ERROR');
    assert.equal(dead.fingerprint, parked.deadLetter!.fingerprint);
    assert.equal(dead.attempts, 1);
    assert.equal(dead.parkCount, 1);
    assert.ok(dead.parkedAt instanceof Date);

    const handle = env.client.workflow.getHandle(id);
    const verdict = await handle.executeUpdate(repairUpdate, {
      args: [{ patch: { quantity: 3, note: null }, reason: 'fix quantity', operator: 'alice' }],
    });
    assert.deepEqual(verdict, { accepted: true, workflowId: id, payloadVersion: 2 });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.equal(outcome.payloadVersion, 2);
    const retry = outcome.audit.find((a) => a.action === 'retry')!;
    assert.equal(retry.operator, 'alice');
    assert.equal(retry.reason, 'fix quantity');
    assert.equal(retry.via, 'update');
    assert.equal(retry.payloadVersionBefore, 1);
    assert.equal(retry.payloadVersionAfter, 2);
    const final = await handle.query(stateQuery);
    assert.deepEqual(final.envelope.payload, { orderId: 'o-3', quantity: 3 });
    const attrs = await sa(id);
    assert.equal(attrs.status, 'recovered');
    assert.equal(attrs.errorClass, 'validation', 'the last failure stays searchable');
    await recordHistory(env.client, id, 'recovered-after-patch');
  });

  it('an invalid repair is rejected with reasons, and the message stays dead with the rejection audited', async () => {
    const id = await send('orders', { orderId: 'o-4', quantity: 0 });
    await waitForStatus(env.client, id, 'dead');
    const handle = env.client.workflow.getHandle(id);
    // Rejected by the schema (after the synchronous validator): still dead, audited.
    await assert.rejects(
      handle.executeUpdate(repairUpdate, { args: [{ patch: { quantity: 'many' }, operator: 'bob' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /quantity/.test(String((err.cause as Error).message)),
    );
    // Rejected by the validator: a patch that is not an object.
    await assert.rejects(
      handle.executeUpdate(repairUpdate, { args: [{ patch: [1, 2] as never }] }),
      WorkflowUpdateFailedError,
    );
    // The same bad repair through the signal is recorded as rejected.
    await handle.signal(retrySignal, { patch: { quantity: -5 }, operator: 'carol' });
    const state = await waitFor('signal rejection', async () => {
      const s = await handle.query(stateQuery);
      return s.audit.filter((a) => a.action === 'retry-rejected').length >= 2 ? s : undefined;
    });
    assert.equal(state.status, 'dead');
    assert.equal(state.payloadVersion, 1);
    assert.deepEqual(state.envelope.payload, { orderId: 'o-4', quantity: 0 });
    const rejections = state.audit.filter((a) => a.action === 'retry-rejected');
    assert.deepEqual(
      rejections.map((r) => [r.via, r.operator]),
      [
        ['update', 'bob'],
        ['signal', 'carol'],
      ],
    );
    assert.ok(rejections[1]!.problems!.some((p) => p.includes('quantity')));
    assert.equal((await sa(id)).status, 'dead');
    await recordHistory(env.client, id, 'repair-rejected');
  });

  it('discard keeps the dead letter and the audit trail as the result', async () => {
    const id = await send('gone', { customer: 42 });
    await waitForStatus(env.client, id, 'dead');
    const handle = env.client.workflow.getHandle(id);
    await handle.signal(discardSignal, { reason: '' }); // rejected: empty reason
    await handle.signal(discardSignal, { reason: 'customer deleted upstream', operator: 'dave' });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'discarded');
    assert.equal(outcome.deadLetter?.reason, 'HTTP_404');
    assert.deepEqual(outcome.deadLetter?.payload, { customer: 42 });
    const actions = outcome.audit.map((a) => a.action);
    assert.deepEqual(actions, ['parked', 'discard-rejected', 'discard']);
    assert.equal(outcome.audit[2]?.operator, 'dave');
    assert.equal((await sa(id)).status, 'discarded');
    await recordHistory(env.client, id, 'discarded');
  });

  it('a duplicate publish starts nothing and returns the existing ids', async () => {
    const msgId = uid();
    const first = await publish(
      env.client,
      { id: msgId, topic: 'flaky', payload: {} },
      { taskQueue: env.taskQueue },
    );
    assert.ok(first.ok && !first.duplicate);
    const second = await publish(
      env.client,
      { id: msgId, topic: 'flaky', payload: { other: true } },
      { taskQueue: env.taskQueue },
    );
    assert.ok(second.ok && second.duplicate);
    assert.equal(second.workflowId, first.workflowId);
    assert.equal(second.runId, first.runId);
    await waitForStatus(env.client, first.workflowId, 'dead');
    assert.equal(stageRuns.get(`flaky:${msgId}`), 3, 'processed by one workflow only');
    // Still a duplicate after the workflow closed.
    await env.client.workflow.getHandle(first.workflowId).signal(discardSignal, { reason: 'test' });
    await env.client.workflow.getHandle(first.workflowId).result();
    const third = await publish(
      env.client,
      { id: msgId, topic: 'flaky', payload: {} },
      { taskQueue: env.taskQueue },
    );
    assert.ok(third.ok && third.duplicate);
    assert.equal(stageRuns.get(`flaky:${msgId}`), 3);
  });
});

describe('stages', () => {
  it('a 3-stage message that fails at stage 2 resumes at stage 2 after repair', async () => {
    const msgId = uid();
    const id = await send('pipeline', { mode: 'broken' }, msgId);
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.stage, 'transform');
    assert.equal(stageRuns.get(`extract:${msgId}`), 1);
    await env.client.workflow
      .getHandle(id)
      .executeUpdate(repairUpdate, { args: [{ patch: { mode: 'fixed' } }] });
    const outcome = (await env.client.workflow.getHandle(id).result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.equal(stageRuns.get(`extract:${msgId}`), 1, 'stage 1 did not run again');
    assert.equal(stageRuns.get(`transform:${msgId}`), 2);
    assert.equal(stageRuns.get(`load:${msgId}`), 1);
    assert.deepEqual(outcome.stageResults.load, { rows: 6 });
    assert.equal(stageRuns.get(`key:${id}:transform:0`), 1);
    assert.equal(stageRuns.get(`key:${id}:transform:1`), 1);
    await recordHistory(env.client, id, 'stages-resumed');
  });
});

describe('cancellation', () => {
  const cancelsInFlight = async (topic: 'hang-local' | 'hang-activity') => {
    const id = await send(topic, {});
    const messageId = id.split(':').at(-1)!;
    const handle = env.client.workflow.getHandle(id);
    await waitFor('stage started', () =>
      Promise.resolve(stageRuns.get(`hang:${messageId}`) ? true : undefined),
    );
    await handle.cancel();
    await assert.rejects(
      handle.result(),
      (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure,
    );
    // An activity attempt learns of the cancellation through the heartbeats it sends while the stage runs.
    await waitFor('the running attempt to see its abort signal', () =>
      Promise.resolve(stageRuns.get(`aborted:${messageId}`) === 1 ? true : undefined),
    );
    assert.equal(stageRuns.get(`hang:${messageId}`), 1, 'the stage never ran again');
    const state = await handle.query(stateQuery).catch(() => undefined);
    assert.notEqual(state?.status, 'dead');
    assert.equal((await sa(id)).status, 'cancelled', 'a cancelled message records its resolution');
    return id;
  };

  it('cancelling a message during its local first attempt cancels the attempt and the workflow; it never parks', async () => {
    const id = await cancelsInFlight('hang-local');
    await recordHistory(env.client, id, 'cancelled-in-local-attempt');
  });

  it('cancelling a message while its stage runs as an activity cancels the workflow; it never parks', async () => {
    const id = await cancelsInFlight('hang-activity');
    const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    assert.ok(
      events.some((e) => e.activityTaskCancelRequestedEventAttributes),
      'the cancel reached the activity task',
    );
  });
});

describe('retries after a local first attempt', () => {
  it('wait what the failure asked for (Retry-After) before the first activity retry, then number attempts on', async () => {
    const id = await send('rate-limited', {});
    const handle = env.client.workflow.getHandle(id);
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(outcome.stageResults.handle, { attempt: 2 }, 'the first activity attempt is attempt 2');
    const events = (await handle.fetchHistory()).events ?? [];
    const timers = events.flatMap((e) =>
      e.timerStartedEventAttributes ? [e.timerStartedEventAttributes] : [],
    );
    assert.equal(timers.length, 1);
    assert.equal(tsToMs(timers[0]!.startToFireTimeout), 700, 'the timer waits the Retry-After delay');
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
    assert.equal(scheduled.length, 1);
    await recordHistory(env.client, id, 'retry-after-local-attempt');
  });
});

describe('automatic re-drive', () => {
  it('re-drives a parked temporary failure after a delay and recovers once the dependency is back', async () => {
    const msgId = uid();
    const id = await send('redrive', {}, msgId);
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(dl.errorClass, 'temporary');
    assert.ok(dl.nextRedriveAt);
    healthy.add(msgId);
    const outcome = (await env.client.workflow.getHandle(id).result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    const redrive = outcome.audit.find((a) => a.action === 'redrive');
    assert.equal(redrive?.via, 'auto');
    assert.equal((await sa(id)).status, 'recovered');
    await recordHistory(env.client, id, 'redrive-recovered');
  });
});
