/** What every bench phase shares. */
import { isGrpcServiceError } from '@temporalio/client';
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
  /** The server's pid, for its CPU time. */
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
  source?: WorkerProcessOptions['source'],
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
    ...(source ? { source } : {}),
  });
}

const GRPC_RESOURCE_EXHAUSTED = 8;

/** True when `err` or one of its causes is a gRPC RESOURCE_EXHAUSTED answer (by code, never by text). */
export function isResourceExhausted(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if (isGrpcServiceError(e) && Number(e.code) === GRPC_RESOURCE_EXHAUSTED) return true;
  return false;
}

/**
 * Runs a visibility call, again after a second each time the server's rate limit refuses it (a stock
 * server allows 10 visibility calls/s per namespace; the dev server 100).
 */
export async function withinVisibilityBudget<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isResourceExhausted(err)) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Visibility count (eventually consistent). */
export async function countWhere(client: Client, query: string): Promise<number> {
  return withinVisibilityBudget(async () => (await client.workflow.count(query)).count);
}
