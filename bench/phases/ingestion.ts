/**
 * Ingestion: how fast messages get from a broker to started and to completed workflows through a source
 * (src/connectors/), as a ratio to `publishMany` from memory on the same server, worker settings and size in
 * the same run. Each broker is loaded with N messages before the clock starts, so the figure is the
 * source's rate, not the producer's. Every run has a fresh worker child and task queue.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { publishMany } from '../../src/client/publish';
import { runSource } from '../../src/connectors/source';
import type { Source } from '../../src/connectors/source';
import { TOPIC_OK } from '../handlers';
import { countWhere, startWorker, withinVisibilityBudget } from '../context';
import type { BenchContext } from '../context';
import { round, until } from '../stats';

/** A broker the phase can fill and read: one per source kind. */
export interface IngestionBroker {
  readonly kind: string;
  /** Loads `n` messages on topic `topic`, ids `<prefix>-<i>`, and answers a source that reads them. */
  load(n: number, topic: string, prefix: string): Promise<{ source: () => Promise<Source> }>;
  /** Removes what `load` made (streams, queues, tables). */
  close(): Promise<void>;
}

export interface IngestionRun {
  /** `memory` is `publishMany` of the same messages from an array. */
  source: string;
  n: number;
  /** First message taken to the last start acknowledged (memory: `publishMany` resolved). */
  startedPerSecond: number;
  /** First message taken to the last workflow's close time (from visibility). */
  completedPerSecond: number;
  /** Against the memory run of the same phase; 1 for the memory run itself. */
  ratioStarted: number;
  ratioCompleted: number;
  /** Starts that were refused and given back to the broker (each came back and started later). */
  retried: number;
}

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

async function completed(ctx: BenchContext, taskQueue: string, n: number): Promise<number> {
  const done = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`;
  await until(
    `${n} ingested workflows to complete`,
    async () => (await countWhere(ctx.client, done)) >= n,
    15 * 60_000,
    250,
  );
  return lastClose(ctx.client, taskQueue);
}

async function runOne(
  ctx: BenchContext,
  label: string,
  n: number,
  ingest: (taskQueue: string, prefix: string) => Promise<{ t0: number; startedAt: number; retried: number }>,
): Promise<Omit<IngestionRun, 'ratioStarted' | 'ratioCompleted'>> {
  const prefix = `${ctx.runId}-ingest-${label}-${randomUUID().slice(0, 6)}`;
  const taskQueue = `bench-ingest-${label}-${ctx.runId}`;
  const worker = await startWorker(ctx, 'dlq', taskQueue);
  try {
    const { t0, startedAt, retried } = await ingest(taskQueue, prefix);
    const closedAt = await completed(ctx, taskQueue, n);
    return {
      source: label,
      n,
      startedPerSecond: round(n / ((startedAt - t0) / 1000), 1),
      completedPerSecond: round(n / ((closedAt - t0) / 1000), 1),
      retried,
    };
  } finally {
    await worker.stop();
  }
}

/** The memory baseline, then each broker's source, on N messages each. */
export async function runIngestion(
  ctx: BenchContext,
  brokers: readonly IngestionBroker[],
  n: number,
): Promise<IngestionRun[]> {
  const concurrency = ctx.options.publishConcurrency;
  const runs: Array<Omit<IngestionRun, 'ratioStarted' | 'ratioCompleted'>> = [];
  ctx.log(`ingestion: publishMany from memory, ${n} messages`);
  runs.push(
    await runOne(ctx, 'memory', n, async (taskQueue, prefix) => {
      const inputs = Array.from({ length: n }, (_, i) => ({
        id: `${prefix}-${i}`,
        topic: TOPIC_OK,
        payload: { i },
      }));
      const t0 = Date.now();
      const results = await publishMany(ctx.client, inputs, { taskQueue, concurrency });
      const failed = results.filter((r) => !r.ok).length;
      if (failed) throw new Error(`bench: ${failed} of ${n} publishes failed in the memory baseline`);
      return { t0, startedAt: Date.now(), retried: 0 };
    }),
  );
  for (const broker of brokers) {
    ctx.log(`ingestion: ${broker.kind} source, ${n} messages (loading the broker first)`);
    runs.push(
      await runOne(ctx, broker.kind, n, async (taskQueue, prefix) => {
        const loaded = await broker.load(n, TOPIC_OK, prefix);
        const source = await loaded.source();
        const stop = new AbortController();
        let settled = 0;
        let retried = 0;
        let startedAt = 0;
        const t0 = Date.now();
        const run = runSource(ctx.client, source, {
          taskQueue,
          maxInFlight: concurrency,
          signal: stop.signal,
          onSettled: (outcome) => {
            if (outcome === 'retry-later') retried++;
            else if (++settled === n) {
              startedAt = Date.now();
              stop.abort();
            }
          },
        });
        try {
          const counts = await run;
          if (counts.started + counts.duplicate < n)
            throw new Error(`bench: the ${broker.kind} source started ${counts.started} of ${n}`);
        } finally {
          await source.close();
        }
        return { t0, startedAt, retried };
      }),
    );
  }
  const memory = runs[0]!;
  return runs.map((r) => ({
    ...r,
    ratioStarted: round(r.startedPerSecond / memory.startedPerSecond, 3),
    ratioCompleted: round(r.completedPerSecond / memory.completedPerSecond, 3),
  }));
}
