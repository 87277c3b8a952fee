/**
 * Issue 13, items 9 and 10 (CLI side), on the real dev server:
 * - `dlq retry` never hangs: with no worker on the message's task queue it gives up after `--timeout` with
 *   an error that says so and names the task queue, and the late-delivered update changes nothing (notAfter);
 * - `dlq show` / `dlq export` show the payload that ran, under its own version;
 * - bulk `--dry-run` checks the patched payloads through a worker (schema included) and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { parse } from 'csv-parse/sync';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import type { MessageOutcome } from '../src/contract/types';
import { shownPayload } from '../src/cli/messages';

const T = uid();
const NO_WORKER = `oc-noworker-${T}`;
const RECORD = `oc-record-${T}`;
const DRY = `oc-dry-${T}`;
const orderSchema = z.object({ orderId: z.string(), quantity: z.number().int().positive() });
const dir = mkdtempSync(join(tmpdir(), 'dlq-opcli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const handlers = [NO_WORKER, RECORD, DRY].map((topic) =>
  defineHandler({ topic, schema: orderSchema, handle: ({ payload }) => ({ ok: payload.orderId }) }),
);

/** `main` keeps a worker; `stopped` is the task queue whose worker the retry-timeout test stops. */
let main: TestEnv;
let stopped: TestEnv;

async function dlq(env: TestEnv, ...argv: string[]) {
  const run = await runCliCaptured(
    { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue, LOG_LEVEL: 'silent' },
    argv,
  );
  return { ...run, json: <J>() => JSON.parse(run.out) as J };
}

/** Publishes a message whose `quantity` is a string: it parks as a validation failure (payload v1). */
async function parkBad(env: TestEnv, topic: string, id: string): Promise<string> {
  const result = await publish(
    env.client,
    { id, topic, payload: { orderId: id, quantity: '2' } },
    { taskQueue: env.taskQueue },
  );
  assert.equal(result.ok, true);
  const workflowId = messageWorkflowId(topic, id);
  await waitForStatus(env.client, workflowId, 'dead');
  return workflowId;
}

before(async () => {
  main = await openTestEnv();
  await main.startWorker(handlers);
  stopped = await openTestEnv();
});
after(async () => {
  await stopped.close();
  await main.close();
});

describe('dlq retry never hangs', () => {
  it(
    'with no worker it fails within the timeout, says why and where, and the late update changes nothing',
    { timeout: 120_000 },
    async () => {
      const worker = await stopped.startWorker(handlers);
      const id = await parkBad(stopped, NO_WORKER, 'n-1');
      await worker.stop();
      const fix = file('fix.json', '{"quantity": 2}');

      let started = Date.now();
      const single = await dlq(stopped, 'retry', id, '--patch', fix, '--timeout', '3s');
      const singleMs = Date.now() - started;
      assert.equal(single.code, 1, single.out);
      assert.ok(singleMs < 15_000, `took ${singleMs} ms`);
      assert.match(single.err, /no worker answered within 3s/);
      assert.ok(single.err.includes(`task queue "${stopped.taskQueue}"`), single.err);
      assert.match(single.err, /temporal task-queue describe --task-queue/);
      assert.match(single.err, /nothing changed/);

      started = Date.now();
      const bulk = await dlq(
        stopped,
        'retry',
        '--topic',
        NO_WORKER,
        '--patch',
        fix,
        '--timeout',
        '3s',
        '--yes',
        '--json',
      );
      const bulkMs = Date.now() - started;
      assert.equal(bulk.code, 1, bulk.err);
      assert.ok(bulkMs < 15_000, `took ${bulkMs} ms`);
      const report = bulk.json<{
        selected: number;
        accepted: number;
        errors: number;
        failures: Array<{ workflowId: string; verdict: string; problems: string[] }>;
      }>();
      assert.equal(report.selected, 1);
      assert.equal(report.accepted, 0);
      assert.equal(report.errors, 1);
      assert.equal(report.failures[0]?.workflowId, id);
      assert.equal(report.failures[0]?.verdict, 'error');
      assert.match(
        report.failures[0]?.problems.join('\n') ?? '',
        /no worker answered within 3s.*nothing changed/s,
      );

      // A worker comes back: the two updates the server still holds reach it late, and are refused (notAfter).
      await stopped.startWorker(handlers);
      const handle = stopped.client.workflow.getHandle(id);
      await waitFor('the worker to answer', () => handle.query(stateQuery));
      await sleep(5_000);
      const state = await handle.query(stateQuery);
      assert.equal(state.status, 'dead');
      assert.equal(state.payloadVersion, 1);
      assert.deepEqual(state.envelope.payload, { orderId: 'n-1', quantity: '2' });
      assert.ok(!state.audit.some((a) => a.action === 'retry'), JSON.stringify(state.audit));
    },
  );

  it(
    'on a task queue no worker ever polled it refuses at once, without sending anything',
    { timeout: 60_000 },
    async () => {
      const queue = `never-polled-${T}`;
      const result = await publish(
        main.client,
        { id: 'q-1', topic: NO_WORKER, payload: { orderId: 'q-1', quantity: 1 } },
        { taskQueue: queue },
      );
      assert.equal(result.ok, true);
      const started = Date.now();
      const run = await dlq(main, 'retry', result.workflowId, '--timeout', '20s');
      assert.equal(run.code, 1, run.out);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      assert.ok(run.err.includes(`task queue "${queue}"`), run.err);
      assert.match(run.err, /no worker has polled/);
      assert.match(run.err, /nothing changed/);
      await main.client.workflow.getHandle(result.workflowId).terminate('test cleanup');
    },
  );

  it('--timeout is validated', async () => {
    for (const bad of ['soon', '0s', '2h']) {
      const run = await dlq(main, 'retry', messageWorkflowId(RECORD, 'x'), '--timeout', bad);
      assert.equal(run.code, 1, bad);
      assert.match(run.err, /--timeout/, bad);
    }
  });
});

describe('show and export show the payload that ran', () => {
  it('after a repair, the recovered message shows the patched payload under the new version', async () => {
    const id = await parkBad(main, RECORD, 'r-1');
    const retried = await dlq(main, 'retry', id, '--patch', file('r.json', '{"quantity": 2}'));
    assert.equal(retried.code, 0, retried.err);
    const outcome = (await main.client.workflow.getHandle(id).result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.equal(outcome.payloadVersion, 2);

    const json = (await dlq(main, 'show', id, '--json')).json<{ payload: unknown; payloadVersion: number }>();
    assert.deepEqual(json.payload, { orderId: 'r-1', quantity: 2 });
    assert.equal(json.payloadVersion, 2);
    const text = await dlq(main, 'show', id);
    assert.equal(text.code, 0, text.err);
    assert.match(
      text.out,
      /Payload of the last run \(v2\)\n\{\n {2}"orderId": "r-1",\n {2}"quantity": 2\n\}/,
    );

    const jsonl = join(dir, 'recovered.jsonl');
    const exported = await dlq(
      main,
      'export',
      '--topic',
      RECORD,
      '--status',
      'recovered',
      '--format',
      'jsonl',
      '--out',
      jsonl,
    );
    assert.equal(exported.code, 0, exported.err);
    const [record] = readFileSync(jsonl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { workflowId: string; payload: unknown; payloadVersion: number });
    assert.equal(record?.workflowId, id);
    assert.deepEqual(record?.payload, { orderId: 'r-1', quantity: 2 });
    assert.equal(record?.payloadVersion, 2);
    const csv = join(dir, 'recovered.csv');
    assert.equal(
      (await dlq(main, 'export', '--topic', RECORD, '--status', 'recovered', '--format', 'csv', '--out', csv))
        .code,
      0,
    );
    const [row] = parse<Record<string, string>>(readFileSync(csv, 'utf8'), { columns: true });
    assert.deepEqual(JSON.parse(row!.payload!), { orderId: 'r-1', quantity: 2 });
    assert.equal(row!.payloadVersion, '2');
  });

  it('an outcome recorded before `payload` existed shows the dead letter payload under its own version', () => {
    const deadLetter = { payload: { quantity: '2' }, payloadVersion: 1 } as NonNullable<
      MessageOutcome['deadLetter']
    >;
    const old = { status: 'recovered', payloadVersion: 2, deadLetter } as MessageOutcome;
    assert.deepEqual(shownPayload(old), {
      payload: { quantity: '2' },
      payloadVersion: 1,
      kind: 'last-parking',
    });
    assert.deepEqual(shownPayload({ ...old, payload: { quantity: 2 } }), {
      payload: { quantity: 2 },
      payloadVersion: 2,
      kind: 'last-run',
    });
    const { deadLetter: _parked, ...neverParked } = old;
    assert.equal(shownPayload(neverParked), undefined);
  });
});

describe('bulk --dry-run checks through a worker', () => {
  it('reports a patch the schema rejects, per message, and changes nothing; a good patch changes nothing either', async () => {
    const ids = await Promise.all(['d-1', 'd-2'].map((m) => parkBad(main, DRY, m)));
    await waitFor('both dead in visibility', async () =>
      (await main.client.workflow.count(`DlqTopic = "${DRY}" AND DlqStatus = "dead"`)).count === 2
        ? true
        : undefined,
    );
    const bad = await dlq(
      main,
      'retry',
      '--topic',
      DRY,
      '--patch',
      file('neg.json', '{"quantity": -1}'),
      '--dry-run',
      '--json',
    );
    assert.equal(bad.code, 1, bad.out);
    const report = bad.json<{
      dryRun: boolean;
      count: number;
      checked: {
        accepted: number;
        rejected: number;
        failures: Array<{ workflowId: string; verdict: string; problems: string[] }>;
      };
    }>();
    assert.equal(report.dryRun, true);
    assert.equal(report.count, 2);
    assert.equal(report.checked.rejected, 2);
    assert.equal(report.checked.accepted, 0);
    assert.deepEqual(report.checked.failures.map((f) => f.workflowId).sort(), [...ids].sort());
    assert.ok(
      report.checked.failures.every(
        (f) => f.verdict === 'rejected' && f.problems.some((p) => p.startsWith('payload.quantity:')),
      ),
      JSON.stringify(report.checked.failures),
    );
    const text = await dlq(
      main,
      'retry',
      '--topic',
      DRY,
      '--patch',
      file('neg.json', '{"quantity": -1}'),
      '--dry-run',
    );
    assert.equal(text.code, 1);
    assert.match(text.out, /2 would be rejected/);
    assert.match(text.out, /rejected msg:.*: payload\.quantity:/);

    const good = await dlq(
      main,
      'retry',
      '--topic',
      DRY,
      '--patch',
      file('ok.json', '{"quantity": 3}'),
      '--dry-run',
      '--json',
    );
    assert.equal(good.code, 0, good.out + good.err);
    assert.equal(good.json<{ checked: { accepted: number } }>().checked.accepted, 2);

    for (const id of ids) {
      const state = await main.client.workflow.getHandle(id).query(stateQuery);
      assert.equal(state.status, 'dead');
      assert.equal(state.payloadVersion, 1);
      assert.ok(!state.audit.some((a) => a.action === 'retry'), JSON.stringify(state.audit));
    }
  });
});
