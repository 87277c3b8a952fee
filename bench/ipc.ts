/** Messages between the bench (parent) and a worker child process. */
import { z } from 'zod';
import type { SourceSpec } from './brokers/spec';

/** Parent → child. */
export const toChildSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('memory') }),
  z.object({ type: z.literal('stop') }),
]);
export type ToChild = z.infer<typeof toChildSchema>;

/** Memory of the child, in bytes. `peakRss` is the kernel's high-water mark (VmHWM) when available. */
export const memorySchema = z.object({
  rss: z.number(),
  peakRss: z.number(),
  sampledPeakRss: z.number(),
  heapUsed: z.number(),
  /** Main thread: V8 heap reserved, and memory outside the heap (buffers) that V8 knows of. */
  heapTotal: z.number(),
  external: z.number(),
  /** The workflow thread(s): V8 heap used and reserved, summed (from the diagnostic report). */
  workflowHeapUsed: z.number(),
  workflowHeapTotal: z.number(),
});
export type Memory = z.infer<typeof memorySchema>;

/** Child → parent. */
export const toParentSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('memory'), memory: memorySchema }),
  z.object({ type: z.literal('error'), message: z.string() }),
  /** The child's sources started every message (Unix ms: when `run()` began, when the last one settled). */
  z.object({
    type: z.literal('ingested'),
    t0: z.number(),
    startedAt: z.number(),
    eagerlyStarted: z.number(),
    retried: z.number(),
  }),
]);
export type ToParent = z.infer<typeof toParentSchema>;

/** What the child is told through its environment. */
export const childEnvSchema = z.object({
  BENCH_MODE: z.enum(['dlq', 'baseline']),
  BENCH_ADDRESS: z.string().min(1),
  BENCH_TASK_QUEUE: z.string().min(1),
  BENCH_BUNDLE: z.string().min(1),
  BENCH_MAX_CACHED: z.string().regex(/^\d+$/),
  /** JSON of extra `WorkerOptions` given to both workers (tuning experiments). */
  BENCH_WORKER_OPTIONS: z.string().default('{}'),
  /** JSON of a {@link ChildSource}: the worker runs that source (`createWorker({ sources })`). */
  BENCH_SOURCE: z.string().optional(),
});

/** A source the child runs inside its worker, and when to report. */
export interface ChildSource {
  spec: SourceSpec;
  eagerStart: boolean;
  maxInFlight: number;
  /** Messages after which the child reports `ingested`. */
  n: number;
}
export type ChildEnv = z.infer<typeof childEnvSchema>;

/** Worker tuning that may be passed to both workers: plain numbers only. */
export const workerTuningSchema = z
  .object({
    maxConcurrentWorkflowTaskExecutions: z.number().int().positive(),
    maxConcurrentActivityTaskExecutions: z.number().int().positive(),
    maxConcurrentLocalActivityExecutions: z.number().int().positive(),
    maxConcurrentWorkflowTaskPolls: z.number().int().positive(),
    maxConcurrentActivityTaskPolls: z.number().int().positive(),
    nonStickyToStickyPollRatio: z.number().positive(),
  })
  .partial()
  .strict();
export type WorkerTuning = z.infer<typeof workerTuningSchema>;
