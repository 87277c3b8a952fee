/**
 * Happy path against the baseline: the same N through `publishMany` + the real worker, and through a bare
 * workflow with one no-op activity, on the same server with the same worker settings. Throughput runs from
 * the first publish to the last close time (read from visibility afterwards, so no polling skews it).
 */
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { publishMany } from '../../src/client/publish';
import { BASELINE_WORKFLOW } from '../baseline-activities';
import { TOPIC_OK } from '../handlers';
import { countWhere, startWorker, withinVisibilityBudget } from '../context';
import type { BenchContext } from '../context';
import { mapLimit, percentile, round, until } from '../stats';

export interface ThroughputRun {
  mode: 'dlq' | 'baseline';
  round: number;
  n: number;
  failedPublishes: number;
  seconds: number;
  perSecond: number;
  /** Start to close of each workflow, from visibility. */
  latencyMs: { p50: number; p95: number };
  /** CPU time per message of the Temporal server and of the worker child (all threads), from /proc. */
  cpuMsPerMessage: { server: number; worker: number };
  /** Workflow ids of a few runs, for the history comparison. */
  sampleIds: string[];
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;

function closeTimes(client: Client, taskQueue: string) {
  return withinVisibilityBudget(async () => {
    const rows: Array<{ start: number; close: number; workflowId: string }> = [];
    for await (const info of client.workflow.list({
      query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`,
      pageSize: 1000,
    })) {
      if (info.closeTime)
        rows.push({
          start: info.startTime.getTime(),
          close: info.closeTime.getTime(),
          workflowId: info.workflowId,
        });
    }
    return rows;
  });
}

/** One round of one mode, on a fresh worker child and task queue. */
export async function runThroughput(
  ctx: BenchContext,
  mode: 'dlq' | 'baseline',
  round_: number,
  n: number,
  cpuProfileDir?: string,
): Promise<ThroughputRun> {
  const taskQueue = `bench-${mode}-${ctx.runId}-${round_}${cpuProfileDir ? '-prof' : ''}`;
  const worker = await startWorker(ctx, mode, taskQueue, cpuProfileDir);
  try {
    const concurrency = ctx.options.publishConcurrency;
    const ids = Array.from({ length: n }, (_, i) => `${ctx.runId}-${round_}-${i}${cpuProfileDir ? 'p' : ''}`);
    const cpu0 = { server: processCpuSeconds(ctx.serverPid), worker: processCpuSeconds(worker.pid) };
    const t0 = Date.now();
    let failedPublishes = 0;
    if (mode === 'dlq') {
      const results = await publishMany(
        ctx.client,
        ids.map((id, i) => ({ id, topic: TOPIC_OK, payload: { i } })),
        { taskQueue, concurrency },
      );
      failedPublishes = results.filter((r) => !r.ok).length;
    } else {
      await mapLimit(ids, concurrency, async (id) => {
        try {
          await ctx.client.workflow.start(BASELINE_WORKFLOW, {
            workflowId: `base-${id}`,
            taskQueue,
            args: [id],
          });
        } catch {
          failedPublishes += 1;
        }
      });
    }
    const done = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`;
    await until(
      `${n} ${mode} workflows to complete`,
      async () => (await countWhere(ctx.client, done)) >= n - failedPublishes,
      15 * 60_000,
      250,
    );
    const cpuMs = (pid: number, before: number) => round(((processCpuSeconds(pid) - before) * 1000) / n, 2);
    const cpuMsPerMessage = {
      server: cpuMs(ctx.serverPid, cpu0.server),
      worker: cpuMs(worker.pid, cpu0.worker),
    };
    const rows = await closeTimes(ctx.client, taskQueue);
    const last = Math.max(...rows.map((r) => r.close));
    const seconds = (last - t0) / 1000;
    const latencies = rows.map((r) => r.close - r.start);
    return {
      mode,
      round: round_,
      n,
      failedPublishes,
      seconds: round(seconds, 2),
      perSecond: round(rows.length / seconds, 1),
      latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) },
      cpuMsPerMessage,
      sampleIds: rows.slice(0, 10).map((r) => r.workflowId),
    };
  } finally {
    await worker.stop();
  }
}

/** History events per workflow (mean of the sampled ids). */
export async function historyEvents(client: Client, workflowIds: readonly string[]): Promise<number> {
  const lengths = await mapLimit(
    workflowIds,
    4,
    async (id) => (await client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0,
  );
  return lengths.length ? round(lengths.reduce((a, b) => a + b, 0) / lengths.length, 1) : NaN;
}
