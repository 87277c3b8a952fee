/**
 * Reliability of the core on a real server: operator actions that race, idempotency keys across
 * re-drives, users' own failure types, Temporal's size limits, workers with different handler sets, and the
 * Web UI explanation. Each test was seen to fail against the code before the fix it guards (see the closing
 * notes of the change that added it).
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { openTestEnv, recordHistory, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import { DlqReason, DlqStatus } from '../src/contract/search-attributes';
import type { MessageOutcome, PayloadVerdict } from '../src/contract/types';

let env: TestEnv;
const runs = new Map<string, number>();
const keys = new Map<string, Set<string>>();
const count = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);

/** `validatePayload` of the racing worker: blocks until released, so a second action arrives meanwhile. */
let gate: { opened: Promise<void>; open: () => void; entered: number } = newGate();
function newGate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open, entered: 0 };
}

class QuotaGone extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuotaGone';
  }
}

const orderSchema = z.object({ orderId: z.string(), quantity: z.number().int().positive() });

const handlers = [
  defineHandler({
    topic: 'race',
    schema: orderSchema,
    handle: ({ payload }) => ({ quantity: payload.quantity }),
  }),
  defineHandler({
    topic: 'hangs-after-commit',
    timeout: '1s',
    firstAttempt: 'activity',
    retry: { maximumAttempts: 1 },
    redrive: { baseDelay: '300ms', multiplier: 1, maxRedrives: 2 },
    handle: async ({ envelope, idempotencyKey }) => {
      count(`hang:${envelope.id}`);
      const seen = keys.get(envelope.id) ?? new Set<string>();
      seen.add(idempotencyKey);
      keys.set(envelope.id, seen);
      // Committed downstream, then never answers: the attempt times out.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    },
  }),
  defineHandler({
    topic: 'user-failure',
    retry: { initialInterval: '50ms', maximumAttempts: 4, nonRetryableErrorTypes: ['QuotaGone'] },
    handle: ({ envelope, payload }) => {
      count(`user:${envelope.id}`);
      const kind = (payload as { kind: string }).kind;
      if (kind === 'bad-input')
        throw ApplicationFailure.nonRetryable('customer record is malformed', 'BadInput', { field: 'vatId' });
      if (kind === 'quota') throw new QuotaGone('the monthly quota is spent');
      throw ApplicationFailure.retryable('partner busy', 'PartnerBusy', { queue: 7 });
    },
  }),
  defineHandler({
    topic: 'huge-result',
    handle: () => ({ blob: 'x'.repeat(3 * 1024 * 1024) }),
  }),
  defineHandler({
    topic: 'long-reason',
    handle: () => {
      throw new PermanentError('the partner refused', { reason: `partner said: ${'no '.repeat(1700)}` });
    },
  }),
  defineHandler({
    topic: 'always-refused',
    handle: () => {
      throw new PermanentError('the partner refuses every version', { reason: 'HTTP_409' });
    },
  }),
];

/** Worker of the `race` topic's validation: blocks until released; throws when `unavailable` is set. */
let validationUnavailable = false;
async function blockingValidatePayload(input: { topic: string; payload: unknown }): Promise<PayloadVerdict> {
  if (validationUnavailable) throw new Error('schema registry down');
  gate.entered += 1;
  await gate.opened;
  const result = orderSchema.safeParse(input.payload);
  return result.success ? { problems: [] } : { problems: ['payload.quantity: must be positive'] };
}

/** A repair that no worker could validate is refused to its sender, and the message stays as it was. */
async function refusedUnvalidated(client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  await assert.rejects(
    handle.executeUpdate(repairUpdate, { args: [{ patch: { quantity: 1 } }] }),
    (err: unknown) =>
      err instanceof WorkflowUpdateFailedError && /could not be validated/.test(String(err.cause?.message)),
  );
  const state = await handle.query(stateQuery);
  assert.equal(state.status, 'dead');
  assert.equal(state.payloadVersion, 1);
}

async function send(topic: string, payload: unknown, id = uid()) {
  const result = await publish(
    env.client,
    { id, topic, payload },
    { taskQueue: env.taskQueue, maxPayloadBytes: 512 * 1024 },
  );
  assert.ok(result.ok && !result.duplicate, 'published');
  return result.workflowId;
}

before(async () => {
  env = await openTestEnv();
  await env.startWorker(
    handlers,
    { DLQ_MAX_REPAIR_CYCLES: '40', DLQ_MAX_PAYLOAD_BYTES: String(512 * 1024) },
    {
      extraActivities: { validatePayload: blockingValidatePayload },
    },
  );
});
after(async () => env.close());

describe('operator actions that race', () => {
  it('a repair sent while a signalled retry is being checked is rejected to its sender; a discard then is recorded as not applied', async () => {
    gate = newGate();
    const id = await send('race', { orderId: 'r-1', quantity: 0 });
    await waitForStatus(env.client, id, 'dead');
    const handle = env.client.workflow.getHandle(id);
    await handle.signal(retrySignal, { patch: { quantity: 2 }, operator: 'signal-op' });
    await waitFor('the signalled retry to be checked', () =>
      Promise.resolve(gate.entered > 0 ? true : undefined),
    );
    await assert.rejects(
      handle.executeUpdate(repairUpdate, { args: [{ patch: { quantity: 9 }, operator: 'update-op' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /already being applied/.test(String(err.cause?.message)),
    );
    await handle.signal(discardSignal, { reason: 'too late', operator: 'discard-op' });
    gate.open();
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.deepEqual(outcome.payload, { orderId: 'r-1', quantity: 2 }, 'the signalled payload ran');
    assert.deepEqual(outcome.stageResults, { handle: { quantity: 2 } });
    const ignored = outcome.audit.find((a) => a.action === 'ignored');
    assert.ok(ignored?.problems?.[0]?.startsWith('discard not applied'), JSON.stringify(outcome.audit));
    assert.equal(outcome.audit.filter((a) => a.action === 'discard').length, 0);
    await recordHistory(env.client, id, 'signal-retry-accepted');
  });

  it('an accepted repair runs, even when a signalled retry arrives while its payload is checked', async () => {
    gate = newGate();
    const id = await send('race', { orderId: 'r-2', quantity: 0 });
    await waitForStatus(env.client, id, 'dead');
    const handle = env.client.workflow.getHandle(id);
    const repair = handle.executeUpdate(repairUpdate, {
      args: [{ patch: { quantity: 5 }, operator: 'update-op' }],
    });
    await waitFor('the repair to be checked', () => Promise.resolve(gate.entered > 0 ? true : undefined));
    await handle.signal(retrySignal, { patch: { quantity: 7 }, operator: 'signal-op' });
    gate.open();
    assert.deepEqual(await repair, { accepted: true, workflowId: id, payloadVersion: 2 });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.deepEqual(outcome.payload, { orderId: 'r-2', quantity: 5 }, 'the accepted repair is what ran');
    const retries = outcome.audit.filter((a) => a.action === 'retry');
    assert.deepEqual(
      retries.map((r) => r.operator),
      ['update-op'],
    );
    assert.ok(
      outcome.audit.some((a) => a.action === 'ignored' && a.problems?.[0]?.startsWith('retry not applied')),
    );
  });

  it('a repair whose payload cannot be validated is rejected and changes nothing', async () => {
    validationUnavailable = true;
    try {
      const id = await send('race', { orderId: 'r-3', quantity: 0 });
      await waitForStatus(env.client, id, 'dead');
      await refusedUnvalidated(env.client, id);
      await recordHistory(env.client, id, 'validation-unavailable');
    } finally {
      validationUnavailable = false;
    }
  });
});

describe('idempotency keys', () => {
  it('a stage that committed and then timed out sees one key across its automatic re-drives', async () => {
    const id = await send('hangs-after-commit', {});
    const messageId = id.split(':').at(-1)!;
    const handle = env.client.workflow.getHandle(id);
    await waitFor(
      'two re-drives',
      async () => {
        const state = await handle.query(stateQuery);
        return state.status === 'dead' && state.redrives === 2 ? state : undefined;
      },
      60_000,
    );
    assert.equal(runs.get(`hang:${messageId}`), 3, 'the first run and two re-drives');
    assert.deepEqual([...keys.get(messageId)!], [`${id}:handle:0`]);
  });
});

describe("users' own failure types", () => {
  it('an ApplicationFailure.nonRetryable with its own type is not retried, keeps its type and details, parks as permanent', async () => {
    const id = await send('user-failure', { kind: 'bad-input' });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(runs.get(`user:${dl.messageId}`), 1);
    assert.equal(dl.errorType, 'BadInput');
    assert.equal(dl.errorClass, 'permanent');
    assert.equal(dl.reason, 'BAD_INPUT');
    assert.deepEqual(dl.details, [{ field: 'vatId' }]);
    assert.equal(dl.nextRedriveAt, undefined, 'permanent: never re-driven');
    await recordHistory(env.client, id, 'user-application-failure');
  });

  it("an error class named in the topic's nonRetryableErrorTypes is not retried", async () => {
    const id = await send('user-failure', { kind: 'quota' });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(runs.get(`user:${dl.messageId}`), 1);
    assert.equal(dl.errorType, 'QuotaGone');
    assert.equal(dl.errorClass, 'permanent');
    assert.equal(dl.reason, 'QUOTA_GONE');
  });

  it('a retryable ApplicationFailure of its own type is retried, then parks with it as the cause', async () => {
    const id = await send('user-failure', { kind: 'busy' });
    const dl = (await waitForStatus(env.client, id, 'dead')).deadLetter!;
    assert.equal(runs.get(`user:${dl.messageId}`), 4);
    assert.equal(dl.errorType, 'PartnerBusy');
    assert.equal(dl.errorClass, 'temporary');
    assert.equal(dl.reason, 'RETRY_EXHAUSTED');
    assert.equal(dl.causeReason, 'PARTNER_BUSY');
    assert.equal(dl.attempts, 4);
  });
});

describe("Temporal's limits", () => {
  it('a stage that returns 3 MB parks with RESULT_TOO_LARGE instead of failing its workflow task forever', async () => {
    const id = await send('huge-result', {});
    const dl = (await waitForStatus(env.client, id, 'dead', 60_000)).deadLetter!;
    assert.equal(dl.reason, 'RESULT_TOO_LARGE');
    assert.equal(dl.errorClass, 'permanent');
  });

  it('a 5 000-character reason is recorded as a valid reason code, the original kept in the dead letter', async () => {
    const id = await send('long-reason', {});
    const dl = (await waitForStatus(env.client, id, 'dead', 60_000)).deadLetter!;
    assert.match(dl.reason, /^[A-Z0-9_]{1,64}$/);
    assert.ok(dl.reason.startsWith('PARTNER_SAID_NO_NO'));
    assert.ok(dl.originalReason?.startsWith('partner said: no no'));
    const described = await env.client.workflow.getHandle(id).describe();
    assert.equal(described.typedSearchAttributes.get(DlqReason), dl.reason);
  });

  it('a message repaired 30 times with 400 KB payloads stays parked, readable and resolvable', async () => {
    const big = (n: number) => ({ version: n, blob: 'y'.repeat(400 * 1024) });
    const id = await send('always-refused', big(0));
    const handle = env.client.workflow.getHandle(id);
    await waitForStatus(env.client, id, 'dead');
    for (let n = 1; n <= 30; n++) {
      await handle.executeUpdate(repairUpdate, { args: [{ payload: big(n), operator: 'bulk' }] });
      await waitFor(`park ${n + 1}`, async () => {
        const state = await handle.query(stateQuery);
        return state.status === 'dead' && state.parkCount === n + 1 ? state : undefined;
      });
    }
    const state = await handle.query(stateQuery);
    assert.equal(state.payloadVersion, 31);
    assert.equal((state.envelope.payload as { version: number }).version, 30);
    await handle.signal(discardSignal, { reason: 'partner will never accept it' });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'discarded');
    assert.equal((outcome.payload as { version: number }).version, 30);
    assert.equal(outcome.audit.filter((a) => a.action === 'retry').length, 30);
  });
});

describe('resolution statuses', () => {
  it('a message cancelled while parked records cancelled, not dead', async () => {
    const id = await send('always-refused', { n: 1 });
    const handle = env.client.workflow.getHandle(id);
    await waitForStatus(env.client, id, 'dead');
    await handle.cancel();
    await assert.rejects(handle.result());
    const described = await handle.describe();
    assert.equal(described.typedSearchAttributes.get(DlqStatus), 'cancelled');
    await recordHistory(env.client, id, 'cancelled-while-dead');
  });
});

describe('workers with different handler sets', () => {
  it('a repair is not validated by a worker that lacks the topic: it is refused, never accepted unchecked', async () => {
    // Its own task queue: one worker with the topic parks the message, then only a worker without it runs.
    const other = await openTestEnv();
    try {
      const withTopic = await other.startWorker([
        defineHandler({ topic: 'schema-topic', schema: orderSchema, handle: () => 'ok' }),
      ]);
      const result = await publish(
        other.client,
        { id: uid(), topic: 'schema-topic', payload: { orderId: 'w-1', quantity: 0 } },
        { taskQueue: other.taskQueue },
      );
      assert.ok(result.ok);
      await waitForStatus(other.client, result.workflowId, 'dead');
      await withTopic.stop();
      await other.startWorker([defineHandler({ topic: 'something-else', handle: () => 'ok' })]);
      await refusedUnvalidated(other.client, result.workflowId);
    } finally {
      await other.close();
    }
  });
});

describe('the Web UI explanation', () => {
  it('names the invalid fields of a schema failure', async () => {
    const id = await send('race', { orderId: 'e-1', quantity: -4 });
    await waitForStatus(env.client, id, 'dead');
    const meta = await env.client.workflow
      .getHandle(id)
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(meta.currentDetails ?? '', /\*\*Invalid fields:\*\*\n+- `quantity`: /);
  });
});
