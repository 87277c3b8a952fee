/**
 * The pure parts of the sinks: the event built from a dead letter (payload only when asked for, the stack cut,
 * an id stable per parking and kind), the `DlqUndelivered` list, the origin read back from a NATS source, the
 * immediate alert's notification and delivery id, the table name check, and the `DLQ_SINK_*` variables.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_MIRRORED_STACK, mirrorEvent, withUndelivered } from '../src/contract/mirror';
import type { MirrorPolicy } from '../src/contract/mirror';
import type { DeadLetter } from '../src/contract/types';
import { messageOrigin } from '../src/sinks/origin';
import { immediateAlertDeliveryId, immediateAlertNotification } from '../src/sinks/alert-webhook-sink';
import { deadLettersDdl } from '../src/sinks/postgres-sink';
import { ConfigError, loadConfig } from '../src/config';
import { createEventSinks } from '../src/sinks';

/** An alert webhook nobody posts to: `createEventSinks` needs somewhere to send, and sends nothing here. */
const WEBHOOK = { url: 'http://127.0.0.1:1/hook' };

const deadLetter: DeadLetter = {
  workflowId: 'msg:orders:o-1',
  messageId: 'o-1',
  topic: 'orders',
  payload: { card: '4111' },
  payloadVersion: 1,
  errorClass: 'permanent',
  errorType: 'PermanentError',
  reason: 'WORKER_CRASHED',
  message: 'killed',
  stack: 'x'.repeat(MAX_MIRRORED_STACK + 10),
  attempts: 3,
  firstFailureAt: '2026-11-30T00:00:00.000Z',
  lastFailureAt: '2026-11-30T00:01:00.000Z',
  parkedAt: '2026-11-30T00:01:00.000Z',
  stage: 'charge',
  fingerprint: 'f',
  source: 'nats:ORDERS/42 dlq.orders',
  headers: {},
  parkCount: 2,
  expiresAt: '2026-12-14T00:01:00.000Z',
};

const policy = (payloads: boolean): MirrorPolicy => ({
  sinks: ['nats', 'postgres'],
  alertWebhook: true,
  payloads,
  parkBudgetMs: 1000,
  resolutionBudgetMs: 1000,
});

describe('mirror events', () => {
  it('carry the payload only when asked for, cut the stack, and have an id per parking and kind', () => {
    const without = mirrorEvent(deadLetter, 'parked', policy(false));
    assert.equal('payload' in without.deadLetter, false);
    assert.equal(without.deadLetter.stack?.length, MAX_MIRRORED_STACK);
    assert.equal(without.eventId, 'msg:orders:o-1:2:parked');
    const withPayload = mirrorEvent(deadLetter, 'recovered', policy(true), {
      resolution: { status: 'recovered', at: 'now' },
    });
    assert.deepEqual(withPayload.deadLetter.payload, { card: '4111' });
    assert.equal(withPayload.eventId, 'msg:orders:o-1:2:recovered');
  });

  it('list each undelivered sink once, in the order they failed', () => {
    assert.equal(withUndelivered(undefined, 'nats'), 'nats');
    assert.equal(withUndelivered('nats', 'postgres'), 'nats,postgres');
    assert.equal(withUndelivered('nats,postgres', 'nats'), 'nats,postgres');
  });

  it('read the NATS origin back from the source, and fall back to the topic', () => {
    assert.deepEqual(messageOrigin('nats:ORDERS/42 dlq.orders', 'orders'), {
      subject: 'dlq.orders',
      stream: 'ORDERS',
      streamSeq: 42,
    });
    assert.deepEqual(messageOrigin(undefined, 'orders'), { subject: 'orders' });
    assert.deepEqual(messageOrigin('billing-service', 'orders'), { subject: 'orders' });
    // `source` is the producer's to set: a subject that cannot be published on, or may have been cut, is not used.
    for (const subject of ['dlq.*', 'dlq.>', 'dlq..orders', `dlq.${'x'.repeat(160)}`])
      assert.deepEqual(messageOrigin(`nats:ORDERS/42 ${subject}`, 'orders'), { subject: 'orders' }, subject);
  });

  it('send a worker-killing message as one critical notification, one delivery per parking', () => {
    const event = mirrorEvent(deadLetter, 'parked', policy(false), { alert: 'worker-crashed' });
    const n = immediateAlertNotification(event);
    assert.equal(n.rule, 'worker-crashed');
    assert.equal(n.severity, 'critical');
    assert.equal(n.kind, 'fired');
    assert.match(n.message, /POISON MESSAGE: o-1 on orders killed its worker 3 time\(s\) in stage charge/);
    assert.equal(immediateAlertDeliveryId(event), 'msg:orders:o-1:2');
  });

  it('refuse a table name that is not a plain identifier', () => {
    assert.match(deadLettersDdl('ops.dead_letters'), /CREATE TABLE IF NOT EXISTS "ops"\."dead_letters"/);
    assert.throws(() => deadLettersDdl('dead_letters; DROP TABLE x'), /Invalid table name/);
  });
});

describe('DLQ_SINK_* variables', () => {
  it('have their defaults and parse servers and budgets', () => {
    const config = loadConfig({
      DLQ_SINK_NATS_SERVERS: 'nats://a:4222, 127.0.0.1:4223',
      DLQ_SINK_PARK_BUDGET: '2h',
    });
    assert.deepEqual(config.DLQ_SINK_NATS_SERVERS, ['nats://a:4222', '127.0.0.1:4223']);
    assert.equal(config.DLQ_SINK_NATS_SUBJECT_PREFIX, 'DLQ.');
    assert.equal(config.DLQ_SINK_NATS_STREAM, 'DLQ');
    assert.equal(config.DLQ_SINK_POSTGRES_TABLE, 'dead_letters');
    assert.equal(config.DLQ_SINK_PAYLOADS, false);
    assert.equal(config.DLQ_SINK_PARK_BUDGET, 2 * 3600_000);
    assert.equal(config.DLQ_SINK_RESOLUTION_BUDGET, 10 * 60_000);
  });

  it('keep delivery budgets from 1 s to 30 days, from the environment and from code', () => {
    for (const value of ['500ms', '31d'])
      assert.throws(
        () => loadConfig({ DLQ_SINK_PARK_BUDGET: value }),
        (err: unknown) =>
          err instanceof ConfigError && /DLQ_SINK_PARK_BUDGET.*1s to 30d/.test(err.problems.join('\n')),
      );
    for (const value of [0, -1, Number.NaN, 999, 1.5e3 + 0.5])
      assert.throws(() => createEventSinks({ parkBudgetMs: value }, WEBHOOK), /sinks\.parkBudgetMs/);
    assert.throws(() => createEventSinks({ resolutionBudgetMs: 0 }, WEBHOOK), /sinks\.resolutionBudgetMs/);
  });

  it('name every bad value and what is allowed', () => {
    assert.throws(
      () =>
        loadConfig({
          DLQ_SINK_NATS_SERVERS: 'http://x',
          DLQ_SINK_NATS_SUBJECT_PREFIX: 'DLQ',
          DLQ_SINK_POSTGRES_URL: 'mysql://x',
          DLQ_SINK_POSTGRES_TABLE: 'Dead Letters',
          DLQ_SINK_PAYLOADS: 'maybe',
          DLQ_SINK_RESOLUTION_BUDGET: 'soon',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        for (const name of [
          'DLQ_SINK_NATS_SERVERS',
          'DLQ_SINK_NATS_SUBJECT_PREFIX',
          'DLQ_SINK_POSTGRES_URL',
          'DLQ_SINK_POSTGRES_TABLE',
          'DLQ_SINK_PAYLOADS',
          'DLQ_SINK_RESOLUTION_BUDGET',
        ])
          assert.match(text, new RegExp(name));
        assert.match(text, /nats:\/\/127\.0\.0\.1:4222/);
        return true;
      },
    );
  });
});
