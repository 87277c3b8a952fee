/** Guards against the real dev server: expiry, the repair-cycle limit, and continue-as-new carrying all state. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { openTestEnv, recordHistory, requireEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import { DlqStatus } from '../src/contract/search-attributes';
import { startDevServer } from '../src/ops/dev-server';
import type { DevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import type { MessageOutcome } from '../src/contract/types';

const alwaysFails = defineHandler({
  topic: 'always-fails',
  handle: () => {
    throw new PermanentError('downstream rejects everything');
  },
});
const fixable = defineHandler({
  topic: 'fixable',
  handle: ({ payload }) => {
    if ((payload as { ok?: boolean }).ok !== true) throw new PermanentError('not ok yet');
    return 'done';
  },
});

async function send(env: TestEnv, topic: string, payload: unknown) {
  const r = await publish(env.client, { id: uid(), topic, payload }, { taskQueue: env.taskQueue });
  assert.ok(r.ok);
  return r.workflowId;
}

describe('expiry', () => {
  let env: TestEnv;
  before(async () => {
    env = await openTestEnv();
    await env.startWorker([alwaysFails], { DLQ_EXPIRE_AFTER: '1500ms' });
  });
  after(async () => env.close());

  it('a parked message nobody touches expires, keeping its dead letter as the result', async () => {
    const id = await send(env, 'always-fails', { n: 1 });
    const parked = await waitForStatus(env.client, id, 'dead');
    assert.ok(Date.parse(parked.deadLetter!.expiresAt) - Date.parse(parked.deadLetter!.parkedAt) === 1500);
    const outcome = (await env.client.workflow.getHandle(id).result()) as MessageOutcome;
    assert.equal(outcome.status, 'expired');
    assert.equal(outcome.deadLetter?.message, 'downstream rejects everything');
    assert.deepEqual(
      outcome.audit.map((a) => a.action),
      ['parked', 'expired'],
    );
    const d = await env.client.workflow.getHandle(id).describe();
    assert.equal(d.typedSearchAttributes.get(DlqStatus), 'expired');
    await recordHistory(env.client, id, 'expired');
  });
});

describe('repair-cycle limit', () => {
  let env: TestEnv;
  before(async () => {
    env = await openTestEnv();
    await env.startWorker([alwaysFails], { DLQ_MAX_REPAIR_CYCLES: '2' });
  });
  after(async () => env.close());

  it('after the limit the message stays parked until discarded', async () => {
    const id = await send(env, 'always-fails', {});
    const handle = env.client.workflow.getHandle(id);
    await waitForStatus(env.client, id, 'dead');
    for (let cycle = 1; cycle <= 2; cycle++) {
      await handle.executeUpdate(repairUpdate, { args: [{ reason: `try ${cycle}` }] });
      await waitFor(`park ${cycle + 1}`, async () => {
        const s = await handle.query(stateQuery);
        return s.status === 'dead' && s.parkCount === cycle + 1 ? s : undefined;
      });
    }
    await assert.rejects(
      handle.executeUpdate(repairUpdate, { args: [{ reason: 'third' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError &&
        /repair-cycle limit \(2\)/.test((err.cause as Error).message),
    );
    await handle.signal(retrySignal, { reason: 'signal too' });
    const state = await waitFor('signal rejection', async () => {
      const s = await handle.query(stateQuery);
      return s.audit.some((a) => a.action === 'retry-rejected' && a.via === 'signal') ? s : undefined;
    });
    assert.equal(state.status, 'dead');
    assert.equal(state.cycle, 2);
    await handle.signal(discardSignal, { reason: 'gave up' });
    assert.equal(((await handle.result()) as MessageOutcome).status, 'discarded');
    await recordHistory(env.client, id, 'cycle-limit-discarded');
  });
});

describe('continue-as-new', () => {
  let server: DevServer;
  let env: TestEnv;
  before(async () => {
    // A server of its own that suggests continue-as-new after 40 events.
    server = await startDevServer({
      cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
      uiPort: false,
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40'],
    });
    env = await openTestEnv(server.address);
    await setupServer(env.connection, { namespace: 'default', retention: '1d' });
    await env.startWorker([fixable]);
  });
  after(async () => {
    await env?.close();
    await server?.stop();
  });

  it('a long-parked message continues as new with its state and audit trail, then recovers', async () => {
    const id = await send(env, 'fixable', { ok: false, customer: 'c-1' });
    const handle = env.client.workflow.getHandle(id);
    const parked = await waitForStatus(env.client, id, 'dead');
    const firstRunId = (await handle.describe()).runId;
    // Each rejected signal adds history events until the server suggests continue-as-new.
    for (let i = 0; i < 30; i++)
      await handle.signal(retrySignal, { patch: 'not-an-object' as never, operator: `op-${i}` });
    const continued = await waitFor('continue-as-new', async () => {
      const d = await handle.describe();
      return d.runId !== firstRunId ? d : undefined;
    });
    const state = await waitFor('all rejections carried', async () => {
      const s = await handle.query(stateQuery);
      return s.audit.filter((a) => a.action === 'retry-rejected').length === 30 ? s : undefined;
    });
    assert.equal(state.status, 'dead');
    assert.deepEqual(state.deadLetter, parked.deadLetter);
    assert.ok(state.audit.some((a) => a.action === 'continued-as-new'));
    assert.equal(continued.typedSearchAttributes.get(DlqStatus), 'dead', 'search attributes carried');
    await recordHistory(env.client, id, 'continued-as-new-first', firstRunId);

    await handle.executeUpdate(repairUpdate, { args: [{ patch: { ok: true }, operator: 'erin' }] });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'recovered');
    assert.equal(outcome.audit.filter((a) => a.action === 'retry-rejected').length, 30);
    assert.equal(outcome.audit[0]?.action, 'parked');
    await recordHistory(env.client, id, 'continued-as-new-final');
  });
});
