/**
 * Upgrade safety: parked messages outlive deploys. A message parked by the current workflow code must be
 * retried by the next release. "The next release" is test/fixtures/workflows-v2 (the current code plus a
 * change behind `patched()`); test/fixtures/workflows-unsafe makes the same change without it and must break.
 * See docs/upgrades.md for the rule.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { ReplayResult } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { temporal as proto } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { openTestEnv, requireEnv, uid, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { repairUpdate } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import type { MessageOutcome } from '../src/contract/types';
import { UPGRADE_PATCH_ID } from './fixtures/workflows-v2';

type History = temporal.api.history.v1.IHistory;

const noop = (): void => undefined;
const quiet = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };

async function bundle(dir: string, name: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve(`./fixtures/${name}`),
    logger: quiet,
  });
  const path = join(dir, `${name}.js`);
  writeFileSync(path, code);
  return path;
}

const handler = (release: string) =>
  defineHandler({
    topic: 'upgrade-orders',
    handle: ({ payload }) => {
      if ((payload as { fixed?: boolean }).fixed !== true)
        throw new PermanentError('unknown customer', { reason: 'HTTP_404' });
      return `handled-by-${release}`;
    },
  });

async function replayAll(bundlePath: string, histories: Array<{ workflowId: string; history: History }>) {
  const results: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundlePath } }, histories))
    results.push(r);
  return results;
}

const committed = () => {
  const dir = join(__dirname, 'histories');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({
      workflowId: f,
      history: historyFromJSON(JSON.parse(readFileSync(join(dir, f), 'utf8'))),
    }));
};

const hasPatchMarker = (history: History) =>
  Buffer.from(proto.api.history.v1.History.encode(history).finish()).includes(UPGRADE_PATCH_ID);

describe('upgrade safety', () => {
  let dir: string;
  let v2Bundle: string;
  let unsafeBundle: string;
  let env: TestEnv;
  let parkedByV1: { workflowId: string; history: History } | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dlq-upgrade-'));
    [v2Bundle, unsafeBundle] = [await bundle(dir, 'workflows-v2'), await bundle(dir, 'workflows-unsafe')];
    env = await openTestEnv();
  });
  after(async () => {
    await env?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a message parked by the current release is retried by the next one (live, worker switched)', async () => {
    const v1 = await env.startWorker([handler('v1')], {}, { workerOptions: { identity: 'dlq-worker-v1' } });
    const id = `up-${uid()}`;
    const workflowId = messageWorkflowId('upgrade-orders', id);
    await publish(
      env.client,
      { id, topic: 'upgrade-orders', payload: { fixed: false } },
      { taskQueue: env.taskQueue },
    );
    await waitForStatus(env.client, workflowId, 'dead');
    const handle = env.client.workflow.getHandle(workflowId);
    parkedByV1 = { workflowId, history: await handle.fetchHistory() };
    await v1.stop();

    // Deploy: the old worker is gone; the new one runs the next release's bundle and has an empty cache,
    // so it must replay the parked history with the new code before it can apply the retry.
    await env.startWorker(
      [handler('v2')],
      {},
      {
        workflowBundlePath: v2Bundle,
        workerOptions: { identity: 'dlq-worker-v2' },
      },
    );
    await handle.executeUpdate(repairUpdate, {
      args: [{ patch: { fixed: true }, operator: 'upgrade-test' }],
    });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.equal(outcome.stageResults.handle, 'handled-by-v2');
    assert.equal(outcome.payloadVersion, 2);
    // Both releases worked on this one execution, and it kept the old path: no patch marker was written.
    const history = await handle.fetchHistory();
    const identities = new Set(
      (history.events ?? []).flatMap((e) => e.workflowTaskCompletedEventAttributes?.identity ?? []),
    );
    assert.deepEqual([...identities].sort(), ['dlq-worker-v1', 'dlq-worker-v2']);
    assert.equal(hasPatchMarker(history), false);

    // A message that starts under the new release takes the new branch and records the marker.
    const freshId = `up-new-${uid()}`;
    await publish(
      env.client,
      { id: freshId, topic: 'upgrade-orders', payload: { fixed: true } },
      { taskQueue: env.taskQueue },
    );
    const fresh = env.client.workflow.getHandle(messageWorkflowId('upgrade-orders', freshId));
    assert.equal(((await fresh.result()) as MessageOutcome).status, 'succeeded');
    assert.equal(hasPatchMarker(await fresh.fetchHistory()), true);
  });

  it('the next release replays every history of the current one, the committed ones included', async () => {
    assert.ok(parkedByV1, 'the live test recorded a parked history');
    const histories = [...committed(), parkedByV1];
    const results = await replayAll(v2Bundle, histories);
    assert.equal(results.length, histories.length);
    assert.deepEqual(
      results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`),
      [],
    );
    // The current bundle itself replays the freshly parked history too.
    const current = await replayAll(requireEnv('DLQ_TEST_WORKFLOW_BUNDLE'), [parkedByV1]);
    assert.equal(current[0]?.error, undefined);
  });

  it('the same change without patched() breaks parked messages: the reason for the rule', async () => {
    assert.ok(parkedByV1);
    // The unsafe change is in processMessage, so every message history must break (analytics ones need not).
    const histories = [...committed().filter((h) => !h.workflowId.startsWith('analytics-')), parkedByV1];
    const results = await replayAll(unsafeBundle, histories);
    const broken = results.filter((r) => r.error?.name === 'DeterminismViolationError');
    assert.equal(broken.length, histories.length, 'every recorded history fails to replay');
  });
});
