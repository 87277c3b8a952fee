/**
 * Issue 13, item 5: a parked (or retrying) message that is terminated keeps its last `DlqStatus` in
 * visibility. Analytics and the CLI must not count or list it as parked: every "parked" query selects
 * running workflows only. Real dev server, real lifecycle, real `terminate()`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { retrySignal } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import { computeSnapshot } from '../src/analytics/snapshot';
import { DlqFingerprint, DlqParkedAt, DlqStatus, DlqTopic } from '../src/contract/search-attributes';

const T = uid();
const GONE = `ps-gone-${T}`;
const SLOW = `ps-slow-${T}`;

let env: TestEnv;
/** Releases the stage that hangs on `{ hang: true }` (so the worker can shut down). */
let release: () => void = () => undefined;
const hanging = new Promise<void>((resolve) => (release = resolve));

const handlers = [
  defineHandler({
    topic: GONE,
    handle: () => {
      throw new PermanentError('customer 42 does not exist', { reason: 'HTTP_404' });
    },
  }),
  defineHandler({
    topic: SLOW,
    // Every attempt an activity task: the retrying status is visible while the stage hangs.
    firstAttempt: 'activity',
    timeout: '5m',
    handle: async ({ payload }) => {
      if ((payload as { hang?: boolean }).hang) {
        await hanging;
        throw new PermanentError('released', { reason: 'HTTP_404' });
      }
      throw new PermanentError('customer 42 does not exist', { reason: 'HTTP_404' });
    },
  }),
];

async function park(topic: string, id: string): Promise<string> {
  const result = await publish(env.client, { id, topic, payload: { n: 1 } }, { taskQueue: env.taskQueue });
  assert.equal(result.ok, true);
  const workflowId = messageWorkflowId(topic, id);
  await waitForStatus(env.client, workflowId, 'dead');
  return workflowId;
}

/** Waits until visibility has caught up: `query` counts exactly `n` message workflows. */
async function settle(query: string, n: number): Promise<void> {
  await waitFor(
    `${n} for ${query}`,
    async () => {
      const { count } = await env.client.workflow.count(`WorkflowType = 'processMessage' AND ${query}`);
      return count === n ? true : undefined;
    },
    60_000,
  );
}

const snapshot = (filter: string) =>
  computeSnapshot(env.client, analyticsConfigSchema.parse({ filter, topics: [GONE, SLOW] }));

async function dlq(...argv: string[]) {
  const run = await runCliCaptured(
    { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue },
    argv,
  );
  return { ...run, json: <J>() => JSON.parse(run.out) as J };
}

before(async () => {
  env = await openTestEnv();
  await env.startWorker(handlers);
});
after(async () => {
  release();
  await env.close();
});

describe('terminated messages are not parked', () => {
  it('a terminated dead message leaves the parked counts, the oldest, the groups and `dlq list`', async () => {
    const terminated = await park(GONE, 'a');
    const kept = await park(GONE, 'b');
    await settle(`DlqTopic = '${GONE}' AND DlqStatus = 'dead'`, 2);
    const before = await snapshot(`DlqTopic = '${GONE}'`);
    assert.equal(before.parked.total, 2);

    await env.client.workflow.getHandle(terminated).terminate('test: terminated from the Web UI');
    await settle(`DlqTopic = '${GONE}' AND ExecutionStatus = 'Terminated'`, 1);
    // The terminated workflow still says `dead` in visibility: that is the trap.
    await settle(`DlqTopic = '${GONE}' AND DlqStatus = 'dead'`, 2);

    const alone = await snapshot(`WorkflowId = '${terminated}'`);
    assert.equal(alone.parked.total, 0);
    assert.deepEqual(alone.parked.byClass, {
      temporary: 0,
      permanent: 0,
      validation: 0,
      timeout: 0,
      security: 0,
    });
    assert.equal(alone.oldest, null);
    assert.deepEqual(alone.topGroups, []);

    const s = await snapshot(`DlqTopic = '${GONE}'`);
    assert.equal(s.parked.total, 1);
    assert.equal(s.parked.byTopic[GONE], 1);
    assert.equal(s.parked.byReason.HTTP_404, 1);
    // `a` parked first: counted, it would be the oldest.
    assert.equal(s.oldest?.workflowId, kept);
    assert.equal(s.topGroups[0]?.count, 1);
    assert.equal(s.listing.listed, 1);

    const listed = await dlq('list', '--topic', GONE, '--json', '--no-errors');
    assert.equal(listed.code, 0, listed.err);
    const json = listed.json<{ total: number; messages: Array<{ workflowId: string }> }>();
    assert.equal(json.total, 1);
    assert.deepEqual(
      json.messages.map((m) => m.workflowId),
      [kept],
    );
    // Still findable on purpose.
    const any = (await dlq('list', '--topic', GONE, '--status', 'any', '--json', '--no-errors')).json<{
      total: number;
    }>();
    assert.equal(any.total, 2);
  });

  it('a terminated retrying message leaves the retrying count and `dlq list --status retrying`', async () => {
    const id = await park(SLOW, 'r');
    await env.client.workflow.getHandle(id).signal(retrySignal, { patch: { hang: true }, operator: 'test' });
    await settle(`DlqTopic = '${SLOW}' AND DlqStatus = 'retrying'`, 1);
    assert.equal((await snapshot(`DlqTopic = '${SLOW}'`)).retrying, 1);

    await env.client.workflow.getHandle(id).terminate('test: terminated while retrying');
    await settle(`DlqTopic = '${SLOW}' AND ExecutionStatus = 'Terminated'`, 1);
    await settle(`DlqTopic = '${SLOW}' AND DlqStatus = 'retrying'`, 1);

    const s = await snapshot(`DlqTopic = '${SLOW}'`);
    assert.equal(s.retrying, 0);
    assert.equal(s.parked.total, 0);
    const listed = await dlq('list', '--topic', SLOW, '--status', 'retrying', '--json', '--no-errors');
    assert.equal(listed.code, 0, listed.err);
    assert.equal(listed.json<{ total: number }>().total, 0);
  });
});

describe('one visibility dialect', () => {
  it('a failure group whose fingerprint is not a safe literal is reported from the listing, not counted with `AND false` (refused by SQL visibility)', async () => {
    // A parked-looking processMessage on a task queue no worker polls, with a fingerprint this project
    // never writes (someone set it by hand): the snapshot must still complete.
    const topic = `ps-odd-${T}`;
    const workflowId = messageWorkflowId(topic, 'odd');
    await env.client.workflow.start('processMessage', {
      workflowId,
      taskQueue: `no-worker-${T}`,
      args: [],
      typedSearchAttributes: [
        { key: DlqTopic, value: topic },
        { key: DlqStatus, value: 'dead' },
        { key: DlqFingerprint, value: "fp'1 #odd" },
        { key: DlqParkedAt, value: new Date() },
      ],
    });
    try {
      await settle(`DlqTopic = '${topic}' AND DlqStatus = 'dead'`, 1);
      const s = await snapshot(`DlqTopic = '${topic}'`);
      assert.equal(s.parked.total, 1);
      assert.deepEqual(
        s.topGroups.map((g) => [g.fingerprint, g.count]),
        [["fp'1 #odd", 1]],
      );
    } finally {
      await env.client.workflow.getHandle(workflowId).terminate('test done');
    }
  });
});
