/** The edges: envelope validation, payload size, config and handler definitions. No server needed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toEnvelope, PublishError } from '../src/client/publish';
import { ConfigError, loadConfig } from '../src/config';
import { defineHandler, HandlerDefinitionError } from '../src/worker/handlers';
import { jsonProblem } from '../src/contract/plain-json';
import { retryInputSchema } from '../src/contract/operator-input';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof PublishError || err instanceof ConfigError || err instanceof HandlerDefinitionError)
      return err.problems;
    throw err;
  }
  assert.fail('expected an error');
}

describe('envelope', () => {
  it('fills headers and producedAt', () => {
    const env = toEnvelope(
      { id: 'a.1', topic: 'orders', payload: { x: 1 } },
      1000,
      new Date('2026-01-01T00:00:00Z'),
    );
    assert.deepEqual(env.headers, {});
    assert.equal(env.producedAt, '2026-01-01T00:00:00.000Z');
  });

  it('lists every bad field at once', () => {
    const problems = problemsOf(() =>
      toEnvelope({ id: 'bad id!', topic: 'a:b', payload: undefined, extra: 1 }),
    );
    assert.ok(
      problems.some((p) => p.startsWith('id:')),
      problems.join('\n'),
    );
    assert.ok(problems.some((p) => p.startsWith('topic:')));
    assert.ok(problems.some((p) => p.startsWith('payload:')));
    assert.ok(problems.some((p) => p.includes('extra')));
  });

  it('refuses ids over 200 characters and payloads over the size limit', () => {
    assert.ok(
      problemsOf(() => toEnvelope({ id: 'x'.repeat(201), topic: 't', payload: 1 }))[0]!.startsWith('id:'),
    );
    const err = (() => {
      try {
        toEnvelope({ id: 'big', topic: 't', payload: { s: 'é'.repeat(600) } }, 1000);
      } catch (e) {
        return e as PublishError;
      }
    })();
    assert.equal(err?.code, 'PAYLOAD_TOO_LARGE');
    assert.match(err?.problems[0] ?? '', /1000 bytes/);
  });

  it('refuses non-JSON and too-deep payloads without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.match(jsonProblem(deep)!, /deeper than/);
    assert.match(jsonProblem({ d: new Date() })!, /class instance/);
    assert.match(jsonProblem({ n: NaN })!, /NaN/);
    const cyc: Record<string, unknown> = {};
    cyc.c = cyc;
    assert.match(jsonProblem(cyc)!, /circular/);
    assert.equal(jsonProblem({ a: [1, 'x', null, { b: true }] }), undefined);
  });
});

describe('retry input', () => {
  it('accepts patch or payload, never both, and only object patches', () => {
    assert.ok(retryInputSchema.safeParse({ patch: { a: 1 } }).success);
    assert.ok(retryInputSchema.safeParse({}).success);
    assert.ok(!retryInputSchema.safeParse({ patch: { a: 1 }, payload: 2 }).success);
    assert.ok(!retryInputSchema.safeParse({ patch: [1] }).success);
    assert.ok(!retryInputSchema.safeParse({ patch: 'x' }).success);
    assert.ok(!retryInputSchema.safeParse({ unknown: 1 }).success);
  });
});

describe('config', () => {
  it('has sane defaults', () => {
    const c = loadConfig({});
    assert.equal(c.TEMPORAL_ADDRESS, '127.0.0.1:7233');
    assert.equal(c.TEMPORAL_TASK_QUEUE, 'dlq-messages');
    assert.equal(c.DLQ_RETENTION, 30 * 86_400_000);
    assert.equal(c.DLQ_EXPIRE_AFTER, 14 * 86_400_000);
    assert.equal(c.DLQ_MAX_REPAIR_CYCLES, 20);
    assert.equal(c.DLQ_MAX_PAYLOAD_BYTES, 262_144);
  });

  it('names each bad variable and what it allows', () => {
    const problems = problemsOf(() =>
      loadConfig({
        TEMPORAL_ADDRESS: 'nope',
        LOG_LEVEL: 'loud',
        DLQ_EXPIRE_AFTER: 'forever',
        DLQ_MAX_REPAIR_CYCLES: '-1',
      }),
    );
    assert.equal(problems.length, 4);
    assert.match(
      problems.find((p) => p.startsWith('TEMPORAL_ADDRESS'))!,
      /host:port/,
    );
    assert.match(
      problems.find((p) => p.startsWith('LOG_LEVEL'))!,
      /info/,
    );
    assert.match(
      problems.find((p) => p.startsWith('DLQ_EXPIRE_AFTER'))!,
      /duration/,
    );
    assert.match(
      problems.find((p) => p.startsWith('DLQ_MAX_REPAIR_CYCLES'))!,
      /whole number/,
    );
  });

  it('requires the mTLS cert and key together', () => {
    assert.match(problemsOf(() => loadConfig({ TEMPORAL_TLS_CERT: '/x.pem' }))[0]!, /TEMPORAL_TLS_KEY/);
  });
});

describe('defineHandler', () => {
  it('rejects bad definitions with every problem listed', () => {
    const problems = problemsOf(() =>
      // @ts-expect-error -- firstAttempt is checked at run time too, for JavaScript callers
      defineHandler({ topic: 'bad topic', timeout: 'later', firstAttempt: 'remote' }),
    );
    assert.ok(problems.some((p) => p.startsWith('topic')));
    assert.ok(problems.some((p) => p.startsWith('timeout')));
    assert.ok(problems.includes("firstAttempt: must be 'local' or 'activity'"), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('exactly one of')));
  });

  it('rejects a maximum retry interval shorter than the initial one, naming both, beside other problems', () => {
    assert.deepEqual(
      problemsOf(() => defineHandler({ topic: 'ok', handle: () => 1, retry: { initialInterval: '2m' } })),
      ['retry.maximumInterval: must be at least retry.initialInterval (2m); it is 1m'],
    );
    const problems = problemsOf(() =>
      defineHandler({
        topic: 'bad topic',
        handle: () => 1,
        retry: { initialInterval: '10s', maximumInterval: '5s' },
      }),
    );
    assert.ok(problems.some((p) => p.startsWith('topic')));
    assert.ok(
      problems.includes('retry.maximumInterval: must be at least retry.initialInterval (10s); it is 5s'),
    );
  });

  it('fills the documented defaults and always keeps the default non-retryable types', () => {
    const h = defineHandler({
      topic: 'ok',
      handle: () => 1,
      retry: { nonRetryableErrorTypes: ['QuotaError'] },
    });
    assert.equal(h.stageTimeoutMs, 30_000);
    assert.equal(h.firstAttempt, 'local');
    assert.equal(h.retry.maximumAttempts, 5);
    assert.deepEqual(h.retry.nonRetryableErrorTypes, [
      'PermanentError',
      'ValidationError',
      'SecurityError',
      'QuotaError',
    ]);
    assert.deepEqual(
      h.stages.map((s) => s.name),
      ['handle'],
    );
  });
});
