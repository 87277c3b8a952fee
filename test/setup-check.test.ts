/**
 * Issue 13, item 7: a worker on a namespace where nothing registered the `Dlq*` search attributes would fail
 * every parking workflow task, forever. `createWorker` refuses to start there, naming what is missing and
 * how to register it. A fresh namespace on the suite's real dev server, registered here without them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { openTestEnv, requireEnv, silentLogger, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { createWorker } from '../src/worker/create-worker';
import type { CreateWorkerOptions } from '../src/worker/create-worker';
import { defineHandler } from '../src/worker/handlers';
import { loadConfig } from '../src/config';
import { publish } from '../src/client/publish';
import { SetupError, setupServer } from '../src/ops/setup';
import { PermanentError } from '../src/contract/errors';
import { ALL_SEARCH_ATTRIBUTES, DlqTopic } from '../src/contract/search-attributes';
import { messageWorkflowId } from '../src/contract/names';

const NAMESPACE = `dlq-unset-${uid()}`;
const TOPIC = `setup-${uid()}`;
let env: TestEnv;

const handlers = [
  defineHandler({
    topic: TOPIC,
    handle: () => {
      throw new PermanentError('customer 42 does not exist', { reason: 'HTTP_404' });
    },
  }),
];

function workerOptions(extra: Partial<CreateWorkerOptions> = {}): CreateWorkerOptions {
  return {
    handlers,
    config: loadConfig({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      LOG_LEVEL: 'silent',
    }),
    logger: silentLogger,
    connection: env.nativeConnection,
    installRuntimeLogger: false,
    workflowBundlePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE'),
    ...extra,
  };
}

/** Custom search attributes of the namespace, once the server lists it. */
async function customAttributes(): Promise<Record<string, unknown>> {
  const listed = await env.connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
  return listed.customAttributes ?? {};
}

before(async () => {
  env = await openTestEnv();
  await env.connection.workflowService.registerNamespace({
    namespace: NAMESPACE,
    workflowExecutionRetentionPeriod: msToTs(86_400_000),
  });
  // A new namespace is usable once the frontend's namespace cache has it.
  await waitFor(`namespace ${NAMESPACE}`, async () => ((await customAttributes()) ? true : undefined));
});
after(async () => env.close());

describe('createWorker checks the set-up', () => {
  it('refuses a namespace without the Dlq* search attributes, naming them and the set-up step', async () => {
    await assert.rejects(createWorker(workerOptions()), (err: unknown) => {
      assert.ok(err instanceof SetupError, String(err));
      assert.deepEqual([...err.missing].sort(), ALL_SEARCH_ATTRIBUTES.map((k) => k.name).sort());
      for (const key of ALL_SEARCH_ATTRIBUTES) assert.match(err.message, new RegExp(`\\b${key.name}\\b`));
      assert.match(err.message, new RegExp(`Namespace "${NAMESPACE}" is not set up`));
      assert.match(err.message, /setupServer\(connection, \{ namespace: '[^']+', retention: '30d' \}\)/);
      assert.match(err.message, /npm start/);
      assert.match(err.message, /temporal operator search-attribute create --namespace/);
      // One --type per --name: CLI 1.5.1 registers only the first of several names given one --type.
      for (const key of ALL_SEARCH_ATTRIBUTES)
        assert.match(err.message, new RegExp(`--name ${key.name} --type \\w+`), key.name);
      assert.doesNotMatch(err.message, /--name \w+ --name/);
      return true;
    });
  });

  it('names only the attributes still missing', async () => {
    await env.connection.operatorService.addSearchAttributes({
      namespace: NAMESPACE,
      searchAttributes: {
        [DlqTopic.name]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      },
    });
    await waitFor('DlqTopic registered', async () =>
      (await customAttributes())[DlqTopic.name] !== undefined ? true : undefined,
    );
    await assert.rejects(createWorker(workerOptions()), (err: unknown) => {
      assert.ok(err instanceof SetupError, String(err));
      assert.equal(err.missing.length, ALL_SEARCH_ATTRIBUTES.length - 1);
      assert.ok(!err.missing.includes(DlqTopic.name));
      assert.doesNotMatch(err.message, /\bDlqTopic\b/);
      return true;
    });
    // The check can be turned off (the worker is created, and stopped at once).
    const unchecked = await createWorker(workerOptions({ checkSetup: false }));
    await unchecked.runUntil(Promise.resolve());
  });

  it('after setupServer the same worker starts and a message parks in that namespace', async () => {
    await setupServer(env.connection, { namespace: NAMESPACE, retention: '1d' });
    await waitFor('every attribute registered', async () => {
      const custom = await customAttributes();
      return ALL_SEARCH_ATTRIBUTES.every((k) => custom[k.name] !== undefined) ? true : undefined;
    });
    const worker = await createWorker(workerOptions());
    const client = new Client({ connection: env.connection, namespace: NAMESPACE });
    await worker.runUntil(async () => {
      const result = await publish(
        client,
        { id: 'p-1', topic: TOPIC, payload: { n: 1 } },
        { taskQueue: env.taskQueue },
      );
      assert.equal(result.ok, true);
      const state = await waitForStatus(client, messageWorkflowId(TOPIC, 'p-1'), 'dead');
      assert.equal(state.deadLetter?.reason, 'HTTP_404');
    });
  });
});
