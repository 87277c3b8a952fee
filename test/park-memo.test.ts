/**
 * Operator reads that do not cost a query per message (issue 14 item 4): the park memo carries the dead
 * letter in the visibility listing, `dlq list` and `dlq export` read it there, and `dlq show <bare id>` finds
 * a message through the indexed `DlqMessageId` attribute. The hostile case is a namespace with no worker
 * polling: a query cannot be answered at all, yet the operator still sees every error and payload.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish, toEnvelope } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { messageWorkflowId, PROCESS_MESSAGE_WORKFLOW } from '../src/contract/names';
import { DlqMessageId, DlqParkedAt, DlqTopic } from '../src/contract/search-attributes';
import { MAX_PARK_MEMO_MESSAGE } from '../src/contract/limits';
import type { DeadLetter, MessageState, ProcessMessageInput } from '../src/contract/types';

const TOPIC = `memo-${uid()}`;
const LONG = `memo-long-${uid()}`;
const dir = mkdtempSync(join(tmpdir(), 'dlq-memo-'));
let env: TestEnv;
let stopWorker: () => Promise<void>;
const states = new Map<string, MessageState>();

async function dlq(...argv: string[]) {
  const run = await runCliCaptured(
    { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue },
    argv,
  );
  return { ...run, json: <T>() => JSON.parse(run.out) as T };
}

const withoutStack = (dl: DeadLetter): Omit<DeadLetter, 'stack'> => {
  const { stack: _stack, ...rest } = dl;
  return rest;
};

before(async () => {
  env = await openTestEnv();
  ({ stop: stopWorker } = await env.startWorker([
    defineHandler({
      topic: TOPIC,
      handle: ({ envelope }) => {
        throw new PermanentError(`customer of ${envelope.id} does not exist`, { reason: 'HTTP_404' });
      },
    }),
    defineHandler({
      topic: LONG,
      handle: () => {
        throw new PermanentError(`upstream said: ${'x'.repeat(1500)}`, { reason: 'HTTP_500' });
      },
    }),
  ]));
  const ids = ['m-1', 'm-2', 'm-3'];
  for (const id of ids)
    await publish(
      env.client,
      { id, topic: TOPIC, payload: { id, note: 'small' } },
      { taskQueue: env.taskQueue },
    );
  // Too large for the memo: export must ask this one workflow.
  await publish(
    env.client,
    { id: 'big', topic: TOPIC, payload: { blob: 'b'.repeat(3000) } },
    { taskQueue: env.taskQueue },
  );
  // Started without DlqMessageId, as a message published before that attribute existed: the workflow
  // sets it when it parks.
  const legacy = toEnvelope({ id: 'legacy', topic: TOPIC, payload: { id: 'legacy' } });
  await env.client.workflow.start(PROCESS_MESSAGE_WORKFLOW, {
    workflowId: messageWorkflowId(TOPIC, 'legacy'),
    taskQueue: env.taskQueue,
    args: [{ envelope: legacy } satisfies ProcessMessageInput],
    typedSearchAttributes: [{ key: DlqTopic, value: TOPIC }],
  });
  await publish(
    env.client,
    { id: 'long', topic: LONG, payload: { id: 'long' } },
    { taskQueue: env.taskQueue },
  );
  for (const id of [...ids, 'big', 'legacy'])
    states.set(id, await waitForStatus(env.client, messageWorkflowId(TOPIC, id), 'dead'));
  states.set('long', await waitForStatus(env.client, messageWorkflowId(LONG, 'long'), 'dead'));
  await waitFor(
    'the parked messages to be visible',
    async () =>
      (
        await env.client.workflow.count(
          `DlqTopic = "${TOPIC}" AND DlqStatus = "dead" AND DlqMessageId = "legacy"`,
        )
      ).count === 1 &&
      (await env.client.workflow.count(`DlqTopic = "${TOPIC}" AND DlqStatus = "dead"`)).count === 5
        ? true
        : undefined,
    60_000,
  );
});
after(async () => env.close());

describe('park memo', () => {
  it('parked messages carry DlqMessageId and a whole-second DlqParkedAt', async () => {
    for (const id of ['m-1', 'legacy']) {
      const d = await env.client.workflow.getHandle(messageWorkflowId(TOPIC, id)).describe();
      assert.equal(d.typedSearchAttributes.get(DlqMessageId), id);
      const parkedAt = d.typedSearchAttributes.get(DlqParkedAt);
      assert.ok(parkedAt, 'DlqParkedAt is set');
      assert.equal(parkedAt.getTime() % 1000, 0, `DlqParkedAt ${parkedAt.toISOString()} is a whole second`);
    }
  });

  it('export reads the memo; only the message whose payload did not fit is asked', async () => {
    const out = join(dir, 'memo.jsonl');
    const run = await dlq('export', '--topic', TOPIC, '--format', 'jsonl', '--out', out);
    assert.equal(run.code, 0, run.err);
    assert.match(run.err, /exported 5 message\(s\).*; 1 workflow query/);
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { workflowId: string; from: string; deadLetter: DeadLetter; payload: unknown },
      );
    const byId = new Map(records.map((r) => [r.workflowId, r]));
    for (const id of ['m-1', 'm-2', 'm-3', 'legacy']) {
      const r = byId.get(messageWorkflowId(TOPIC, id))!;
      const dl = states.get(id)!.deadLetter!;
      assert.equal(r.from, 'memo', id);
      assert.deepEqual(r.deadLetter, withoutStack(dl), id);
      assert.deepEqual(r.payload, dl.payload, id);
    }
    const big = byId.get(messageWorkflowId(TOPIC, 'big'))!;
    assert.equal(big.from, 'workflow');
    assert.deepEqual(big.deadLetter, states.get('big')!.deadLetter);

    const never = join(dir, 'no-queries.jsonl');
    const noQueries = await dlq(
      'export',
      '--topic',
      TOPIC,
      '--format',
      'jsonl',
      '--out',
      never,
      '--no-queries',
    );
    assert.equal(noQueries.code, 0, noQueries.err);
    assert.match(noQueries.err, /; 0 workflow queries/);
    const bigFromMemo = readFileSync(never, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            workflowId: string;
            omitted: string[];
            deadLetter: DeadLetter;
            payload?: unknown;
          },
      )
      .find((r) => r.workflowId === messageWorkflowId(TOPIC, 'big'))!;
    assert.ok(bigFromMemo.omitted.includes('payload'));
    assert.equal(bigFromMemo.payload, undefined);
    assert.equal(bigFromMemo.deadLetter.message, states.get('big')!.deadLetter!.message);

    const all = await dlq(
      'export',
      '--topic',
      TOPIC,
      '--format',
      'jsonl',
      '--out',
      join(dir, 'all.jsonl'),
      '--from-workflows',
    );
    assert.equal(all.code, 0, all.err);
    assert.match(all.err, /; 5 workflow queries/);
    const clash = await dlq('export', '--format', 'jsonl', '--from-workflows', '--no-queries');
    assert.equal(clash.code, 1);
    assert.match(clash.err, /--from-workflows .* --no-queries/);
  });

  it('with no worker to answer a query, list still shows every error and export every small payload', async () => {
    await stopWorker();
    const listed = await dlq('list', '--topic', TOPIC, '--json');
    assert.equal(listed.code, 0, listed.err);
    const body = listed.json<{
      total: number;
      workflowQueries: number;
      messages: Array<{ messageId: string; error?: string; errorType?: string }>;
    }>();
    assert.equal(body.total, 5);
    assert.equal(body.workflowQueries, 0);
    for (const m of body.messages) {
      assert.equal(m.error, states.get(m.messageId)!.deadLetter!.message, m.messageId);
      assert.equal(m.errorType, 'PermanentError');
    }
    const long = (await dlq('list', '--topic', LONG, '--json')).json<{
      messages: Array<{ error: string }>;
    }>();
    assert.equal(long.messages[0]!.error.length, MAX_PARK_MEMO_MESSAGE);
    assert.ok(long.messages[0]!.error.endsWith('…'));

    const out = join(dir, 'no-worker.jsonl');
    const run = await dlq('export', '--topic', TOPIC, '--format', 'jsonl', '--out', out, '--no-queries');
    assert.equal(run.code, 0, run.err);
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { workflowId: string; payload?: unknown });
    for (const id of ['m-1', 'm-2', 'm-3', 'legacy'])
      assert.deepEqual(
        records.find((r) => r.workflowId === messageWorkflowId(TOPIC, id))?.payload,
        states.get(id)!.deadLetter!.payload,
      );
  });

  it('show <bare id> finds the message by DlqMessageId, and shows the memo when no worker answers', async () => {
    for (const id of ['m-2', 'legacy']) {
      const run = await dlq('show', id, '--json');
      assert.equal(run.code, 0, run.err);
      const view = run.json<{ workflowId: string; source: string; deadLetter: DeadLetter }>();
      assert.equal(view.workflowId, messageWorkflowId(TOPIC, id));
      assert.equal(view.source, 'memo');
      assert.deepEqual(view.deadLetter, withoutStack(states.get(id)!.deadLetter!));
    }
    // The same message id in two topics: the lookup finds both and asks for --topic.
    const twice = `twice-${uid()}`;
    for (const topic of [TOPIC, LONG])
      await publish(env.client, { id: twice, topic, payload: {} }, { taskQueue: env.taskQueue });
    await waitFor('both messages in visibility', async () =>
      (await env.client.workflow.count(`DlqMessageId = "${twice}"`)).count === 2 ? true : undefined,
    );
    const ambiguous = await dlq('show', twice);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.err, new RegExp(`message id "${twice}" exists in several topics .*; add --topic`));
    const unknown = await dlq('show', `never-${uid()}`);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no message with id .* DlqMessageId/);
  });
});
