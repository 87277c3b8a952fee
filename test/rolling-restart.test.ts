/**
 * Rolling restart (issue 14, item 2): three worker processes share one task queue while 1 000 messages
 * flow (a mix that succeeds at once, recovers after temporary failures, and parks), and they are restarted
 * one at a time as a deploy does: SIGTERM, the SDK's graceful shutdown, exit, a new process that polls and
 * takes work, then the next. The messages are published through `publishMany` in batches released by the
 * restarts themselves, and each SIGTERM is sent while the worker is running stage attempts (one of them,
 * in at least one restart, an activity attempt), so every restart overlaps work in flight. It checks that:
 * - each stopped worker drained: it returned from `worker.run()` and exited with code 0, every stage attempt
 *   it started ended in it, and none was aborted by its shutdown (the SDK's cancellation details say why
 *   a stage's signal fired);
 * - every message reached its end state, by describing each id and by visibility once it has caught up;
 * - nothing ran twice: one execution per message, and each stage's side effect applied exactly once under
 *   its idempotency key in a store all the workers share (test/fixtures/effect-store.ts). Duplicate
 *   deliveries (a stage run again for a key already applied) are counted apart: a graceful restart makes
 *   none, and each one seen must be explained by its workflow's history (a workflow task or an activity
 *   attempt lost to a timeout, which a starved worker on a busy machine can cause);
 * - every parked message parked once (`DlqParkCount` = 1, one `parked` entry in its audit trail).
 *
 * Production tier only (test/run-suite.ts, PRODUCTION_FILES): a deploy of several workers is what the
 * production tier stands for (server 1.29.1 on PostgreSQL, stock dynamic config, visibility limited to 10
 * calls/s, which this test's slow polling respects), and the dev tier already has the worker-crash test on
 * the same worker code; running it on both would add minutes to every `npm test` on two cores. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestEnv, requireEnv, uid, waitFor } from './helpers';
import type { TestEnv } from './helpers';
import { readJournal, readStore } from './fixtures/effect-store';
import type { JournalEntry } from './fixtures/effect-store';
import { EFFECT_STAGES, ROLLING_KINDS, rollingTopic } from './fixtures/rolling-worker';
import type { RollingKind, RollingPayload } from './fixtures/rolling-worker';
import { temporal } from '@temporalio/proto';
import { tsToMs } from '@temporalio/common/lib/time';
import { publishMany } from '../src/client/publish';
import type { PublishInput } from '../src/contract/envelope';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { DlqErrorClass, DlqParkCount, DlqStatus } from '../src/contract/search-attributes';
import type { AuditEntry, MessageOutcome } from '../src/contract/types';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../src/worker/memory-settings';

const PRODUCTION = process.env.DLQ_TEST_TIER === 'production';

const MIX: Record<RollingKind, number> = { ok: 450, flaky: 250, redrive: 100, park: 100, invalid: 100 };
const TOTAL = ROLLING_KINDS.reduce((n, kind) => n + MIX[kind], 0);
const WORKERS = 3;
/** Published before the first restart; each restart releases two more batches (at SIGTERM, and once the new worker took work). */
const FIRST_BATCH = 400;
const BATCH = (TOTAL - FIRST_BATCH) / (2 * WORKERS);

/** The end state each kind must reach. */
const EXPECTED: Record<RollingKind, { execution: 'COMPLETED' | 'RUNNING'; status: string; parks: number }> = {
  ok: { execution: 'COMPLETED', status: 'succeeded', parks: 0 },
  flaky: { execution: 'COMPLETED', status: 'succeeded', parks: 0 },
  redrive: { execution: 'COMPLETED', status: 'recovered', parks: 1 },
  park: { execution: 'RUNNING', status: 'dead', parks: 1 },
  invalid: { execution: 'RUNNING', status: 'dead', parks: 1 },
};
const PARKED_CLASS: Partial<Record<RollingKind, string>> = { park: 'permanent', invalid: 'validation' };

const FIXTURE = join(__dirname, 'fixtures', 'rolling-worker.ts');

interface WorkerChild {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

/** Rejects after `ms`: a child or a call must never hang the test. */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: TestEnv;
let storeDir: string;
const children: WorkerChild[] = [];
const parkedIds: string[] = [];
let passed = false;

/** Starts a worker process as the entrypoints do (WORKER_NODE_FLAGS, WORKER_ENV) and waits until it polls. */
async function startWorker(prefix: string): Promise<WorkerChild> {
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', FIXTURE], {
    env: {
      ...process.env,
      ...WORKER_ENV,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      ROLLING_TOPIC_PREFIX: prefix,
      ROLLING_STORE_DIR: storeDir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer) => void (tail = (tail + d.toString()).slice(-4000));
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const worker: WorkerChild = { child, pid: child.pid!, exited, output: () => tail };
  children.push(worker);
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      keep(d);
      if (d.toString().includes('ready')) resolve();
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`rolling worker exited (${code ?? signal}) before it was ready: ${tail}`)),
    );
  });
  await within('a rolling worker to start', 90_000, ready);
  return worker;
}

const starts = (entries: JournalEntry[]) => entries.filter((e) => e.e === 'start').length;
const ends = (entries: JournalEntry[]) => entries.filter((e) => e.e === 'end').length;
/** The stage attempts a process started and has not ended yet (each start has one end, later, in its journal). */
function openAttempts(entries: JournalEntry[]): Array<{ key: string; attempt: number }> {
  const open = new Map<string, number>();
  for (const e of entries) {
    if (e.e === 'start') open.set(e.key, e.attempt);
    else if (e.e === 'end') open.delete(e.key);
  }
  return [...open].map(([key, attempt]) => ({ key, attempt }));
}
/** A first attempt runs as a local activity; every later attempt (attempt > 1) is an activity task. */
const activityAttempts = (open: Array<{ attempt: number }>) => open.filter((a) => a.attempt > 1).length;

/**
 * Why a workflow's history says a stage may have run again after it applied its effect: a workflow task
 * that started and never completed (its local attempts' results are lost with it), or an activity attempt
 * that ran after an earlier one timed out (a completion that did not reach the server in time). Each with
 * when the server recorded it and, for a workflow task, the identity of the worker that lost it.
 */
async function lostWork(
  client: TestEnv['client'],
  workflowId: string,
): Promise<Array<{ why: string; worker?: string; startedAt?: number; at?: number }>> {
  const { TimeoutType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const started = new Map<string, { worker: string; startedAt?: number }>();
  return events.flatMap((e) => {
    const at = e.eventTime ? tsToMs(e.eventTime) : undefined;
    if (e.workflowTaskStartedEventAttributes)
      started.set(String(e.eventId), {
        worker: e.workflowTaskStartedEventAttributes.identity ?? '?',
        startedAt: at,
      });
    const timedOut = e.workflowTaskTimedOutEventAttributes;
    if (timedOut && timedOut.timeoutType === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)
      return [
        {
          why: 'a workflow task timed out after it started',
          ...started.get(String(timedOut.startedEventId)),
          at,
        },
      ];
    const failed = e.workflowTaskFailedEventAttributes;
    if (failed)
      return [
        {
          why: `a workflow task failed (${WorkflowTaskFailedCause[failed.cause ?? 0]})`,
          ...started.get(String(failed.startedEventId)),
          at,
        },
      ];
    const timeout = e.activityTaskStartedEventAttributes?.lastFailure?.timeoutFailureInfo;
    if (timeout)
      return [{ why: `an activity attempt timed out (${TimeoutType[timeout.timeoutType ?? 0]})`, at }];
    return [];
  });
}

describe(
  'rolling restart',
  { skip: PRODUCTION ? false : 'production tier only (see the file header)' },
  () => {
    before(async () => {
      requireEnv('DLQ_TEST_WORKFLOW_BUNDLE');
      env = await openTestEnv();
      storeDir = mkdtempSync(join(tmpdir(), 'dlq-rolling-'));
    });
    after(async () => {
      for (const w of children)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(children.map((w) => w.exited));
      // The parked messages would wait for an operator until they expire: end them.
      await eachLimit(parkedIds, 16, (id) =>
        env.client.workflow
          .getHandle(id)
          .terminate('rolling-restart test cleanup')
          .then(
            () => undefined,
            () => undefined,
          ),
      );
      await env?.close();
      // Kept when the test failed: the journals show what every worker ran.
      if (storeDir && passed) rmSync(storeDir, { recursive: true, force: true });
      else if (storeDir) process.stderr.write(`rolling-restart: store and journals kept in ${storeDir}\n`);
    });

    it(
      `loses nothing and runs nothing twice through a rolling restart of ${WORKERS} workers (${TOTAL} messages)`,
      { timeout: 600_000 },
      async (t) => {
        const t0 = Date.now();
        const timings: Record<string, number> = {};
        const tag = uid();
        const prefix = `rr-${tag}`;
        // Each kind spread evenly over the sequence, so every batch is a mix.
        const messages = ROLLING_KINDS.flatMap((kind) =>
          Array.from({ length: MIX[kind] }, (_, i) => ({
            kind,
            at: (i + 0.5) / MIX[kind],
            input: {
              id: `${kind}-${i}`,
              topic: rollingTopic(prefix, kind),
              payload: (kind === 'invalid' ? { n: i, quantity: -1 } : { n: i }) satisfies RollingPayload,
            } satisfies PublishInput,
          })),
        ).sort((a, b) => a.at - b.at);
        const ids = messages.map((m) => ({ kind: m.kind, id: messageWorkflowId(m.input.topic, m.input.id) }));

        // Publishing, paced by the restarts.
        let released = FIRST_BATCH;
        let wake: (() => void) | undefined;
        const release = (n: number) => {
          released = Math.min(TOTAL, released + n);
          wake?.();
        };
        async function* paced() {
          for (let i = 0; i < messages.length; i++) {
            while (i >= released) await new Promise<void>((r) => (wake = r));
            yield messages[i]!.input;
          }
        }
        /** Stage effects expected from the released messages and not applied yet: work still to do. */
        const pendingEffects = () => {
          const applied = new Set(readStore(storeDir).claims);
          return ids
            .slice(0, released)
            .flatMap(({ kind, id }) => EFFECT_STAGES[kind].map((stage) => `${id}:${stage}:0`))
            .filter((key) => !applied.has(key)).length;
        };

        const fleet: WorkerChild[] = [];
        for (let i = 0; i < WORKERS; i++) fleet.push(await startWorker(prefix));
        const publishing = publishMany(env.client, paced(), { taskQueue: env.taskQueue, concurrency: 16 });

        const restarts: Array<{
          stopped: number;
          started: number;
          sigtermAt: number;
          exitedAt: number;
          pendingEffectsAtSigterm: number;
        }> = [];
        const inFlightAtSigterm: number[] = [];
        const activityAttemptsAtSigterm: number[] = [];
        const endedAfterSigterm: number[] = [];
        for (let k = 0; k < WORKERS; k++) {
          const old = fleet[k]!;
          // SIGTERM while this worker is in the middle of stage attempts, one of them an activity attempt
          // (a retry), so its shutdown has local and activity work to drain.
          await waitFor(
            `worker ${old.pid} to be running stage attempts, one of them a retry`,
            () => {
              const open = openAttempts(readJournal(storeDir, old.pid));
              return Promise.resolve(open.length >= 2 && activityAttempts(open) > 0 ? true : undefined);
            },
            120_000,
          );
          const sigtermAt = Date.now();
          old.child.kill('SIGTERM');
          const pending = pendingEffects();
          release(BATCH);
          const exit = await within(`worker ${old.pid} to exit after SIGTERM`, 60_000, old.exited);
          const exitedAt = Date.now();
          assert.deepEqual(
            exit,
            { code: 0, signal: null },
            `worker ${old.pid} must shut down gracefully and exit on its own: ${old.output()}`,
          );
          // It drained: the stage attempts in flight at its SIGTERM (and any it had already received) ran
          // to their end in it, none was aborted by the shutdown, and it returned from worker.run().
          const own = readJournal(storeDir, old.pid);
          const sigterm = own.findIndex((e) => e.e === 'sigterm');
          assert.ok(sigterm >= 0, `worker ${old.pid} journaled its SIGTERM`);
          assert.equal(
            own.at(-1)?.e,
            'stopped',
            `worker ${old.pid} returned from worker.run() before it exited`,
          );
          assert.deepEqual(
            openAttempts(own),
            [],
            `every stage attempt worker ${old.pid} started ended in it`,
          );
          assert.deepEqual(
            own.flatMap((e) => (e.e === 'end' && e.cancelledBy?.includes('workerShutdown') ? [e.key] : [])),
            [],
            `no stage attempt of worker ${old.pid} aborted by its shutdown: a graceful shutdown lets the stages in flight finish`,
          );
          const open = openAttempts(own.slice(0, sigterm));
          assert.ok(
            open.length > 0,
            `restart ${k + 1} overlapped stage attempts in flight in worker ${old.pid}`,
          );
          inFlightAtSigterm.push(open.length);
          activityAttemptsAtSigterm.push(activityAttempts(open));
          endedAfterSigterm.push(ends(own.slice(sigterm)));
          const fresh = await startWorker(prefix);
          fleet[k] = fresh;
          release(BATCH);
          // Readiness as a deploy sees it: the new process took work before the next one goes down.
          await waitFor(
            `new worker ${fresh.pid} to take work`,
            () => Promise.resolve(starts(readJournal(storeDir, fresh.pid)) > 0 ? true : undefined),
            120_000,
          );
          restarts.push({
            stopped: old.pid,
            started: fresh.pid,
            sigtermAt,
            exitedAt,
            pendingEffectsAtSigterm: pending,
          });
        }
        timings.restarts = Date.now() - t0;
        assert.ok(
          activityAttemptsAtSigterm.some((n) => n > 0),
          `a restart overlapped an activity attempt (a retry) in flight: ${activityAttemptsAtSigterm.join(', ')}`,
        );

        const published = await within('publishing', 120_000, publishing);
        assert.equal(published.length, TOTAL);
        assert.deepEqual(
          published.flatMap((r, i) => (r.ok && !r.duplicate ? [] : [`${ids[i]!.id}: ${JSON.stringify(r)}`])),
          [],
          'every message published once',
        );

        // The journals first (no server calls while the messages are still being processed): every effect
        // applied, or no new one for a while (then the describe loop below says which message is where).
        const expectedKeys = ids.flatMap(({ kind, id }) =>
          EFFECT_STAGES[kind].map((stage) => `${id}:${stage}:0`),
        );
        for (let applied = 0, still = 0; applied < expectedKeys.length && still < 60;) {
          await sleep(500);
          const now = readStore(storeDir).claims.length;
          still = now === applied ? still + 1 : 0;
          applied = now;
        }
        timings.effects = Date.now() - t0;

        // End states, by describing each id (strongly consistent), until every message settled: closed, or
        // parked for good (a kind that completes only through a re-drive is settled only once closed).
        const settled = new Map<
          string,
          { execution: string; status?: string; parkCount?: number; errorClass?: string }
        >();
        const lastSeen = new Map<string, string>();
        const settleBy = Date.now() + 240_000;
        for (;;) {
          const open = ids.filter(({ id }) => !settled.has(id));
          if (open.length === 0) break;
          if (Date.now() > settleBy)
            assert.fail(
              `${open.length} message(s) never reached an end state: ${open
                .slice(0, 20)
                .map(({ id }) => `${id} (${lastSeen.get(id)})`)
                .join(', ')}`,
            );
          await eachLimit(open, 32, async ({ kind, id }) => {
            const d = await env.client.workflow.getHandle(id).describe();
            const status = d.typedSearchAttributes.get(DlqStatus);
            lastSeen.set(id, `${d.status.name}, DlqStatus ${status}`);
            const parkedForGood = status === 'dead' && kind !== 'redrive';
            if (d.status.name === 'RUNNING' && !parkedForGood) return;
            settled.set(id, {
              execution: d.status.name,
              status,
              parkCount: d.typedSearchAttributes.get(DlqParkCount),
              errorClass: d.typedSearchAttributes.get(DlqErrorClass),
            });
          });
          await sleep(1000);
        }
        timings.settled = Date.now() - t0;
        for (const [id, seen] of settled) if (seen.execution === 'RUNNING') parkedIds.push(id);

        const wrong: string[] = [];
        const outcomes: Record<string, number> = {};
        await eachLimit(ids, 32, async ({ kind, id }) => {
          const seen = settled.get(id)!;
          const expected = EXPECTED[kind];
          const handle = env.client.workflow.getHandle(id);
          let status: string;
          let audit: AuditEntry[];
          let parkCount: number | undefined;
          if (seen.execution === 'COMPLETED') {
            const outcome = (await handle.result()) as MessageOutcome;
            ({ status, audit } = outcome);
            parkCount = audit.filter((a) => a.action === 'parked').length ? seen.parkCount : 0;
          } else if (seen.execution === 'RUNNING') {
            const state = await handle.query(stateQuery);
            ({ status, audit, parkCount } = state);
            const dl = state.deadLetter;
            if (expected.execution !== 'RUNNING' && dl)
              wrong.push(
                `${id}: parked ${dl.errorClass}/${dl.reason} (${dl.causeReason ?? '-'}): ${dl.message}`,
              );
            if (seen.parkCount !== 1) wrong.push(`${id}: DlqParkCount ${seen.parkCount}, expected 1`);
            if (seen.errorClass !== PARKED_CLASS[kind])
              wrong.push(`${id}: DlqErrorClass ${seen.errorClass}, expected ${PARKED_CLASS[kind]}`);
          } else {
            wrong.push(`${id}: execution ${seen.execution}, expected ${expected.execution}`);
            return;
          }
          outcomes[status] = (outcomes[status] ?? 0) + 1;
          const parks = audit.filter((a) => a.action === 'parked').length;
          if (seen.execution !== expected.execution || status !== expected.status)
            wrong.push(
              `${id}: ${seen.execution}/${status}, expected ${expected.execution}/${expected.status}`,
            );
          if (parks !== expected.parks || (expected.parks > 0 && parkCount !== expected.parks))
            wrong.push(
              `${id}: parked ${parks} time(s) in its audit trail (park count ${parkCount}), expected ${expected.parks}`,
            );
        });
        assert.deepEqual(wrong, [], 'every message reached its end state, and every parked one parked once');

        // The same by visibility, once it has caught up (eventually consistent; polled slowly: 10 calls/s budget).
        const q = `TaskQueue = "${env.taskQueue}"`;
        const parked = MIX.park + MIX.invalid;
        await waitFor(
          'visibility to count every message in its end state',
          async () => {
            const all = await env.client.workflow.count(q);
            const done = await env.client.workflow.count(`${q} AND ExecutionStatus = "Completed"`);
            const dead = await env.client.workflow.count(
              `${q} AND ExecutionStatus = "Running" AND DlqStatus = "dead" AND DlqParkCount = 1`,
            );
            if (all.count === TOTAL && done.count === TOTAL - parked && dead.count === parked) return true;
            await sleep(2000);
            return undefined;
          },
          120_000,
        );
        timings.visibility = Date.now() - t0;
        const runs = new Map<string, number>();
        for await (const wf of env.client.workflow.list({ query: q }))
          runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
        assert.deepEqual(
          ids
            .filter(({ id }) => runs.get(id) !== 1)
            .map(({ id }) => `${id}: ${runs.get(id) ?? 0} executions`),
          [],
          'exactly one execution per message in visibility',
        );
        assert.equal(runs.size, TOTAL, 'no execution on the task queue other than the messages');

        // Side effects: exactly the expected keys, each applied once; duplicate deliveries counted apart.
        const { claims, entries } = readStore(storeDir);
        const expectedSet = new Set(expectedKeys);
        const claimSet = new Set(claims);
        assert.deepEqual(
          claims.filter((k) => !expectedSet.has(k)).sort(),
          [],
          'no effect under an unexpected key',
        );
        assert.deepEqual(
          expectedKeys.filter((k) => !claimSet.has(k)),
          [],
          'every effect applied',
        );
        const appliedPerKey = new Map<string, number>();
        for (const e of entries)
          if (e.e === 'applied') appliedPerKey.set(e.key, (appliedPerKey.get(e.key) ?? 0) + 1);
        assert.deepEqual(
          [...appliedPerKey].filter(([, n]) => n !== 1).map(([key, n]) => `${key}: applied ${n} times`),
          [],
          'each effect applied exactly once',
        );
        assert.equal(appliedPerKey.size, expectedKeys.length, 'every applied effect journaled');
        // Duplicate deliveries: a stage run again for a key whose effect was applied. A graceful restart
        // makes none; a worker that cannot report in time does (this 2-core machine, shared with other
        // runs, can starve a worker past its 10 s workflow task timeout), and then the workflow's history
        // shows the lost task. Each must be explained so, and was caught by the key (applied once, above).
        const duplicates = entries.filter((e) => e.e === 'duplicate');
        const duplicated = [...new Set(duplicates.map((e) => e.key.split(':').slice(0, 3).join(':')))];
        const unexplained: string[] = [];
        const explained: Record<string, number> = {};
        // A lost workflow task names the worker that lost it. One lost by a stopped worker after its SIGTERM
        // is counted (a starved worker can time out while it drains); one it started and then exited without
        // completing (started before its exit, timed out after it) would be a task its drain abandoned.
        let lostDuringDrain = 0;
        const abandoned: string[] = [];
        await eachLimit(duplicated, 8, async (workflowId) => {
          const lost = await lostWork(env.client, workflowId);
          if (lost.length === 0) unexplained.push(workflowId);
          for (const w of new Set(lost.map((l) => l.why))) explained[w] = (explained[w] ?? 0) + 1;
          for (const { worker, startedAt, at } of lost) {
            const stopped = restarts.find((r) => `rolling-worker-${r.stopped}` === worker);
            if (!stopped || at === undefined || at < stopped.sigtermAt) continue;
            lostDuringDrain++;
            if (startedAt !== undefined && startedAt < stopped.exitedAt && stopped.exitedAt < at)
              abandoned.push(`${workflowId} (worker ${stopped.stopped})`);
          }
        });
        assert.deepEqual(
          abandoned,
          [],
          'no stopped worker exited leaving a workflow task it had started (its local attempts then ran again)',
        );
        assert.deepEqual(
          unexplained,
          [],
          'no stage delivered again after its effect was applied unless its workflow lost a task or an attempt to a timeout',
        );
        timings.checks = Date.now() - t0;

        const figures = {
          messages: TOTAL,
          workers: WORKERS,
          restarts: restarts.length,
          inFlightAtSigterm,
          activityAttemptsAtSigterm,
          endedAfterSigterm,
          pendingEffectsAtSigterm: restarts.map((r) => r.pendingEffectsAtSigterm),
          outcomes,
          stageAttempts: starts(entries),
          sideEffects: claims.length,
          duplicateDeliveries: duplicates.length,
          duplicatesExplainedBy: explained,
          tasksLostDuringADrain: lostDuringDrain,
          lost: TOTAL - runs.size,
          seconds: Object.fromEntries(Object.entries(timings).map(([k, ms]) => [k, Math.round(ms / 1000)])),
        };
        t.diagnostic(`rolling-restart figures: ${JSON.stringify(figures)}`);
        passed = true;
      },
    );
  },
);
