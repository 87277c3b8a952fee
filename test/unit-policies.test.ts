/** Pure policy functions: classification, merge patch, fingerprints, backoff, durations. No server needed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { classifyError, parseRetryAfter } from '../src/contract/classify';
import {
  PermanentError,
  SecurityError,
  TemporaryError,
  TimeoutError,
  ValidationError,
  DEFAULT_NON_RETRYABLE_TYPES,
} from '../src/contract/errors';
import { applyMergePatch } from '../src/contract/merge-patch';
import { failureFingerprint, normaliseErrorMessage } from '../src/contract/fingerprint';
import { DEFAULT_REDRIVE_POLICY, redriveDelayMs } from '../src/contract/backoff';
import { formatDuration, parseDuration } from '../src/contract/duration';
import { messageWorkflowId, parseMessageWorkflowId } from '../src/contract/names';
import { DLQ_STATUS_VALUES, MESSAGE_STATUSES } from '../src/contract/types';
import type { AuditEntry, MessageState } from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import {
  delayAfterLocalAttemptMs,
  finalLocalFailure,
  retriesAfterLocalAttempt,
  retryPolicyAfterLocalAttempt,
  stageRetryPolicy,
} from '../workflows/stage-retry-policy';

describe('classifyError', () => {
  it('maps the catalogue classes by class and by name after crossing a process boundary', () => {
    assert.equal(classifyError(new TemporaryError('x')).type, 'TemporaryError');
    assert.equal(classifyError(new PermanentError('x', { reason: 'HTTP_409' })).reason, 'HTTP_409');
    assert.equal(classifyError(new ValidationError('x')).reason, 'VALIDATION_ERROR');
    assert.equal(classifyError(new TimeoutError('x')).errorClass, 'timeout');
    assert.equal(classifyError(new SecurityError('x')).errorClass, 'security');
    const foreign = Object.assign(new Error('x'), { name: 'SecurityError' });
    assert.equal(classifyError(foreign).errorClass, 'security');
    assert.equal(classifyError({ type: 'PermanentError', message: 'm' }).errorClass, 'permanent');
  });

  it('maps zod errors to validation with the issues as details', () => {
    const result = z.object({ a: z.number() }).safeParse({ a: 'x' });
    assert.ok(!result.success);
    const c = classifyError(result.error);
    assert.equal(c.errorClass, 'validation');
    assert.equal(c.reason, 'VALIDATION_ERROR');
    assert.deepEqual((c.details as Array<{ path: string[] }>)[0]?.path, ['a']);
  });

  it('maps HTTP statuses', () => {
    const http = (status: number) => classifyError(Object.assign(new Error('http'), { status }));
    assert.deepEqual(
      [400, 422].map((s) => http(s).errorClass),
      ['validation', 'validation'],
    );
    assert.deepEqual(
      [404, 409, 410].map((s) => http(s).errorClass),
      ['permanent', 'permanent', 'permanent'],
    );
    assert.deepEqual(
      [401, 403].map((s) => http(s).errorClass),
      ['security', 'security'],
    );
    assert.deepEqual(
      [408, 429, 500, 503].map((s) => http(s).errorClass),
      ['temporary', 'temporary', 'temporary', 'temporary'],
    );
    assert.equal(http(503).reason, 'HTTP_503');
    assert.equal(classifyError({ response: { status: 401 } }).errorClass, 'security');
  });

  it('turns a 429 Retry-After into nextRetryDelay, from a header map or a Headers object', () => {
    const a = classifyError(
      Object.assign(new Error('slow down'), { status: 429, headers: { 'retry-after': '7' } }),
    );
    assert.equal(a.nextRetryDelayMs, 7000);
    const b = classifyError({ response: { status: 429, headers: new Headers({ 'Retry-After': '2' }) } });
    assert.equal(b.nextRetryDelayMs, 2000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('maps Node network codes to temporary, also wrapped in cause', () => {
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN']) {
      assert.equal(classifyError(Object.assign(new Error('net'), { code })).reason, code);
    }
    const wrapped = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    });
    assert.equal(classifyError(wrapped).errorClass, 'temporary');
  });

  it('maps aborts and timeouts to timeout', () => {
    assert.equal(classifyError(new DOMException('aborted', 'AbortError')).errorClass, 'timeout');
    assert.equal(classifyError(new DOMException('t', 'TimeoutError')).errorClass, 'timeout');
  });

  it('is total: strings, undefined, null, circular objects, symbols and hostile getters', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    for (const value of ['oops', undefined, null, 42, circular, Symbol('s'), hostile, () => 1, 10n]) {
      const c = classifyError(value);
      assert.equal(c.errorClass, 'temporary');
      assert.equal(c.reason, 'UNKNOWN');
      assert.equal(typeof c.message, 'string');
    }
  });

  it('never classifies by message text', () => {
    assert.equal(
      classifyError(new Error('401 Unauthorized: validation failed, permanent')).errorClass,
      'temporary',
    );
  });

  it('has the documented default non-retryable types', () => {
    assert.deepEqual(
      [...DEFAULT_NON_RETRYABLE_TYPES],
      ['PermanentError', 'ValidationError', 'SecurityError'],
    );
  });
});

describe('applyMergePatch (RFC 7386)', () => {
  it('passes the RFC 7386 appendix examples', () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [
        ['a', 'b'],
        ['c', 'd'],
        ['c', 'd'],
      ],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, expected] of cases) assert.deepEqual(applyMergePatch(target, patch), expected);
  });

  it('does not mutate its inputs', () => {
    const target = { a: { b: 1 } };
    const patch = { a: { c: 2 } };
    applyMergePatch(target, patch);
    assert.deepEqual(target, { a: { b: 1 } });
    assert.deepEqual(patch, { a: { c: 2 } });
  });
});

describe('failure fingerprints', () => {
  const base = { topic: 'orders', errorClass: 'permanent' as const, reason: 'HTTP_404', stage: 'load' };
  it('groups messages that differ only in ids, numbers and quoted values', () => {
    const a = failureFingerprint({
      ...base,
      message: 'customer 42 not found (req 3f2b1c4e-1111-2222-3333-444455556666) "alice"',
    });
    const b = failureFingerprint({
      ...base,
      message: 'customer 977 not found (req 9a8b7c6d-1111-2222-3333-444455556666) "bob"',
    });
    assert.equal(a, b);
    assert.match(a, /^[0-9a-f]{16}$/);
  });
  it('separates different classes, stages and messages', () => {
    const a = failureFingerprint({ ...base, message: 'customer 42 not found' });
    assert.notEqual(a, failureFingerprint({ ...base, stage: 'extract', message: 'customer 42 not found' }));
    assert.notEqual(
      a,
      failureFingerprint({ ...base, errorClass: 'validation', message: 'customer 42 not found' }),
    );
    assert.notEqual(a, failureFingerprint({ ...base, message: 'order 42 not found' }));
  });
  it('normalises messages', () => {
    assert.equal(normaliseErrorMessage("id 12 for 'x'  and 0xff"), 'id <n> for <q> and <n>');
  });
});

describe('re-drive backoff', () => {
  it('grows exponentially, is capped, and stops after maxRedrives', () => {
    const policy = {
      ...DEFAULT_REDRIVE_POLICY,
      baseDelayMs: 1000,
      multiplier: 3,
      maxDelayMs: 5000,
      maxRedrives: 4,
    };
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((n) => redriveDelayMs(policy, n)),
      [1000, 3000, 5000, 5000, undefined],
    );
    assert.equal(redriveDelayMs({ ...policy, enabled: false }, 0), undefined);
  });
});

describe('status vocabulary', () => {
  it('DlqStatus takes the message statuses of a message that has parked, with the wire values of before', () => {
    assert.deepEqual(DLQ_STATUS_VALUES, [
      'dead',
      'retrying',
      'recovered',
      'discarded',
      'expired',
      'cancelled',
    ]);
    assert.deepEqual(
      MESSAGE_STATUSES.filter((s) => !(DLQ_STATUS_VALUES as readonly string[]).includes(s)),
      ['processing', 'succeeded'],
    );
  });
});

describe('durations and ids', () => {
  it('parses and formats durations', () => {
    assert.equal(parseDuration('14d'), 14 * 86_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(formatDuration(86_400_000), '1d');
    assert.equal(formatDuration(90_000), '90s');
  });
  it('round-trips message workflow ids, including ids with colons', () => {
    const id = messageWorkflowId('orders', 'a:b:c');
    assert.equal(id, 'msg:orders:a:b:c');
    assert.deepEqual(parseMessageWorkflowId(id), { topic: 'orders', messageId: 'a:b:c' });
    assert.equal(parseMessageWorkflowId('other:x'), undefined);
  });
});

describe('audit trail bound', () => {
  it('drops the oldest rejected or ignored entries beyond the limit and keeps every decisive one', async () => {
    const { trimAudit, MAX_AUDIT_ENTRIES } = await import('../workflows/audit');
    const entry = (action: AuditEntry['action'], i: number): AuditEntry => ({
      at: new Date(i).toISOString(),
      action,
      via: 'signal',
      payloadVersionBefore: 1,
      payloadVersionAfter: 1,
    });
    const state = {
      audit: [
        entry('parked', 0),
        ...Array.from({ length: MAX_AUDIT_ENTRIES + 5 }, (_, i) => entry('retry-rejected', i + 1)),
      ],
    } as MessageState;
    state.audit.push(entry('retry', 99_999));
    trimAudit(state);
    assert.equal(state.audit.length, MAX_AUDIT_ENTRIES);
    assert.equal(state.auditDropped, 7);
    assert.equal(state.audit[0]?.action, 'parked');
    assert.equal(state.audit.at(-1)?.action, 'retry');
    assert.equal(state.audit[1]?.at, new Date(8).toISOString(), 'the oldest rejections went first');
  });
});

describe('stage retry policy with a local first attempt', () => {
  const topicPolicy = (retry: Partial<TopicPolicy['retry']> = {}): TopicPolicy => ({
    found: true,
    stages: ['handle'],
    hasSchema: false,
    retry: {
      initialIntervalMs: 1000,
      backoffCoefficient: 2,
      maximumIntervalMs: 60_000,
      maximumAttempts: 5,
      nonRetryableErrorTypes: [...DEFAULT_NON_RETRYABLE_TYPES, 'QuotaError'],
      ...retry,
    },
    stageTimeoutMs: 30_000,
    firstAttempt: 'local',
    redrive: DEFAULT_REDRIVE_POLICY,
    expireAfterMs: 86_400_000,
    maxRepairCycles: 10,
    maxPayloadBytes: 1_000_000,
    workerIdentity: 'test',
  });
  // As core hands them to the workflow: a failed local activity's ApplicationFailure unwrapped, a timeout
  // or cancellation wrapped in an ActivityFailure whose retry state says nothing.
  const wrapped = (cause: Error) =>
    new ActivityFailure(
      'Local Activity timed out',
      'runStage',
      '3',
      RetryState.CANCEL_REQUESTED,
      undefined,
      cause,
    );
  const timedOut = () => wrapped(new TimeoutFailure('t', undefined, TimeoutType.START_TO_CLOSE));
  const appFailure = (type: string, extra: { nonRetryable?: boolean; details?: unknown[] } = {}) =>
    ApplicationFailure.create({ type, message: 'boom', ...extra });

  it('continues the same backoff sequence: attempt 2 onwards, one interval later, capped', () => {
    assert.deepEqual(retryPolicyAfterLocalAttempt(topicPolicy()), {
      ...stageRetryPolicy(topicPolicy()),
      initialInterval: 2000,
      maximumAttempts: 4,
    });
    assert.equal(
      retryPolicyAfterLocalAttempt(topicPolicy({ initialIntervalMs: 50_000 })).initialInterval,
      60_000,
    );
  });

  it('retries temporary failures and timeouts while attempts are left', () => {
    assert.equal(retriesAfterLocalAttempt(appFailure('TemporaryError'), topicPolicy()), true);
    assert.equal(retriesAfterLocalAttempt(timedOut(), topicPolicy()), true);
    assert.equal(
      retriesAfterLocalAttempt(appFailure('TemporaryError'), topicPolicy({ maximumAttempts: 1 })),
      false,
    );
    assert.equal(retriesAfterLocalAttempt(timedOut(), topicPolicy({ maximumAttempts: 1 })), false);
  });

  it('never retries non-retryable types, non-retryable failures or cancellations', () => {
    for (const type of ['PermanentError', 'ValidationError', 'SecurityError', 'QuotaError'])
      assert.equal(retriesAfterLocalAttempt(appFailure(type), topicPolicy()), false, type);
    assert.equal(
      retriesAfterLocalAttempt(appFailure('TemporaryError', { nonRetryable: true }), topicPolicy()),
      false,
    );
    assert.equal(retriesAfterLocalAttempt(wrapped(new CancelledFailure('cancelled')), topicPolicy()), false);
  });

  it('reports a final local failure as the server reports an activity: refused, or out of attempts', () => {
    const refused = finalLocalFailure(appFailure('PermanentError'), topicPolicy());
    assert.equal(refused.retryState, RetryState.NON_RETRYABLE_FAILURE);
    assert.equal((refused.cause as ApplicationFailure).type, 'PermanentError');
    const spent = finalLocalFailure(appFailure('TemporaryError'), topicPolicy({ maximumAttempts: 1 }));
    assert.equal(spent.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
    const timeout = finalLocalFailure(timedOut(), topicPolicy({ maximumAttempts: 1 }));
    assert.equal(timeout.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
    assert.ok(timeout.cause instanceof TimeoutFailure);
    assert.equal(timeout.activityId, '3');
  });

  it('waits what the failure asked for (Retry-After), else the initial interval', () => {
    assert.equal(
      delayAfterLocalAttemptMs(
        appFailure('TemporaryError', { details: [{ nextRetryDelayMs: 7000 }] }),
        topicPolicy(),
      ),
      7000,
    );
    assert.equal(
      delayAfterLocalAttemptMs(
        appFailure('TemporaryError', { details: [{ reason: 'HTTP_503' }] }),
        topicPolicy(),
      ),
      1000,
    );
    assert.equal(
      delayAfterLocalAttemptMs(
        appFailure('TemporaryError', { details: [{ nextRetryDelayMs: -1 }] }),
        topicPolicy(),
      ),
      1000,
    );
    assert.equal(delayAfterLocalAttemptMs(timedOut(), topicPolicy({ initialIntervalMs: 250 })), 250);
  });
});
