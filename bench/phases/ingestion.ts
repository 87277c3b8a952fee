/**
 * Ingestion: how fast messages get from a broker to started and to completed workflows through a source
 * (src/connectors/), as a ratio to `publishMany` from memory on the same server, worker settings and size in
 * the same run. Each broker is loaded with N messages before the clock starts, so the figure is the source's
 * rate, not the producer's. Every run has a fresh worker child and task queue. Each source runs three ways:
 * - `bridge`: in the bench process, as `dlq bridge` does (its own client, the worker in another process);
 * - `worker`: inside the worker child (`createWorker({ sources })`), eager start off;
 * - `worker, eager`: the same with eager workflow start (the start's response carries the first task).
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { publishMany } from '../../src/client/publish';
import { runSource } from '../../src/connectors/source';
import { openSource } from '../brokers/spec';
import type { SourceSpec } from '../brokers/spec';
import { TOPIC_OK } from '../handlers';
import { countWhere, startWorker, withinVisibilityBudget } from '../context';
import type { BenchContext } from '../context';
import type { WorkerProcess } from '../worker-process';
import { round, until } from '../stats';

/** A broker the phase can fill: one per source kind. */
export interface IngestionBroker {
  readonly kind: SourceSpec['kind'];
  /** Loads `n` messages on topic `topic`, ids `<prefix>-<i>`, and answers the source that reads them. */
  load(n: number, topic: string, prefix: string): Promise<{ spec: SourceSpec }>;
  /** Removes what `load` made (streams, queues, databases). */
  close(): Promise<void>;
}

export type IngestionMode = 'memory' | 'bridge' | 'worker' | 'worker, eager';

export interface IngestionRun {
  /** `memory` is `publishMany` of the same messages from an array. */
  source: 'memory' | SourceSpec['kind'];
  mode: IngestionMode;
  n: number;
  /** First message taken to the last start acknowledged (memory: `publishMany` resolved). */
  startedPerSecond: number;
  /** First message taken to the last workflow's close time (from visibility). */
  completedPerSecond: number;
  /** Against the mean of the phase's two memory runs (before and after the brokers). */
  ratioStarted: number;
  ratioCompleted: number;
  /** Starts refused and given back to the broker (each came back and started later). */
  retried: number;
  /** Starts the server answered with the workflow's first task (eager mode only). */
  eagerlyStarted: number;
}

type Measured = Omit<IngestionRun, 'ratioStarted' | 'ratioCompleted'>;

async function lastClose(client: Client, taskQueue: string): Promise<number> {
  return withinVisibilityBudget(async () => {
    let last = 0;
    for await (const info of client.workflow.list({
      query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`,
      pageSize: 1000,
    }))
      last = Math.max(last, info.closeTime?.getTime() ?? 0);
    return last;
  });
}

async function completedAt(ctx: BenchContext, taskQueue: string, n: number): Promise<number> {
  const done = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`;
  await until(
    `${n} ingested workflows to complete`,
    async () => (await countWhere(ctx.client, done)) >= n,
    15 * 60_000,
    250,
  );
  return lastClose(ctx.client, taskQueue);
}

interface Started {
  t0: number;
  startedAt: number;
  retried: number;
  eagerlyStarted: number;
}

const label = (run: { source: string; mode: IngestionMode }) =>
  run.mode === 'memory' ? 'memory' : `${run.source} (${run.mode})`;

async function measure(
  ctx: BenchContext,
  source: IngestionRun['source'],
  mode: IngestionMode,
  n: number,
  start: (taskQueue: string) => Promise<{ worker: WorkerProcess; started: () => Promise<Started> }>,
): Promise<Measured> {
  // Unique per run: completion is counted per task queue (the memory baseline runs three times).
  const taskQueue = `bench-ingest-${source}-${mode.replace(/\W+/g, '-')}-${ctx.runId}-${randomUUID().slice(0, 6)}`;
  const { worker, started } = await start(taskQueue);
  try {
    const s = await started();
    const closedAt = await completedAt(ctx, taskQueue, n);
    return {
      source,
      mode,
      n,
      startedPerSecond: round(n / ((s.startedAt - s.t0) / 1000), 1),
      completedPerSecond: round(n / ((closedAt - s.t0) / 1000), 1),
      retried: s.retried,
      eagerlyStarted: s.eagerlyStarted,
    };
  } finally {
    await worker.stop();
  }
}

/** `publishMany` of N messages from an array, on a fresh worker child. */
function fromMemory(ctx: BenchContext, n: number): Promise<Measured> {
  const prefix = `${ctx.runId}-ingest-memory-${randomUUID().slice(0, 6)}`;
  return measure(ctx, 'memory', 'memory', n, async (taskQueue) => {
    const worker = await startWorker(ctx, 'dlq', taskQueue);
    return {
      worker,
      started: async () => {
        const inputs = Array.from({ length: n }, (_, i) => ({
          id: `${prefix}-${i}`,
          topic: TOPIC_OK,
          payload: { i },
        }));
        const t0 = Date.now();
        const results = await publishMany(ctx.client, inputs, {
          taskQueue,
          concurrency: ctx.options.publishConcurrency,
        });
        const failed = results.filter((r) => !r.ok).length;
        if (failed) throw new Error(`bench: ${failed} of ${n} publishes failed in the memory baseline`);
        return { t0, startedAt: Date.now(), retried: 0, eagerlyStarted: 0 };
      },
    };
  });
}

/** The source in the bench process, as `dlq bridge` runs it, with the worker in its child. */
function viaBridge(ctx: BenchContext, spec: SourceSpec, n: number): Promise<Measured> {
  return measure(ctx, spec.kind, 'bridge', n, async (taskQueue) => {
    const worker = await startWorker(ctx, 'dlq', taskQueue);
    return {
      worker,
      started: async () => {
        const source = await openSource(spec);
        const stop = new AbortController();
        let settled = 0;
        let retried = 0;
        let startedAt = 0;
        const t0 = Date.now();
        try {
          const counts = await runSource(ctx.client, source, {
            taskQueue,
            maxInFlight: ctx.options.publishConcurrency,
            signal: stop.signal,
            onSettled: (outcome) => {
              if (outcome === 'retry-later') retried++;
              else if (++settled === n) {
                startedAt = Date.now();
                stop.abort();
              }
            },
          });
          if (counts.started + counts.duplicate < n)
            throw new Error(`bench: the ${spec.kind} source started ${counts.started} of ${n}`);
        } finally {
          await source.close();
        }
        return { t0, startedAt, retried, eagerlyStarted: 0 };
      },
    };
  });
}

/** The source inside the worker child (`createWorker({ sources })`), eager start on or off. */
function inWorker(ctx: BenchContext, spec: SourceSpec, n: number, eagerStart: boolean): Promise<Measured> {
  return measure(ctx, spec.kind, eagerStart ? 'worker, eager' : 'worker', n, async (taskQueue) => {
    const worker = await startWorker(ctx, 'dlq', taskQueue, undefined, {
      spec,
      eagerStart,
      maxInFlight: ctx.options.publishConcurrency,
      n,
    });
    return { worker, started: () => worker.ingested() };
  });
}

/** A warm-up, the memory baseline, each broker's source three ways, the memory baseline again; N messages each. */
export async function runIngestion(
  ctx: BenchContext,
  brokers: readonly IngestionBroker[],
  n: number,
): Promise<IngestionRun[]> {
  // A fresh server runs its first burst faster than later ones: a warm-up first (not counted), and the
  // memory baseline both before and after the brokers, the ratios against their mean.
  ctx.log(`ingestion: warm-up, publishMany from memory, ${n} messages (not counted)`);
  await fromMemory(ctx, n);
  ctx.log(`ingestion: publishMany from memory, ${n} messages`);
  const runs: Measured[] = [await fromMemory(ctx, n)];
  for (const broker of brokers) {
    for (const mode of ['bridge', 'worker', 'worker, eager'] as const) {
      ctx.log(`ingestion: ${broker.kind} (${mode}), ${n} messages (loading the broker first)`);
      const prefix = `${ctx.runId}-ingest-${broker.kind}-${randomUUID().slice(0, 6)}`;
      const { spec } = await broker.load(n, TOPIC_OK, prefix);
      runs.push(
        mode === 'bridge'
          ? await viaBridge(ctx, spec, n)
          : await inWorker(ctx, spec, n, mode === 'worker, eager'),
      );
    }
  }
  ctx.log(`ingestion: publishMany from memory again, ${n} messages`);
  runs.push(await fromMemory(ctx, n));
  const memory = runs.filter((r) => r.mode === 'memory');
  const mean = (pick: (r: Measured) => number) => memory.reduce((sum, r) => sum + pick(r), 0) / memory.length;
  const started = mean((r) => r.startedPerSecond);
  const completed = mean((r) => r.completedPerSecond);
  return runs.map((r) => ({
    ...r,
    ratioStarted: round(r.startedPerSecond / started, 3),
    ratioCompleted: round(r.completedPerSecond / completed, 3),
  }));
}

export { label as ingestionLabel };
