/**
 * A worker in its own process, so its memory can be measured and its CPU profiled (`--cpu-prof`).
 * Mode `dlq` runs the real `createWorker` with the bench handlers; mode `baseline` runs the bare
 * workflow with the same worker settings. Talks to the parent over IPC (see ./ipc.ts).
 */
import { readFileSync } from 'node:fs';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createWorker } from '../src/worker/create-worker';
import { loadConfig } from '../src/config';
import { benchHandlers } from './handlers';
import { createBaselineActivities } from './baseline-activities';
import { childEnvSchema, toChildSchema, workerTuningSchema } from './ipc';
import type { ChildSource, Memory, ToParent } from './ipc';
import { openSource } from './brokers/spec';

const send = (message: ToParent): void => {
  process.send?.(message);
};

function kernelPeakRss(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

let sampledPeak = 0;
const sample = (): number => {
  const rss = process.memoryUsage.rss();
  sampledPeak = Math.max(sampledPeak, rss);
  return rss;
};

interface ThreadHeap {
  javascriptHeap?: { totalMemory?: number; usedMemory?: number };
}

/** The workflow threads' V8 heaps: the diagnostic report holds one sub-report per worker thread. */
function workflowThreadHeaps(): { used: number; total: number } {
  const report = process.report.getReport() as { workers?: ThreadHeap[] };
  let used = 0;
  let total = 0;
  for (const worker of report.workers ?? []) {
    used += worker.javascriptHeap?.usedMemory ?? 0;
    total += worker.javascriptHeap?.totalMemory ?? 0;
  }
  return { used, total };
}

function memory(): Memory {
  const rss = sample();
  const usage = process.memoryUsage();
  const workflowHeap = workflowThreadHeaps();
  return {
    rss,
    peakRss: kernelPeakRss() ?? sampledPeak,
    sampledPeakRss: sampledPeak,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    workflowHeapUsed: workflowHeap.used,
    workflowHeapTotal: workflowHeap.total,
  };
}

async function main(): Promise<void> {
  const env = childEnvSchema.parse(process.env);
  const tuning = workerTuningSchema.parse(JSON.parse(env.BENCH_WORKER_OPTIONS));
  const noop = (): void => undefined;
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop } });
  const connection = await NativeConnection.connect({ address: env.BENCH_ADDRESS });
  const maxCachedWorkflows = Number(env.BENCH_MAX_CACHED);
  // Ingestion inside the worker: one source, counted until every message settled.
  const ingest = env.BENCH_SOURCE ? (JSON.parse(env.BENCH_SOURCE) as ChildSource) : undefined;
  const source = ingest ? await openSource(ingest.spec) : undefined;
  const counts = { t0: 0, settled: 0, eagerlyStarted: 0, retried: 0 };
  const worker =
    env.BENCH_MODE === 'dlq'
      ? await createWorker({
          handlers: benchHandlers,
          config: loadConfig({
            TEMPORAL_ADDRESS: env.BENCH_ADDRESS,
            TEMPORAL_TASK_QUEUE: env.BENCH_TASK_QUEUE,
            LOG_LEVEL: 'silent',
            DLQ_MAX_CACHED_WORKFLOWS: String(maxCachedWorkflows),
          }),
          logger: pino({ level: 'silent' }),
          connection,
          installRuntimeLogger: false,
          workflowBundlePath: env.BENCH_BUNDLE,
          workerOptions: tuning,
          ...(ingest && source
            ? {
                sources: [source],
                eagerStart: ingest.eagerStart,
                sourceOptions: {
                  maxInFlight: ingest.maxInFlight,
                  onSettled: (outcome, _message, details) => {
                    if (outcome === 'retry-later') return void counts.retried++;
                    if (details.eagerlyStarted) counts.eagerlyStarted++;
                    if (++counts.settled === ingest.n)
                      send({
                        type: 'ingested',
                        t0: counts.t0,
                        startedAt: Date.now(),
                        eagerlyStarted: counts.eagerlyStarted,
                        retried: counts.retried,
                      });
                  },
                },
              }
            : {}),
        })
      : await Worker.create({
          connection,
          namespace: 'default',
          taskQueue: env.BENCH_TASK_QUEUE,
          workflowBundle: { codePath: env.BENCH_BUNDLE },
          activities: createBaselineActivities(),
          maxCachedWorkflows,
          ...tuning,
        });
  const timer = setInterval(sample, 100);
  counts.t0 = Date.now();
  const running = worker.run();
  process.on('message', (raw: unknown) => {
    const message = toChildSchema.parse(raw);
    if (message.type === 'memory') send({ type: 'memory', memory: memory() });
    else worker.shutdown();
  });
  // The parent owns this process; if it goes away, stop.
  process.on('disconnect', () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  });
  send({ type: 'ready' });
  await running;
  clearInterval(timer);
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  },
);
