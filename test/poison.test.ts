/**
 * Poison message: a payload whose handler kills its worker process (SIGKILL, as an OOM kill or a native
 * crash would). A supervisor restarts the worker child whenever it dies, as a process manager or Kubernetes
 * would. One poison message among healthy ones on the same topic, for both `firstAttempt` modes:
 * - the worker dies at most `maximumAttempts` times, then the message parks as `WORKER_CRASHED`;
 * - it is never re-driven: no worker death in the 30 s after it parked (re-drive base delay 2 s here);
 * - the immediate `worker-crashed` critical alert shows in the workers' log and reaches the alert webhook (a
 *   local `node:http` receiver) as one `worker-crashed` notification with the delivery id `<workflowId>:1`;
 * - every healthy message completes, at worst after a retry or a re-drive.
 * Each mode is bounded: a crash loop fails the test as soon as the deaths pass `maximumAttempts`, and a
 * message that never parks fails it at a deadline.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { openTestEnv, recordHistory, requireEnv, uid } from './helpers';
import type { TestEnv } from './helpers';
import { POISON_MAX_ATTEMPTS, POISON_TOPIC } from './fixtures/poison-worker';
import type { PoisonPayload } from './fixtures/poison-worker';
import { publishMany } from '../src/client/publish';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { DlqStatus } from '../src/contract/search-attributes';
import type { MessageOutcome, MessageState } from '../src/contract/types';
import type { FirstAttempt } from '../src/contract/topic-policy';

const HEALTHY = 24;
/** From publishing until the poison message must be parked. */
const PARK_DEADLINE_MS = 150_000;
/** No worker death in this long after the parking. */
const QUIET_MS = 30_000;
/** Healthy results still missing once the quiet window is over get this much longer. */
const HEALTHY_GRACE_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rejects after `ms` (a query or a result must never hang the test). */
function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Death {
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  pid: number | undefined;
}

/**
 * Keeps one worker child running: whenever it dies it is counted (with the time) and started again. Every
 * stdout line of every child is kept, for the alert and the poison attempts.
 */
class Supervisor {
  readonly deaths: Death[] = [];
  readonly lines: string[] = [];
  readonly startedAt = Date.now();
  private child: ChildProcess | undefined;
  private stopping = false;
  private stderrTail = '';
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly env: Record<string, string>) {}

  /** Starts the first child and waits until it polls. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const child = this.spawnChild(resolve);
      child.once('exit', (code, signal) =>
        reject(new Error(`poison worker exited (${code ?? signal}) before ready: ${this.stderrTail}`)),
      );
    });
    await within('the first poison worker to start', 60_000, ready);
  }

  private spawnChild(onReady?: () => void): ChildProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'fixtures', 'poison-worker.ts')],
      { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        if (line === 'ready') onReady?.();
      }
    });
    child.stderr.on('data', (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-4000)));
    child.once('exit', (code, signal) => {
      if (pending) this.lines.push(pending);
      if (this.stopping) return;
      this.deaths.push({ at: Date.now(), code, signal, pid: child.pid });
      this.restartTimer = setTimeout(() => {
        if (!this.stopping) this.spawnChild();
      }, 200);
    });
    return child;
  }

  /** Lines of the children's stdout that are pino JSON objects. */
  logEntries(): Array<Record<string, unknown>> {
    return this.lines.flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  poisonAttempts(): string[] {
    return this.lines.filter((l) => l.startsWith('poison-attempt '));
  }

  get lastStderr(): string {
    return this.stderrTail;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

/** What a workflow that did not finish waits on (its pending workflow task and activities), for the failure. */
async function whereItWaits(workflowId: string): Promise<string> {
  try {
    const { raw, status, historyLength } = await within(
      'describe',
      10_000,
      env.client.workflow.getHandle(workflowId).describe(),
    );
    const wft = raw.pendingWorkflowTask;
    const time = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
      t?.seconds ? new Date(Number(t.seconds) * 1000).toISOString().slice(11, 23) : '-';
    const task = wft
      ? `workflow task attempt ${wft.attempt} (${String(wft.state)}, scheduled ${time(wft.scheduledTime)}, started ${time(wft.startedTime)})`
      : 'no workflow task';
    const activities = (raw.pendingActivities ?? []).map(
      (a) =>
        `${a.activityType?.name} attempt ${a.attempt} (${String(a.state)}, last failure ${JSON.stringify(a.lastFailure?.message ?? null)}, worker ${a.lastWorkerIdentity || '-'})`,
    );
    const history = await within('history', 10_000, env.client.workflow.getHandle(workflowId).fetchHistory());
    const last = (history.events ?? []).slice(-6).map((e) => {
      const type = Object.keys(e).find((k) => k.endsWith('EventAttributes') && e[k as keyof typeof e]) ?? '?';
      const timer = e.timerStartedEventAttributes?.startToFireTimeout?.seconds;
      const failure = (e.activityTaskFailedEventAttributes ?? e.workflowTaskFailedEventAttributes)?.failure
        ?.message;
      const timeout =
        e.workflowTaskTimedOutEventAttributes?.timeoutType ??
        e.activityTaskTimedOutEventAttributes?.retryState;
      return [type, timer !== undefined ? `${String(timer)}s` : '', failure ?? '', timeout ?? '']
        .filter((x) => x !== '')
        .join(' ');
    });
    return `${workflowId}: ${status.name}, ${historyLength} events, ${task}; activities: ${activities.join(', ') || 'none'}; last events: ${last.join(' > ')}`;
  } catch (err) {
    return `${workflowId}: describe failed (${String(err)})`;
  }
}

let env: TestEnv;
const supervisors: Supervisor[] = [];
/** The alert webhook's receiver and what it got: delivery id and body. */
let webhook: Server;
let webhookUrl = '';
const webhookPosts: Array<{ delivery: string | undefined; body: string }> = [];

async function poisonTest(t: TestContext, mode: FirstAttempt): Promise<void> {
  const taskQueue = `${env.taskQueue}-${mode}`;
  const supervisor = new Supervisor({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DLQ_TEST_WORKFLOW_BUNDLE: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE'),
    POISON_FIRST_ATTEMPT: mode,
    LOG_LEVEL: 'info',
    DLQ_ALERT_WEBHOOK_URL: webhookUrl,
  });
  supervisors.push(supervisor);
  // Cancels the pending `result()` calls when the test ends, so none outlives the connection.
  const pending = new AbortController();
  setMaxListeners(8 * HEALTHY, pending.signal); // a listener per pending result and per long-poll it retries
  try {
    await supervisor.start();

    const tag = uid();
    const healthy = Array.from({ length: HEALTHY }, (_, i) => ({
      id: `${tag}-ok-${i}`,
      topic: POISON_TOPIC,
      payload: { n: i } satisfies PoisonPayload,
    }));
    const poison = { id: `${tag}-poison`, topic: POISON_TOPIC, payload: { n: -1, poison: true } };
    const half = HEALTHY / 2;
    const messages = [...healthy.slice(0, half), poison, ...healthy.slice(half)];
    const publishedAt = Date.now();
    const published = await publishMany(env.client, messages, { taskQueue, concurrency: 32 });
    assert.deepEqual(
      published.filter((r) => !r.ok || r.duplicate),
      [],
      'every message was published once',
    );
    const poisonId = messageWorkflowId(POISON_TOPIC, poison.id);
    const poisonHandle = env.client.workflow.getHandle(poisonId);

    // Every healthy result, collected from now on; a failed workflow counts as not completed.
    const healthyOutcomes = new Map<string, string>();
    const healthyDone = Promise.all(
      healthy.map(async (m) => {
        const id = messageWorkflowId(POISON_TOPIC, m.id);
        try {
          const outcome = (await env.connection.withAbortSignal(pending.signal, () =>
            env.client.workflow.getHandle(id).result(),
          )) as MessageOutcome;
          healthyOutcomes.set(id, outcome.status);
        } catch (err) {
          healthyOutcomes.set(id, `failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );

    const figures = () => ({
      mode,
      deaths: supervisor.deaths.length,
      deathsAtSecond: supervisor.deaths.map((d) => Math.round((d.at - publishedAt) / 100) / 10),
      poisonAttemptsSeen: supervisor.poisonAttempts().length,
      healthyCompleted: [...healthyOutcomes.values()].filter((s) => s === 'succeeded' || s === 'recovered')
        .length,
    });
    const describeStatus = async () => {
      const description = await within('describe', 10_000, poisonHandle.describe());
      return description.typedSearchAttributes.get(DlqStatus);
    };

    // 1. It parks, before the deaths pass maximumAttempts and before the deadline.
    let searchStatus: string | undefined;
    for (;;) {
      if (supervisor.deaths.length > POISON_MAX_ATTEMPTS)
        assert.fail(
          `crash loop: ${supervisor.deaths.length} worker deaths (maximumAttempts ${POISON_MAX_ATTEMPTS}) and ` +
            `the poison message is not parked (DlqStatus ${String(searchStatus)}): ${JSON.stringify(figures())}`,
        );
      if (Date.now() - publishedAt > PARK_DEADLINE_MS)
        assert.fail(
          `the poison message did not park within ${PARK_DEADLINE_MS / 1000} s (DlqStatus ` +
            `${String(searchStatus)}): ${JSON.stringify(figures())}`,
        );
      searchStatus = await describeStatus().catch(() => undefined);
      if (searchStatus === 'dead') break;
      await sleep(250);
    }
    const deathsBeforePark = supervisor.deaths.length;
    const state: MessageState = await within('state query', 15_000, poisonHandle.query(stateQuery));
    const dl = state.deadLetter;
    const parkedAt = dl ? Date.parse(dl.parkedAt) : Date.now();
    const parked = {
      status: state.status,
      reason: dl?.reason,
      causeReason: dl?.causeReason,
      errorClass: dl?.errorClass,
      errorType: dl?.errorType,
      attempts: dl?.attempts,
      nextRedriveAt: dl?.nextRedriveAt,
      parkedAfterSeconds: Math.round((parkedAt - publishedAt) / 100) / 10,
    };
    t.diagnostic(`${mode}: parked ${JSON.stringify(parked)} after ${deathsBeforePark} deaths`);
    await recordHistory(env.client, poisonId, mode === 'local' ? 'worker-crashed' : `worker-crashed-${mode}`);
    // From here on every check runs and the problems are reported together, with the figures.
    const problems: string[] = [];
    if (state.status !== 'dead') problems.push(`state query status ${state.status}, expected dead`);
    if (dl?.reason !== 'WORKER_CRASHED')
      problems.push(`dead letter reason ${String(dl?.reason)}, expected WORKER_CRASHED`);

    // 2. It stays parked: no worker death in the 30 s after it parked (stop watching at the first one).
    const deathsAfterPark = () => supervisor.deaths.filter((d) => d.at > parkedAt);
    while (Date.now() < parkedAt + QUIET_MS && deathsAfterPark().length === 0) await sleep(250);
    const later = deathsAfterPark().map((d) => Math.round((d.at - parkedAt) / 100) / 10);
    if (later.length)
      problems.push(
        `worker died ${later.length}x in the ${QUIET_MS / 1000} s after it parked (at +${later.join(', +')} s)`,
      );
    else {
      const stateAfter = await within('state query', 15_000, poisonHandle.query(stateQuery)).catch(
        (err: unknown) => ({ status: `unknown (${String(err)})` }),
      );
      if (stateAfter.status !== 'dead') problems.push(`status ${stateAfter.status} after the quiet window`);
      const searchAfter = await describeStatus().catch(() => undefined);
      if (searchAfter !== 'dead') problems.push(`DlqStatus ${String(searchAfter)} after the quiet window`);
    }

    // 3. At most maximumAttempts deaths in all.
    if (supervisor.deaths.length > POISON_MAX_ATTEMPTS)
      problems.push(`${supervisor.deaths.length} worker deaths, at most ${POISON_MAX_ATTEMPTS} expected`);

    // 4. The immediate alert: a critical `worker-crashed` line naming the message, from one of the workers.
    const alerts = supervisor
      .logEntries()
      .filter((e) => e.alert === 'worker-crashed' && JSON.stringify(e).includes(poisonId));
    if (!alerts.some((e) => e.severity === 'critical'))
      problems.push(
        alerts.length
          ? `the worker-crashed alert is not critical: ${JSON.stringify(alerts[0])}`
          : `no worker-crashed alert for ${poisonId} in the workers' log`,
      );

    // 4b. The same alert reached the webhook at once (the quiet window above gave it 30 s), once per parking.
    const posted = webhookPosts.filter((p) => p.delivery === `${poisonId}:1`);
    const rules = posted.map(
      (p) =>
        (JSON.parse(p.body) as { alerts?: Array<{ rule?: string }> }).alerts?.map((a) => a.rule).join(',') ??
        '',
    );
    if (!posted.length) problems.push(`no worker-crashed alert for ${poisonId} reached the webhook`);
    else if (rules.some((r) => r !== 'worker-crashed'))
      problems.push(`webhook alerts with rules ${rules.join('; ')}`);

    // 5. Every healthy message completed.
    await within('the healthy messages', HEALTHY_GRACE_MS, healthyDone).catch(() => undefined);
    const notCompleted = healthy
      .map((m) => messageWorkflowId(POISON_TOPIC, m.id))
      .map((id) => `${id}: ${healthyOutcomes.get(id) ?? 'not finished'}`)
      .filter((line) => !line.endsWith(': succeeded') && !line.endsWith(': recovered'));
    if (notCompleted.length) {
      const stuck = await Promise.all(
        notCompleted.slice(0, 5).map((line) => whereItWaits(line.slice(0, line.indexOf(': ')))),
      );
      problems.push(
        `${notCompleted.length} healthy messages not completed: ${notCompleted.join('; ')}; where they wait: ${stuck.join('; ')}`,
      );
    }

    const outcomes: Record<string, number> = {};
    for (const s of healthyOutcomes.values()) outcomes[s] = (outcomes[s] ?? 0) + 1;
    const summary = {
      ...figures(),
      parked,
      deathsAfterPark: later.length,
      healthyOutcomes: outcomes,
      seconds: Math.round((Date.now() - publishedAt) / 1000),
    };
    t.diagnostic(`${mode}: ${JSON.stringify(summary)}`);
    assert.deepEqual(problems, [], `figures: ${JSON.stringify(summary)}`);
  } finally {
    pending.abort();
    await supervisor.stop();
  }
}

describe('poison message that kills its worker', () => {
  before(async () => {
    requireEnv('DLQ_TEST_WORKFLOW_BUNDLE');
    env = await openTestEnv();
    webhook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        webhookPosts.push({
          delivery: req.headers['x-dlq-delivery'] as string | undefined,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    for (const s of supervisors) await s.stop();
    await env?.close();
    await new Promise((resolve) => webhook?.close(resolve));
  });

  for (const mode of ['local', 'activity'] as const) {
    it(
      `parks after at most ${POISON_MAX_ATTEMPTS} worker deaths and stays parked (firstAttempt: '${mode}')`,
      {
        timeout: 300_000,
      },
      (t) => poisonTest(t, mode),
    );
  }
});
