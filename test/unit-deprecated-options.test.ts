/**
 * The millisecond forms of duration options still work: each gives the same result as its duration form
 * (for a handler: the same recorded topic policy), emits its DeprecationWarning once per process, and is
 * refused beside its duration form.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Client, Connection } from '@temporalio/client';
import { defineHandler, HandlerDefinitionError } from '../src/worker/handlers';
import type { HandlerOptions } from '../src/worker/handlers';
import { createMessageActivities } from '../activities/message-activities';
import { TemporaryError } from '../src/contract/errors';
import { classifyError } from '../src/contract/classify';
import { ensureRetention, setupServer } from '../src/ops/setup';
import { ensureAnalyticsSchedule } from '../src/analytics/schedule';
import { DEPRECATIONS } from '../src/contract/deprecation';

const warnings: Array<{ name: string; code: string | undefined; message: string }> = [];
process.on('warning', (w: Error & { code?: string }) =>
  warnings.push({ name: w.name, code: w.code, message: w.message }),
);
/** The deprecation warnings with `code` emitted so far (process warnings arrive on a later tick). */
async function warned(code: keyof typeof DEPRECATIONS): Promise<typeof warnings> {
  await new Promise((resolve) => setImmediate(resolve));
  return warnings.filter((w) => w.code === code);
}

/** The topic policy the `lookupRoute` local activity answers, and the workflow records, for one handler. */
async function recordedPolicy(redrive: HandlerOptions<unknown>['redrive']) {
  const handler = defineHandler({ topic: 'orders', handle: () => 1, redrive });
  const activities = createMessageActivities({
    handlers: new Map([['orders', handler]]),
    guards: { expireAfterMs: 1_000, maxRepairCycles: 2, maxPayloadBytes: 100 },
    logger: pino({ level: 'silent' }),
    identity: 'test-worker',
  });
  return activities.lookupRoute('orders');
}

describe('deprecated millisecond options', () => {
  it('redrive.baseDelayMs/maxDelayMs: the same recorded policy as baseDelay/maxDelay, one warning each', async () => {
    const legacy = await recordedPolicy({ baseDelayMs: 90_000, maxDelayMs: 7_200_000, maxRedrives: 2 });
    await recordedPolicy({ baseDelayMs: 90_000, maxDelayMs: 7_200_000 });
    const current = await recordedPolicy({ baseDelay: '90s', maxDelay: '2h', maxRedrives: 2 });
    assert.deepEqual(legacy, current);
    assert.deepEqual(current.redrive, {
      enabled: true,
      baseDelayMs: 90_000,
      multiplier: 2,
      maxDelayMs: 7_200_000,
      maxRedrives: 2,
    });
    for (const code of ['DLQ_DEP_REDRIVE_BASE_DELAY_MS', 'DLQ_DEP_REDRIVE_MAX_DELAY_MS'] as const) {
      const emitted = await warned(code);
      assert.equal(emitted.length, 1, `${code} once per process`);
      assert.equal(emitted[0]!.name, 'DeprecationWarning');
      assert.equal(emitted[0]!.message, DEPRECATIONS[code]);
    }
    assert.deepEqual((await recordedPolicy(undefined)).redrive, {
      enabled: true,
      baseDelayMs: 300_000,
      multiplier: 2,
      maxDelayMs: 21_600_000,
      maxRedrives: 3,
    });
  });

  it('refuses a redrive delay given in both forms, and a bad duration', () => {
    assert.throws(
      () =>
        defineHandler({
          topic: 'orders',
          handle: () => 1,
          redrive: { baseDelay: '1m', baseDelayMs: 60_000 },
        }),
      (err: unknown) =>
        err instanceof HandlerDefinitionError &&
        err.problems.includes(
          'redrive.baseDelay: give redrive.baseDelay or the deprecated redrive.baseDelayMs, not both',
        ),
    );
    assert.throws(
      () => defineHandler({ topic: 'orders', handle: () => 1, redrive: { maxDelay: 'soon' } }),
      (err: unknown) =>
        err instanceof HandlerDefinitionError &&
        err.problems.some((p) => p.startsWith('redrive.maxDelay: must be')),
    );
  });

  it('retryAfterMs: the same backoff as retryAfter, one warning; both forms or a bad duration throw', async () => {
    const legacy = new TemporaryError('429', { reason: 'HTTP_429', retryAfterMs: 300 });
    new TemporaryError('429', { retryAfterMs: 300 });
    const current = new TemporaryError('429', { reason: 'HTTP_429', retryAfter: '300ms' });
    assert.equal(legacy.retryAfterMs, 300);
    const withoutStack = ({ stack: _stack, ...rest }: ReturnType<typeof classifyError>) => rest;
    assert.deepEqual(withoutStack(classifyError(legacy)), withoutStack(classifyError(current)));
    assert.equal(classifyError(current).nextRetryDelayMs, 300);
    assert.equal((await warned('DLQ_DEP_RETRY_AFTER_MS')).length, 1);
    assert.throws(() => new TemporaryError('x', { retryAfter: '1s', retryAfterMs: 1000 }), TypeError);
    assert.throws(() => new TemporaryError('x', { retryAfter: 'later' }), /retryAfter: must be a duration/);
    // A bad deprecated value alone (NaN from a missing header) is ignored, as before: the error keeps its class.
    const nan = new TemporaryError('429', { reason: 'HTTP_429', retryAfterMs: Number(undefined) * 1000 });
    assert.equal(nan.retryAfterMs, undefined);
    assert.equal(classifyError(nan).reason, 'HTTP_429');
  });

  it('retentionMs and a number given to ensureRetention: the same namespace update as a duration, one warning', async () => {
    const updates: unknown[] = [];
    const connection = {
      workflowService: {
        describeNamespace: () => Promise.resolve({ config: {} }),
        updateNamespace: (request: unknown) => Promise.resolve(void updates.push(request)),
      },
      operatorService: {
        listSearchAttributes: () => Promise.resolve({ customAttributes: {} }),
        addSearchAttributes: () => Promise.resolve({}),
      },
    } as unknown as Connection;
    await ensureRetention(connection, 'ns', 7 * 86_400_000);
    await ensureRetention(connection, 'ns', '7d');
    await setupServer(connection, { namespace: 'ns', retentionMs: 7 * 86_400_000 });
    await setupServer(connection, { namespace: 'ns', retention: '7d' });
    assert.equal(updates.length, 4);
    for (const update of updates.slice(1)) assert.deepEqual(update, updates[0]);
    assert.equal((await warned('DLQ_DEP_RETENTION_MS')).length, 1);
    await assert.rejects(
      setupServer(connection, { namespace: 'ns', retention: '7d', retentionMs: 1 }),
      /retention: give retention or the deprecated retentionMs, not both/,
    );
  });

  it('an analytics interval in ms: the same schedule spec as a duration, one warning', async () => {
    const specs: unknown[] = [];
    const client = {
      schedule: {
        create: (options: { spec: unknown; action: { args: unknown[]; taskQueue: string } }) => {
          specs.push(options.spec);
          const description = {
            action: { type: 'startWorkflow', args: options.action.args, taskQueue: options.action.taskQueue },
            spec: options.spec,
            state: { paused: true },
          };
          return Promise.resolve({ describe: () => Promise.resolve(description) });
        },
      },
    } as unknown as Client;
    await ensureAnalyticsSchedule(client, { taskQueue: 'q', interval: 120_000, paused: true });
    await ensureAnalyticsSchedule(client, { taskQueue: 'q', interval: 120_000, paused: true });
    await ensureAnalyticsSchedule(client, { taskQueue: 'q', interval: '2m', paused: true });
    assert.deepEqual(specs, [
      { intervals: [{ every: 120_000 }] },
      { intervals: [{ every: 120_000 }] },
      { intervals: [{ every: 120_000 }] },
    ]);
    assert.equal((await warned('DLQ_DEP_ANALYTICS_INTERVAL_MS')).length, 1);
  });
});
