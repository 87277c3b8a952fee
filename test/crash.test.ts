/**
 * Worker crash: the worker runs in its own process and is SIGKILLed twice while 520 messages are in flight.
 * After a restart every message reaches exactly its one outcome, none is missing, no workflow fails for a
 * non-business reason, and every stage side effect keyed by its idempotency key is applied exactly once.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestEnv, requireEnv, uid, waitFor } from './helpers';
import type { TestEnv } from './helpers';
import { publishMany } from '../src/client/publish';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import type { MessageOutcome } from '../src/contract/types';

/** Topics of the crash worker and the outcome each must reach. */
const EXPECTED = {
  'crash-ok': 'succeeded',
  'crash-flaky': 'succeeded',
  'crash-redrive': 'recovered',
  'crash-park': 'dead',
} as const;
type Topic = keyof typeof EXPECTED;
const MIX: Array<[Topic, number]> = [
  ['crash-ok', 200],
  ['crash-flaky', 120],
  ['crash-redrive', 100],
  ['crash-park', 100],
];
const TOTAL = MIX.reduce((n, [, c]) => n + c, 0);

let env: TestEnv;
let ledger: string;
let worker: ChildProcess | undefined;

const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

async function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'crash-worker.ts')], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      CRASH_LEDGER_DIR: ledger,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`crash worker exited (${code}) before ready: ${stderr}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, s) => resolve(s)));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
}

describe('worker crash', () => {
  before(async () => {
    requireEnv('DLQ_TEST_WORKFLOW_BUNDLE');
    env = await openTestEnv();
    ledger = mkdtempSync(join(tmpdir(), 'dlq-crash-'));
  });
  after(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) await kill(worker);
    await env.close();
    rmSync(ledger, { recursive: true, force: true });
  });

  it(`loses nothing when the worker is SIGKILLed twice mid-flight (${TOTAL} messages)`, async (t) => {
    const tag = uid();
    const messages = MIX.flatMap(([topic, n]) =>
      Array.from({ length: n }, (_, i) => ({
        id: `${tag}-${i}`,
        topic,
        payload: { n: i, topic },
      })),
    );
    const attempts = () => lines(join(ledger, 'attempts.log')).length;

    worker = await startWorkerProcess();
    const publishing = publishMany(env.client, messages, { taskQueue: env.taskQueue, concurrency: 16 });
    let kills = 0;
    let restarts = 0;
    for (const threshold of [80, 260]) {
      await waitFor(
        `${threshold} stage attempts`,
        () => Promise.resolve(attempts() >= threshold ? true : undefined),
        120_000,
      );
      await kill(worker);
      kills += 1;
      await new Promise((r) => setTimeout(r, 300));
      worker = await startWorkerProcess();
      restarts += 1;
    }
    const published = await publishing;
    assert.equal(published.filter((r) => r.ok && !r.duplicate).length, TOTAL, 'every message was published');

    // Wait for the end state: the parked ones running and dead, everything else completed.
    const parked = MIX.find(([topic]) => topic === 'crash-park')![1];
    const q = `TaskQueue = "${env.taskQueue}"`;
    await waitFor(
      'every message to reach its outcome',
      async () => {
        const done = await env.client.workflow.count(`${q} AND ExecutionStatus = "Completed"`);
        const dead = await env.client.workflow.count(
          `${q} AND ExecutionStatus = "Running" AND DlqStatus = "dead"`,
        );
        return done.count === TOTAL - parked && dead.count === parked ? true : undefined;
      },
      // Usually 50-110 s. After each kill every message in flight runs its stage alone (a suspect), one at a
      // time; on PostgreSQL with a slow disk that drain took over 240 s once in a quiet CI run.
      480_000,
    );

    // Exactly one execution per message, and none closed for a non-business reason.
    const runs = new Map<string, string[]>();
    for await (const wf of env.client.workflow.list({ query: q })) {
      runs.set(wf.workflowId, [...(runs.get(wf.workflowId) ?? []), wf.status.name]);
    }
    assert.equal(runs.size, TOTAL, 'one workflow per message, none missing');
    const abnormal = [...runs].filter(([, s]) => s.length !== 1 || !['COMPLETED', 'RUNNING'].includes(s[0]!));
    assert.deepEqual(abnormal, [], 'no workflow failed, timed out, was terminated or ran twice');

    // Every message reached exactly the outcome its topic promises.
    const outcomes: Record<string, number> = {};
    const wrong: string[] = [];
    for (const m of messages) {
      const id = messageWorkflowId(m.topic, m.id);
      const handle = env.client.workflow.getHandle(id);
      const status = runs.get(id)?.[0];
      const outcome =
        status === 'COMPLETED'
          ? ((await handle.result()) as MessageOutcome).status
          : (await handle.query(stateQuery)).status;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome !== EXPECTED[m.topic]) wrong.push(`${id}: ${outcome}, expected ${EXPECTED[m.topic]}`);
    }
    assert.deepEqual(wrong, []);

    // Side effects: exactly the keys of the stages that completed, each applied once. A claim is applied at
    // most once per key by construction, so a stage that ran again under another key (an unstable
    // idempotency key) would show up as a claim outside the expected set.
    const claimed = readdirSync(join(ledger, 'claims')).map(decodeURIComponent).sort();
    const expectedKeys = messages
      .flatMap((m) => {
        const id = messageWorkflowId(m.topic, m.id);
        if (m.topic === 'crash-ok') return [`${id}:reserve:0`, `${id}:charge:0`];
        if (m.topic === 'crash-flaky') return [`${id}:handle:0`];
        // Re-driven with the same payload: the same key as the first cycle (keys follow the payload version).
        if (m.topic === 'crash-redrive') return [`${id}:handle:0`];
        return [];
      })
      .sort();
    const expectedSet = new Set(expectedKeys);
    const claimedSet = new Set(claimed);
    assert.deepEqual(
      claimed.filter((k) => !expectedSet.has(k)),
      [],
      'no side effect applied under an unexpected key',
    );
    assert.deepEqual(
      expectedKeys.filter((k) => !claimedSet.has(k)),
      [],
      'every completed stage applied its side effect',
    );
    const deduplicated = lines(join(ledger, 'deduplicated.log'));
    const attemptCounts = new Map<string, number>();
    for (const key of lines(join(ledger, 'attempts.log')))
      attemptCounts.set(key, (attemptCounts.get(key) ?? 0) + 1);
    const rerunKeys = [...attemptCounts].filter(([key, n]) => n > 1 && !key.includes(':handle:0')).length;

    const figures = {
      messages: TOTAL,
      kills,
      restarts,
      outcomes,
      sideEffects: claimed.length,
      keysRunMoreThanOnce: rerunKeys,
      duplicatesPrevented: deduplicated.length,
      lost: TOTAL - runs.size,
    };
    t.diagnostic(`crash figures: ${JSON.stringify(figures)}`);
  });
});
