/**
 * The bad-input battery (fast-check): everything a producer, an operator or a handler can throw at the system.
 * Every case ends in a clear error at the edge or a classified parking: no worker crash, no stuck or failed
 * workflow, no unhandled rejection. The number of cases that ran is printed at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { openTestEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { classifyError } from '../src/contract/classify';
import { ERROR_CLASSES, FAILURE_TYPE_BY_CLASS, TemporaryError } from '../src/contract/errors';
import { MAX_PAYLOAD_DEPTH } from '../src/contract/plain-json';
import { MESSAGE_ID_PATTERN, TOPIC_PATTERN } from '../src/contract/id-patterns';
import { discardInputSchema, retryInputSchema } from '../src/contract/operator-input';
import type { MessageOutcome } from '../src/contract/types';
import { publish, PublishError, toEnvelope } from '../src/client/publish';
import { defineHandler } from '../src/worker/handlers';
import { discardSignal, repairUpdate, retrySignal, stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';

const cases: Record<string, number> = {};
const counted =
  <T>(name: string, fn: (v: T) => void) =>
  (v: T) => {
    cases[name] = (cases[name] ?? 0) + 1;
    fn(v);
  };
const countedAsync =
  <T>(name: string, fn: (v: T) => Promise<void>) =>
  async (v: T) => {
    cases[name] = (cases[name] ?? 0) + 1;
    await fn(v);
  };

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));
process.on('uncaughtException', (err) => unhandled.push(err));

/** Values no sane code throws, each built to break a naive error handler. */
function hostileThrowables(): Array<[string, unknown]> {
  const circular: Record<string, unknown> = { name: 'Circular' };
  circular.self = circular;
  const getters = Object.defineProperties(
    {},
    {
      name: {
        get: () => {
          throw new Error('name getter');
        },
        enumerable: true,
      },
      message: {
        get: () => {
          throw new Error('message getter');
        },
        enumerable: true,
      },
      stack: {
        get: () => {
          throw new Error('stack getter');
        },
        enumerable: true,
      },
      status: {
        get: () => {
          throw new Error('status getter');
        },
        enumerable: true,
      },
      code: {
        get: () => {
          throw new Error('code getter');
        },
        enumerable: true,
      },
    },
  );
  const trap = () => {
    throw new Error('trap');
  };
  const hostileProxy = new Proxy(
    {},
    { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap },
  );
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const errorWithBadName = new Error('bad name');
  Object.defineProperty(errorWithBadName, 'name', { get: trap });
  return [
    ['a string', 'something broke'],
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a bigint', 10n],
    ['a symbol', Symbol('thrown')],
    ['a function', () => 1],
    ['a circular object', circular],
    ['throwing getters', getters],
    ['a hostile proxy', hostileProxy],
    ['a revoked proxy', revoked.proxy],
    ['an Error with a throwing name', errorWithBadName],
    ['a null-prototype object', Object.create(null) as object],
    ['an object with a toJSON that throws', { toJSON: trap, message: 7 }],
    ['an object posing as a SecurityError', { type: 'SecurityError', reason: 17 }],
    ['a status that is not a number', { status: 'teapot', statusCode: {} }],
    ['an array', [1, 'two', { three: 3 }]],
    ['an Error with a huge message', new Error('x'.repeat(100_000))],
  ];
}

describe('classifyError is total (pure property tests)', () => {
  const anything = fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
    withBoxedValues: true,
  });
  const check = (value: unknown) => {
    const c = classifyError(value);
    assert.ok((ERROR_CLASSES as readonly string[]).includes(c.errorClass));
    assert.equal(c.type, FAILURE_TYPE_BY_CLASS[c.errorClass]);
    assert.equal(typeof c.message, 'string');
    assert.ok(c.message.length <= 2000);
    assert.equal(typeof c.reason, 'string');
    assert.ok(c.reason.length > 0);
    JSON.stringify(c); // the classification always crosses the wire
  };

  it('never throws and always answers a catalogued class, for anything', () => {
    fc.assert(fc.property(anything, counted('classify: anything', check)), { numRuns: 500 });
    for (const [, value] of hostileThrowables()) counted('classify: hostile', check)(value);
  });

  it('maps HTTP statuses by number, wherever they sit and whatever the message', () => {
    fc.assert(
      fc.property(
        fc.tuple(
          fc.integer({ min: 400, max: 599 }),
          fc.constantFrom('status', 'statusCode'),
          fc.boolean(),
          fc.string(),
        ),
        counted('classify: http', ([status, field, nested, message]: [number, string, boolean, string]) => {
          const err = Object.assign(
            new Error(message),
            nested ? { response: { [field]: status } } : { [field]: status },
          );
          const c = classifyError(err);
          const expected =
            status === 401 || status === 403
              ? 'security'
              : status === 400 || status === 422
                ? 'validation'
                : status === 408 || status === 429 || status >= 500
                  ? 'temporary'
                  : 'permanent';
          assert.equal(c.errorClass, expected);
          assert.equal(c.reason, `HTTP_${status}`);
        }),
      ),
      { numRuns: 300 },
    );
  });

  it('never reads the message text: the same message classifies by type only', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Unauthorized 401', 'ECONNRESET', 'validation failed', 'timeout', 'PermanentError'),
        counted('classify: message text', (message: string) => {
          assert.equal(classifyError(new Error(message)).errorClass, 'temporary');
          assert.equal(classifyError(message).errorClass, 'temporary');
        }),
      ),
      { numRuns: 50 },
    );
  });
});

/** One corruption applied to a valid envelope: the result must always be refused. */
type Corruption = [string, (m: Record<string, unknown>) => void];
const mk = (field: string, corrupt: (m: Record<string, unknown>) => void): Corruption => [field, corrupt];
const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc
    .oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(''), fc.string({ minLength: 201 }))
    .filter((v) => typeof v !== 'string' || !MESSAGE_ID_PATTERN.test(v))
    .map((v) => mk('id', (m) => void (m.id = v))),
  fc
    .oneof(fc.string(), fc.integer(), fc.constant(undefined), fc.constant('a:b'))
    .filter((v) => typeof v !== 'string' || !TOPIC_PATTERN.test(v))
    .map((v) => mk('topic', (m) => void (m.topic = v))),
  fc
    .constantFrom<unknown>(undefined, NaN, Infinity, () => 1, Symbol('s'), 1n, new Date(), new Map(), {
      a: undefined,
      b: NaN,
    })
    .map((v) => mk('payload', (m) => void (m.payload = v))),
  fc
    .oneof(
      fc.string(),
      fc.integer(),
      fc.array(fc.string()),
      fc.dictionary(fc.string(), fc.integer(), { minKeys: 1 }),
    )
    .map((v) => mk('headers', (m) => void (m.headers = v))),
  fc
    .string({ minLength: 1 })
    .filter(
      (k) =>
        !['id', 'topic', 'payload', 'headers', 'correlationId', 'traceId', 'source', 'producedAt'].includes(
          k,
        ),
    )
    // defineProperty, not assignment: `m['__proto__'] = 1` would set nothing, while JSON.parse creates the key.
    .map((k) =>
      mk(
        'unknown field',
        (m) =>
          void Object.defineProperty(m, k, {
            value: 1,
            enumerable: true,
            configurable: true,
            writable: true,
          }),
      ),
    ),
  fc
    .oneof(fc.string(), fc.integer())
    .filter((v) => typeof v !== 'string' || Number.isNaN(Date.parse(v)))
    .map((v) => mk('producedAt', (m) => void (m.producedAt = v))),
  fc.constantFrom('correlationId', 'traceId', 'source').map((f) => mk(f, (m) => void (m[f] = ''))),
);

const validEnvelope = fc.record({
  id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/),
  topic: fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/),
  payload: fc.jsonValue({ maxDepth: 4 }),
});

function deeplyNested(depth: number, asArray: boolean): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = asArray ? [value] : { child: value };
  return value;
}

function refused(fn: () => unknown, code?: PublishError['code']): PublishError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PublishError, `threw ${String(err)} instead of a PublishError`);
    assert.ok(err.problems.length > 0);
    if (code) assert.equal(err.code, code);
    return err;
  }
  assert.fail('the message was accepted');
}

describe('envelopes at the edge (toEnvelope)', () => {
  it('anything at all: a valid envelope or a PublishError listing problems, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ withBigInt: true, withNullPrototype: true }),
          fc.record({ id: fc.anything(), topic: fc.anything(), payload: fc.anything() }),
        ),
        counted('toEnvelope: anything', (input: unknown) => {
          try {
            const env = toEnvelope(input);
            assert.match(env.id, MESSAGE_ID_PATTERN);
            assert.match(env.topic, TOPIC_PATTERN);
          } catch (err) {
            assert.ok(err instanceof PublishError, `threw ${String(err)}`);
            assert.ok(err.problems.length > 0);
          }
        }),
      ),
      { numRuns: 500 },
    );
  });

  it('every corruption of a valid envelope is refused and names the bad field', () => {
    fc.assert(
      fc.property(
        fc.tuple(validEnvelope, corruption),
        counted(
          'toEnvelope: corrupted',
          ([base, [field, corrupt]]: [
            Record<string, unknown>,
            [string, (m: Record<string, unknown>) => void],
          ]) => {
            const message = { ...base };
            corrupt(message);
            const err = refused(() => toEnvelope(message), 'INVALID_ENVELOPE');
            if (field !== 'unknown field')
              assert.ok(
                err.problems.some((p) => p.startsWith(field)),
                err.message,
              );
          },
        ),
      ),
      { numRuns: 400 },
    );
  });

  it('refuses huge payloads by size and deep ones by depth, without overflowing the stack', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        counted('toEnvelope: huge', (kib: number) => {
          const payload = { blob: 'x'.repeat(kib * 1024 + 1) };
          refused(() => toEnvelope({ id: 'a', topic: 't', payload }, kib * 1024), 'PAYLOAD_TOO_LARGE');
        }),
      ),
      { numRuns: 40 },
    );
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: MAX_PAYLOAD_DEPTH + 1, max: 200_000 }), fc.boolean()),
        counted('toEnvelope: deep', ([depth, asArray]: [number, boolean]) => {
          const err = refused(() =>
            toEnvelope({ id: 'a', topic: 't', payload: deeplyNested(depth, asArray) }),
          );
          assert.ok(err.problems.some((p) => p.includes('nested deeper')));
        }),
      ),
      { numRuns: 30 },
    );
    // 3 MiB: over Temporal's own 2 MiB limit, refused before it reaches the server.
    counted('toEnvelope: huge', () =>
      refused(
        () => toEnvelope({ id: 'a', topic: 't', payload: 'x'.repeat(3 * 1024 * 1024) }),
        'PAYLOAD_TOO_LARGE',
      ),
    )(undefined);
  });
});

describe('against the real server', () => {
  let env: TestEnv;
  let worker: Worker;
  let starts = 0;
  let countingClient: Client;
  const thrown = new Map<string, unknown>();

  before(async () => {
    env = await openTestEnv();
    const counter: WorkflowClientInterceptor = {
      start: (input, next) => {
        starts += 1;
        return next(input);
      },
    };
    countingClient = new Client({ connection: env.connection, interceptors: { workflow: [counter] } });
    ({ worker } = await env.startWorker([
      defineHandler({
        topic: 'bad-parks',
        // Nothing a random generator sends can satisfy this, so the message stays parked.
        schema: z.object({ mustBe: z.literal(`never-${uid()}`) }),
        handle: () => 'never reached',
      }),
      defineHandler({
        topic: 'bad-throws',
        retry: { maximumAttempts: 1 },
        redrive: { enabled: false },
        handle: ({ envelope }) => {
          throw thrown.get(envelope.id);
        },
      }),
      defineHandler({ topic: 'bad-ok', handle: () => 'ok' }),
    ]));
  });
  after(async () => {
    await env.close();
    const total = Object.values(cases).reduce((a, b) => a + b, 0);
    process.stdout.write(`# bad-input cases: ${total} ${JSON.stringify(cases)}\n`);
  });

  it('publish refuses corrupted envelopes with PublishError and starts nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(validEnvelope, corruption),
        countedAsync(
          'publish: corrupted',
          async ([base, [, corrupt]]: [
            Record<string, unknown>,
            [string, (m: Record<string, unknown>) => void],
          ]) => {
            const message = { ...base };
            corrupt(message);
            await assert.rejects(
              publish(countingClient, message as never, { taskQueue: env.taskQueue }),
              (err: unknown) => err instanceof PublishError && err.problems.length > 0,
            );
          },
        ),
      ),
      { numRuns: 100 },
    );
    await assert.rejects(
      publish(
        countingClient,
        { id: 'deep', topic: 'bad-ok', payload: deeplyNested(100_000, false) },
        { taskQueue: env.taskQueue },
      ),
      PublishError,
    );
    assert.equal(starts, 0, 'no workflow was started for a refused message');
    // The counter is real: a valid message does start one.
    await publish(
      countingClient,
      { id: `ok-${uid()}`, topic: 'bad-ok', payload: {} },
      { taskQueue: env.taskQueue },
    );
    assert.equal(starts, 1);
  });

  it('a parked workflow survives random signals and updates: rejected or audited, never failed or stuck', async (t) => {
    const id = `parked-${uid()}`;
    const workflowId = messageWorkflowId('bad-parks', id);
    await publish(
      env.client,
      { id, topic: 'bad-parks', payload: { mustBe: 'wrong' } },
      { taskQueue: env.taskQueue },
    );
    await waitForStatus(env.client, workflowId, 'dead');
    const handle = env.client.workflow.getHandle(workflowId);

    const nonObject = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.jsonValue({ maxDepth: 2 })),
    );
    // What the Web UI or a script can send as JSON; inputs that would be a valid unchanged retry are excluded
    // (they would legitimately resume the message).
    const retryInput = fc
      .oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({ patch: nonObject }),
        fc.record({ patch: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })) }),
        fc.record({ payload: fc.jsonValue({ maxDepth: 3 }) }),
        fc.record({ patch: fc.object(), payload: fc.jsonValue() }),
        fc.record({ reason: fc.oneof(fc.integer(), fc.string({ minLength: 1001, maxLength: 1100 })) }),
      )
      .filter((v) => {
        const parsed = retryInputSchema.safeParse(v ?? {});
        return !parsed.success || parsed.data.patch !== undefined || parsed.data.payload !== undefined;
      });
    const discardInput = fc
      .jsonValue({ maxDepth: 3 })
      .filter((v) => !discardInputSchema.safeParse(v).success);

    let updates = 0;
    await fc.assert(
      fc.asyncProperty(
        retryInput,
        countedAsync('update: random repair', async (input: unknown) => {
          updates += 1;
          await assert.rejects(
            handle.executeUpdate(repairUpdate, { args: [input as never] }),
            WorkflowUpdateFailedError,
          );
        }),
      ),
      { numRuns: 60 },
    );
    const retrySignals = fc.sample(retryInput, 50);
    const discardSignals = fc.sample(discardInput, 30);
    for (const input of retrySignals) {
      cases['signal: random retry'] = (cases['signal: random retry'] ?? 0) + 1;
      await handle.signal(retrySignal, input as never);
    }
    for (const input of discardSignals) {
      cases['signal: random discard'] = (cases['signal: random discard'] ?? 0) + 1;
      await handle.signal(discardSignal, input as never);
    }
    const state = await waitFor(
      'every signal to be audited as rejected',
      async () => {
        const s = await handle.query(stateQuery);
        const rejected = s.audit.filter(
          (a) => a.via === 'signal' && (a.action === 'retry-rejected' || a.action === 'discard-rejected'),
        );
        return rejected.length >= retrySignals.length + discardSignals.length ? s : undefined;
      },
      120_000,
    );
    assert.equal(state.status, 'dead');
    assert.equal(state.payloadVersion, 1, 'nothing changed the payload');
    assert.ok(
      state.audit.filter((a) => a.via === 'update' && a.action === 'retry-rejected').length <= updates,
    );
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    // Not stuck: a proper discard still ends it.
    await handle.signal(discardSignal, { reason: 'bad-input battery done', operator: 'test' });
    const outcome = (await handle.result()) as MessageOutcome;
    assert.equal(outcome.status, 'discarded');
    t.diagnostic(
      `${updates} updates rejected, ${retrySignals.length + discardSignals.length} signals audited as rejected`,
    );
  });

  it('handlers throwing non-Error values park classified; the worker keeps running', async () => {
    const values: Array<[string, unknown]> = [
      ...hostileThrowables(),
      ...fc
        .sample(fc.anything({ withBigInt: true, withNullPrototype: true, withMap: true, withSet: true }), 20)
        .map((v, i): [string, unknown] => [`generated ${i}`, v]),
      ['a TemporaryError', new TemporaryError('fine')],
    ];
    const tag = uid();
    const ids = values.map(([, value], i) => {
      const id = `${tag}-${i}`;
      thrown.set(id, value);
      return id;
    });
    for (const id of ids)
      await publish(env.client, { id, topic: 'bad-throws', payload: { id } }, { taskQueue: env.taskQueue });
    for (const [i, id] of ids.entries()) {
      cases['handler: throws non-Error'] = (cases['handler: throws non-Error'] ?? 0) + 1;
      const [label, value] = values[i]!;
      const state = await waitForStatus(env.client, messageWorkflowId('bad-throws', id), 'dead');
      const dl = state.deadLetter!;
      assert.equal(dl.errorClass, classifyError(value).errorClass, label);
      assert.equal(dl.errorType, FAILURE_TYPE_BY_CLASS[dl.errorClass], label);
      assert.equal(typeof dl.message, 'string', label);
    }
    assert.equal(worker.getState(), 'RUNNING');
    assert.deepEqual(unhandled, [], 'no unhandled rejection or uncaught exception');
  });
});
