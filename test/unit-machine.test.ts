/**
 * The message state machine, the attempt ledger, the stage gate and the stage failure builder: pure code,
 * no server. The lifecycle, race and poison-message tests check the same rules end to end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApplicationFailure,
  ActivityFailure,
  RetryState,
  TimeoutFailure,
  TimeoutType,
} from '@temporalio/common';
import * as machine from '../workflows/message-machine';
import { factsFromFailure } from '../workflows/failure-facts';
import {
  attemptNumber,
  ledgerAfterFailure,
  ledgerAtStart,
  showsDeaths,
  spentBudget,
} from '../src/contract/attempt-ledger';
import { StageGate } from '../activities/stage-gate';
import { boundedDetails, reasonOfType, stageFailure } from '../activities/stage-failure';
import { normaliseReason } from '../src/contract/errors';
import { MAX_AUDIT_BYTES, MAX_FAILURE_DETAILS_BYTES } from '../src/contract/limits';
import { jsonByteLength } from '../src/contract/size';
import { DEFAULT_REDRIVE_POLICY } from '../src/contract/backoff';
import type { FailureDetails, MessageState } from '../src/contract/types';
import type { TopicPolicy } from '../src/contract/topic-policy';

const T0 = Date.parse('2026-11-29T10:00:00.000Z');
const topicPolicy = (over: Partial<TopicPolicy> = {}): TopicPolicy => ({
  found: true,
  stages: ['a', 'b'],
  hasSchema: false,
  retry: {
    initialIntervalMs: 1000,
    backoffCoefficient: 2,
    maximumIntervalMs: 60_000,
    maximumAttempts: 3,
    nonRetryableErrorTypes: ['PermanentError'],
  },
  stageTimeoutMs: 30_000,
  heartbeatTimeoutMs: 10_000,
  revision: 3,
  firstAttempt: 'local',
  redrive: DEFAULT_REDRIVE_POLICY,
  expireAfterMs: 14 * 86_400_000,
  maxRepairCycles: 20,
  maxPayloadBytes: 256 * 1024,
  workerIdentity: 'w1',
  ...over,
});
const fresh = (): MessageState =>
  machine.initialState({ envelope: { id: 'm1', topic: 'orders', payload: { n: 1 }, headers: {} } as never });

function parked(errorClass: 'temporary' | 'permanent' = 'permanent'): MessageState {
  const state = fresh();
  state.route = topicPolicy();
  machine.park(
    state,
    { errorClass, errorType: 'X', reason: 'R', message: 'm', attempts: 1, stage: 'a' },
    topicPolicy(),
    { workflowId: 'msg:orders:m1', nowMs: T0, stageStartedAt: new Date(T0).toISOString() },
  );
  return state;
}

describe('message machine', () => {
  it('parks with the search attributes that make the message findable; only temporary failures are re-driven', () => {
    const state = fresh();
    const { deadLetter, searchAttributes } = machine.park(
      state,
      {
        errorClass: 'temporary',
        errorType: 'TemporaryError',
        reason: 'HTTP_503',
        message: 'down',
        attempts: 3,
        stage: 'a',
      },
      topicPolicy(),
      { workflowId: 'msg:orders:m1', nowMs: T0, stageStartedAt: new Date(T0 - 5000).toISOString() },
    );
    assert.equal(state.status, 'dead');
    assert.equal(deadLetter.nextRedriveAt, new Date(T0 + DEFAULT_REDRIVE_POLICY.baseDelayMs).toISOString());
    assert.equal(deadLetter.firstFailureAt, new Date(T0 - 5000).toISOString());
    assert.deepEqual(
      searchAttributes.map((p) => p.key.name),
      ['DlqErrorClass', 'DlqReason', 'DlqFingerprint', 'DlqAttempts', 'DlqParkCount', 'DlqParkedAt'],
    );
    assert.equal(parked('permanent').deadLetter!.nextRedriveAt, undefined);
  });

  it('admits a repair only when dead, idle and not expired', () => {
    const state = parked();
    const at = { busy: false, nowMs: T0 };
    assert.deepEqual(machine.repairAdmissionProblems(state, {}, at), []);
    assert.match(
      machine.repairAdmissionProblems(state, {}, { ...at, busy: true })[0]!,
      /already being applied/,
    );
    assert.match(
      machine.repairAdmissionProblems(state, { notAfter: new Date(T0 - 1).toISOString() }, at)[0]!,
      /expired at/,
    );
    assert.deepEqual(
      machine.repairAdmissionProblems(state, { notAfter: new Date(T0 + 1).toISOString() }, at),
      [],
    );
    state.status = 'retrying';
    assert.match(machine.repairAdmissionProblems(state, {}, at)[0]!, /not dead/);
  });

  it('on wake: holds while a repair is checked, then actions, continue-as-new, expiry, re-drive', () => {
    const state = parked('temporary');
    const wake = (over: Partial<Parameters<typeof machine.onWake>[1]>) =>
      machine.onWake(state, {
        queued: 0,
        preparing: false,
        continueAsNewSuggested: false,
        nowMs: T0,
        ...over,
      });
    const redriveAt = Date.parse(state.deadLetter!.nextRedriveAt!);
    const expiresAt = Date.parse(state.deadLetter!.expiresAt);
    assert.equal(wake({ preparing: true, queued: 1, nowMs: expiresAt }), 'hold');
    assert.equal(wake({ queued: 1 }), 'action');
    assert.equal(wake({ continueAsNewSuggested: true }), 'continue-as-new');
    assert.equal(wake({ nowMs: expiresAt }), 'expire');
    assert.equal(wake({ nowMs: redriveAt }), 'redrive');
    assert.equal(wake({}), 'wait');
    assert.equal(machine.nextWakeAt(state), redriveAt);
  });

  it('a resume records what it supersedes, naming what was applied', () => {
    const state = parked();
    machine.resume(
      state,
      { via: 'signal', action: 'retry', input: { operator: 'ann' }, payload: { n: 2 }, changed: true },
      [{ kind: 'discard', via: 'signal' }],
      T0,
    );
    assert.equal(state.status, 'retrying');
    assert.equal(state.payloadVersion, 2);
    const ignored = state.audit.at(-1)!;
    assert.equal(ignored.action, 'ignored');
    assert.deepEqual(ignored.problems, ['discard not applied: the retry by signal was applied first']);
  });

  it('carries the payload once through continue-as-new and restores it whole', () => {
    const state = parked();
    const carried = machine.carriedInput(state);
    const text = JSON.stringify(carried);
    assert.equal(text.split('"n":1').length - 1, 1, 'the payload appears once');
    assert.deepEqual(machine.restoreState(carried), state);
    // Runs continued by the previous release carried three copies; they are read as they are.
    assert.deepEqual(machine.restoreState({ envelope: state.envelope, carried: state }), state);
  });

  it('keys stages per payload version since revision 3, per cycle before', () => {
    const state = parked();
    state.cycle = 2;
    assert.equal(machine.idempotencyKey('w', 'a', state, topicPolicy()), 'w:a:0');
    state.payloadVersion = 3;
    assert.equal(machine.idempotencyKey('w', 'a', state, topicPolicy()), 'w:a:2');
    assert.equal(machine.idempotencyKey('w', 'a', state, topicPolicy({ revision: undefined })), 'w:a:2');
    state.payloadVersion = 1;
    assert.equal(machine.idempotencyKey('w', 'a', state, topicPolicy({ revision: undefined })), 'w:a:2');
  });

  it('refuses stage results past their bound and keeps the audit trail under its byte bound', () => {
    const state = fresh();
    assert.equal(
      machine.recordStageResult(state, 'a', { blob: 'x'.repeat(200_000) }, topicPolicy()),
      undefined,
    );
    assert.match(
      machine.recordStageResult(state, 'b', { blob: 'x'.repeat(200_000) }, topicPolicy())!,
      /bytes of JSON/,
    );
    assert.deepEqual(state.completedStages, ['a']);
    for (let i = 0; i < 500; i++)
      machine.audit(state, T0, { action: 'ignored', via: 'signal', problems: ['p'.repeat(2000)] });
    assert.ok(jsonByteLength(state.audit) <= MAX_AUDIT_BYTES);
    assert.ok((state.auditDropped ?? 0) > 0);
    assert.equal(state.audit.at(-1)!.problems![0]!.length, 500, 'each problem bounded');
  });
});

describe('failure facts', () => {
  const exhaustedBy = (cause: Error) =>
    new ActivityFailure('failed', 'runStage', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'w1', cause);

  it('a heartbeat timeout after charged deaths is a worker crash: permanent, its own reason', () => {
    const dead = {
      charged: 3,
      deaths: 2,
      solo: true,
      lastDied: true,
      lastDiedAlone: true,
      phase: 'waiting',
      attempt: 9,
    };
    const facts = factsFromFailure(
      exhaustedBy(new TimeoutFailure('hb', dead, TimeoutType.HEARTBEAT)),
      'a',
      topicPolicy(),
    );
    assert.equal(facts.reason, 'WORKER_CRASHED');
    assert.equal(facts.errorClass, 'permanent');
    // No charged death (an old worker that sends no heartbeats): a timeout like any other, re-driven.
    const silent = factsFromFailure(
      exhaustedBy(new TimeoutFailure('hb', undefined, TimeoutType.HEARTBEAT)),
      'a',
      topicPolicy(),
    );
    assert.equal(silent.errorClass, 'timeout');
    const slow = factsFromFailure(
      exhaustedBy(new TimeoutFailure('s2c', undefined, TimeoutType.START_TO_CLOSE)),
      'a',
      topicPolicy(),
    );
    assert.equal(slow.errorClass, 'timeout');
  });

  it("keeps a user's type and normalises a reason that is not a valid code", () => {
    const details: FailureDetails = {
      reason: 'no such thing!'.repeat(20),
      errorClass: 'permanent',
      attempt: 1,
      stage: 'a',
      name: 'BadInput',
      workerIdentity: 'w1',
    };
    const facts = factsFromFailure(
      new ActivityFailure(
        'f',
        'runStage',
        '1',
        RetryState.NON_RETRYABLE_FAILURE,
        'w1',
        ApplicationFailure.create({ type: 'BadInput', details: [details], nonRetryable: true }),
      ),
      'a',
      topicPolicy(),
    );
    assert.equal(facts.errorType, 'BadInput');
    assert.match(facts.reason, /^[A-Z0-9_]{1,64}$/);
    assert.equal(facts.originalReason, details.reason);
  });
});

describe('attempt ledger', () => {
  const first = { charged: 0, suspect: false };

  it('charges an attempt that died while running, once, and not one that died waiting', () => {
    const a1 = ledgerAtStart(undefined, 1, first);
    assert.deepEqual(a1, {
      ledger: {
        charged: 0,
        deaths: 0,
        solo: false,
        lastDied: false,
        lastDiedAlone: false,
        phase: 'waiting',
        attempt: 1,
      },
      chargedDeath: false,
      chargedTimeout: false,
    });
    const a2 = ledgerAtStart({ ...a1.ledger, phase: 'running' }, 2, first);
    assert.equal(a2.chargedDeath, true);
    assert.deepEqual(a2.ledger, {
      charged: 1,
      deaths: 1,
      solo: true,
      lastDied: true,
      lastDiedAlone: false,
      phase: 'waiting',
      attempt: 2,
    });
    // Attempt 2 wrote nothing (it died before its first record): attempt 3 must not charge attempt 1 again.
    assert.equal(ledgerAtStart({ ...a1.ledger, phase: 'running' }, 3, first).chargedDeath, false);
    // Died waiting at the gate: not charged.
    assert.deepEqual(ledgerAtStart({ ...a2.ledger, phase: 'waiting' }, 3, first).ledger, {
      ...a2.ledger,
      attempt: 3,
    });
    const failed = ledgerAfterFailure(a2.ledger, {
      errorClass: 'temporary',
      reason: 'R',
      type: 'T',
      message: 'm',
    });
    assert.equal(ledgerAtStart(failed, 3, first).ledger.charged, 2);
    assert.equal(attemptNumber(failed), 3);
    const suspect = ledgerAtStart('garbage', 1, { charged: 1, suspect: true }).ledger;
    assert.deepEqual([suspect.charged, suspect.deaths, suspect.solo], [1, 1, true]);
  });

  it('tells an attempt that ran out its time (heartbeating to its deadline) from one that died', () => {
    const running = {
      ...ledgerAtStart(undefined, 1, first).ledger,
      phase: 'running' as const,
      deadlineAt: 10_000,
    };
    const timedOut = ledgerAtStart({ ...running, beatAt: 9_500 }, 2, first, 2_000);
    assert.deepEqual(
      [timedOut.chargedTimeout, timedOut.chargedDeath, timedOut.ledger.charged, timedOut.ledger.solo],
      [true, false, 1, false],
    );
    const died = ledgerAtStart({ ...running, beatAt: 4_000 }, 2, first, 2_000);
    assert.deepEqual([died.chargedTimeout, died.chargedDeath, died.ledger.solo], [false, true, true]);
  });

  it('lets only a death while running alone spend the budget', () => {
    const besideOthers = ledgerAtStart(
      { ...ledgerAtStart(undefined, 1, { charged: 2, suspect: false }).ledger, phase: 'running' },
      2,
      first,
    ).ledger;
    assert.equal(besideOthers.charged, 3);
    assert.equal(spentBudget(besideOthers, 3), undefined, 'one more attempt, alone');
    const alone = ledgerAtStart({ ...besideOthers, phase: 'running' }, 3, first).ledger;
    assert.equal(spentBudget(alone, 3), 'crashed');
    const lastFailure = {
      errorClass: 'temporary',
      reason: 'HTTP_503',
      type: 'TemporaryError',
      message: 'down',
    };
    assert.equal(spentBudget(ledgerAfterFailure({ ...alone, charged: 2 }, lastFailure), 3), 'failed');
    assert.equal(showsDeaths(alone), true);
    assert.equal(showsDeaths({ nonsense: 1 }), false);
  });
});

describe('stage gate', () => {
  it('runs a solo attempt alone and prefers it over new shared ones', async () => {
    const gate = new StageGate();
    const order: string[] = [];
    const releaseA = await gate.enterShared();
    const solo = gate.enterSolo().then((release) => (order.push('solo'), release));
    const shared = gate.enterShared().then((release) => (order.push('shared'), release));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(order, [], 'the solo attempt waits for the running one; the new one waits for the solo');
    releaseA();
    (await solo)();
    (await shared)();
    assert.deepEqual(order, ['solo', 'shared']);
    assert.ok(gate.soloFree && gate.sharedFree);
  });
});

describe('stage failures', () => {
  const ctx = {
    stage: 'a',
    attempt: 1,
    workerIdentity: 'w1',
    nonRetryableTypes: ['QuotaGone'],
    exhausted: false,
  };

  it("keeps a user's ApplicationFailure: type, flags, delay and details", () => {
    const thrown = ApplicationFailure.create({
      message: 'busy',
      type: 'PartnerBusy',
      nextRetryDelay: 700,
      details: [{ queue: 7 }],
    });
    const f = stageFailure(thrown, ctx);
    assert.equal(f.type, 'PartnerBusy');
    assert.equal(f.nonRetryable, false);
    assert.equal(f.nextRetryDelay, 700);
    const details = f.details![0] as FailureDetails;
    assert.equal(details.errorClass, 'temporary');
    assert.equal(details.reason, 'PARTNER_BUSY');
    assert.deepEqual(details.extra, [{ queue: 7 }]);
    assert.equal(details.nextRetryDelayMs, 700);
    const refused = stageFailure(ApplicationFailure.nonRetryable('bad', 'BadInput'), ctx);
    assert.equal(refused.nonRetryable, true);
    assert.equal((refused.details![0] as FailureDetails).errorClass, 'permanent');
  });

  it('keeps the name of an error listed in nonRetryableErrorTypes as the failure type', () => {
    const f = stageFailure(Object.assign(new Error('gone'), { name: 'QuotaGone' }), ctx);
    assert.equal(f.type, 'QuotaGone');
    assert.equal(f.nonRetryable, true);
    const other = stageFailure(new TypeError('x'), ctx);
    assert.equal(other.type, 'TemporaryError');
    assert.equal(stageFailure(new TypeError('x'), { ...ctx, exhausted: true }).nonRetryable, true);
  });

  it('never throws, whatever the stage threw', () => {
    const trap = () => {
      throw new Error('trap');
    };
    const hostile = new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap });
    assert.equal(stageFailure(hostile, ctx).type, 'TemporaryError');
  });

  it('bounds details and makes reason codes of names', () => {
    const big = boundedDetails({ blob: 'z'.repeat(MAX_FAILURE_DETAILS_BYTES) }) as { truncated: boolean };
    assert.equal(big.truncated, true);
    assert.equal(reasonOfType('BadInput'), 'BAD_INPUT');
    assert.equal(normaliseReason('HTTP_503'), 'HTTP_503');
    assert.equal(normaliseReason('not found: 42'), 'NOT_FOUND_42');
    assert.equal(normaliseReason('x'.repeat(100)).length, 64);
    assert.equal(normaliseReason('!!!'), 'UNKNOWN');
  });
});
