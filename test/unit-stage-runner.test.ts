/**
 * The stage runner's ledger records around the per-process stage gate, with a fake activity context (no
 * server; the poison-message test checks the same end to end). A stage's result reaches the server only after
 * `runStage` returns, and the gate lets the next attempt in before that: when that attempt runs alone and
 * kills the process, the finished attempt's last record must not still say `running`, or the next start
 * charges it a death of its own (a healthy message parked as WORKER_CRASHED, seen on a loaded machine).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from '@temporalio/activity';
import { ActivityNotFoundError } from '@temporalio/client';
import pino from 'pino';
import { createStageRunner } from '../activities/stage-runner';
import { StageGate } from '../activities/stage-gate';
import { defineHandler } from '../src/worker/handlers';
import type { Handler } from '../src/worker/handlers';
import { ledgerAtStart } from '../src/contract/attempt-ledger';
import type { AttemptLedger } from '../src/contract/attempt-ledger';
import type { StageInput } from '../src/contract/types';

const HEARTBEAT_MS = 2_000;

interface Beat {
  who: string;
  ledger: AttemptLedger;
}

/** The context of server attempt 2 of `who`'s activity, whose attempt 1 left `previous` as its last record. */
function fakeContext(
  who: string,
  previous: AttemptLedger | undefined,
  beats: Beat[],
  heartbeat?: () => Promise<void>,
): Context {
  return {
    info: {
      isLocal: false,
      heartbeatTimeoutMs: HEARTBEAT_MS,
      heartbeatDetails: previous,
      attempt: 2,
      taskToken: new Uint8Array([1]),
      workflowExecution: { workflowId: who, runId: 'run' },
      workflowNamespace: 'default',
    },
    cancellationSignal: new AbortController().signal,
    client: {
      activity: {
        heartbeat: async (_token: Uint8Array, ledger: AttemptLedger) => {
          beats.push({ who, ledger });
          await heartbeat?.();
        },
      },
    },
  } as unknown as Context;
}

/** A ledger record of attempt 1 that died running (so attempt 2 runs alone), as the server hands it over. */
const diedRunning: AttemptLedger = {
  charged: 0,
  deaths: 0,
  solo: false,
  lastDied: false,
  lastDiedAlone: false,
  phase: 'running',
  attempt: 1,
};

function input(who: string): StageInput {
  return {
    workflowId: who,
    stage: 'only',
    idempotencyKey: `${who}:only:0`,
    cycle: 0,
    envelope: {
      id: who,
      topic: 'unit',
      payload: { who },
      headers: {},
      producedAt: '2026-11-29T10:00:00.000Z',
    },
    previous: {},
    attemptBudget: 3,
  };
}

describe('stage runner: ledger records around the gate', () => {
  it('a finished attempt records that its code stopped before the next one runs alone', async () => {
    const beats: Beat[] = [];
    const gate = new StageGate();
    let lastRecordOfFirst: AttemptLedger | undefined;
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((r) => (releaseFirst = r));
    const handler = defineHandler<{ who: string }>({
      topic: 'unit',
      timeout: '10s',
      heartbeatTimeout: '2s',
      stages: [
        {
          name: 'only',
          run: async ({ payload }) => {
            if (payload.who === 'first') await firstMayFinish;
            // The second runs alone after the first left the gate: here it would kill the process.
            else lastRecordOfFirst = beats.filter((b) => b.who === 'first').at(-1)?.ledger;
            return { done: payload.who };
          },
        },
      ],
    });
    let current: Context | undefined;
    const runStage = createStageRunner({
      handlers: new Map([['unit', handler as Handler<unknown>]]),
      logger: pino({ level: 'silent' }),
      identity: 'unit',
      gate,
      currentContext: () => current!,
    });

    current = fakeContext('first', diedRunning, beats);
    const first = runStage(input('first'));
    await new Promise((r) => setTimeout(r, 20)); // the first attempt is running alone now
    current = fakeContext('second', diedRunning, beats);
    const second = runStage(input('second'));
    await new Promise((r) => setTimeout(r, 20)); // the second waits for its turn
    assert.equal(gate.soloWaiting, 1, 'the second attempt waits to run alone');
    releaseFirst();
    assert.deepEqual(await Promise.all([first, second]), [{ done: 'first' }, { done: 'second' }]);

    assert.ok(lastRecordOfFirst, 'the first attempt recorded its ledger');
    assert.equal(lastRecordOfFirst.phase, 'waiting', 'the first attempt no longer says running');
    // What the first attempt's next start makes of that record if the process died there: no death.
    const next = ledgerAtStart(lastRecordOfFirst, 3, { charged: 0, suspect: false }, HEARTBEAT_MS);
    assert.equal(next.chargedDeath, false);
    assert.equal(next.ledger.deaths, 1, 'only the death of attempt 1 is charged');
  });

  it('a result that is not JSON (a BigInt) is a charged failure, recorded before the gate', async () => {
    const beats: Beat[] = [];
    const handler = defineHandler<{ who: string }>({
      topic: 'unit',
      timeout: '10s',
      heartbeatTimeout: '2s',
      stages: [{ name: 'only', run: () => ({ amount: 10n }) }],
    });
    const runStage = createStageRunner({
      handlers: new Map([['unit', handler as Handler<unknown>]]),
      logger: pino({ level: 'silent' }),
      identity: 'unit',
      gate: new StageGate(),
      currentContext: () => fakeContext('bigint', diedRunning, beats),
    });
    await assert.rejects(runStage(input('bigint')));
    const last = beats.at(-1)?.ledger;
    assert.equal(last?.phase, 'failed', 'charged as a failure, not left as waiting or running');
    assert.equal(last?.charged, 2, 'the death of attempt 1 and this failure');
  });

  it(
    'an attempt the server no longer knows stops waiting for its turn and never runs the stage',
    { timeout: 5_000 },
    async () => {
      const beats: Beat[] = [];
      const gate = new StageGate();
      const release = await gate.enterShared(); // another stage holds the process
      let ran = false;
      const handler = defineHandler<{ who: string }>({
        topic: 'unit',
        timeout: '10s',
        heartbeatTimeout: '2s',
        stages: [{ name: 'only', run: () => ((ran = true), {}) }],
      });
      const runStage = createStageRunner({
        handlers: new Map([['unit', handler as Handler<unknown>]]),
        logger: pino({ level: 'silent' }),
        identity: 'unit',
        gate,
        // The server timed this attempt out (a heartbeat came too late): every heartbeat is now refused.
        currentContext: () =>
          fakeContext('late', diedRunning, beats, () =>
            Promise.reject(new ActivityNotFoundError('Not found')),
          ),
      });
      const outcome = await Promise.race([
        runStage(input('late')).then(
          () => 'ran',
          (err: Error) => err.message,
        ),
        new Promise<string>((r) => setTimeout(() => r('still waiting after 3 s'), 3_000)),
      ]);
      release(); // a still-waiting attempt goes on (and ends), so nothing outlives the test
      assert.match(outcome, /cancelled before it ran/);
      assert.equal(ran, false, 'the stage did not run');
      assert.equal(gate.soloWaiting, 0, 'it left the queue of the gate');
    },
  );
});
