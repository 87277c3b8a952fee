/** What every bench phase shares. */
import type { Client, Connection } from '@temporalio/client';
import type { BenchOptions } from './options';
import type { CountingClient } from './counting-client';
import { startWorkerProcess } from './worker-process';
import type { WorkerProcess, WorkerProcessOptions } from './worker-process';

export interface BenchContext {
  options: BenchOptions;
  /** Unique per run: prefixes ids and task queues. */
  runId: string;
  address: string;
  /** The dev server's pid, for its CPU time. */
  serverPid: number;
  connection: Connection;
  client: Client;
  counting: CountingClient;
  bundles: { dlq: string; baseline: string };
  /** `worker-child.js` compiled to JavaScript, run by plain node as in production. */
  workerChildScript: string;
  log(text: string): void;
}

/** Starts a worker child with the run's settings; `stop()` it when done. */
export function startWorker(
  ctx: BenchContext,
  mode: WorkerProcessOptions['mode'],
  taskQueue: string,
  cpuProfileDir?: string,
): Promise<WorkerProcess> {
  return startWorkerProcess({
    mode,
    script: ctx.workerChildScript,
    address: ctx.address,
    taskQueue,
    bundlePath: mode === 'dlq' ? ctx.bundles.dlq : ctx.bundles.baseline,
    maxCached: ctx.options.maxCached,
    tuning: ctx.options.workerOptions,
    nodeOptions: ctx.options.workerNodeOptions,
    env: ctx.options.workerEnv,
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
  });
}

/** Visibility count (eventually consistent). */
export async function countWhere(client: Client, query: string): Promise<number> {
  return (await client.workflow.count(query)).count;
}
