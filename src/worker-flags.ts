/** The node flags the worker process needs, and a check that it got them. */
import type { Logger } from 'pino';

/**
 * The V8 flags the worker process runs with. They bound how far V8 lets its heaps (the main thread's and the
 * workflow thread's) grow past what is live before it collects: by default the young generation grows to
 * 16 MiB semi-spaces and the old generation up to four times its live size, which a burst of parked messages
 * turns into hundreds of MiB of uncollected garbage. See docs/performance.md → Worker memory.
 *
 * They must be given on node's command line: V8 reads the young-generation size when a heap is created, and
 * node refuses `--heap-growing-percent` in NODE_OPTIONS. `npm start`, `npm run worker` and the Docker image
 * pass them (test/worker-flags.test.ts checks that they do); a process that embeds `createWorker` should too.
 */
export const WORKER_NODE_FLAGS: readonly string[] = [
  // Young generation: 2 MiB semi-spaces instead of 16 MiB, per heap.
  '--max-semi-space-size=2',
  // Old generation: collect when it is 30 % above what the last collection kept (V8's default: up to 300 %).
  '--heap-growing-percent=30',
];

/** The flags of `WORKER_NODE_FLAGS` that `execArgv` (this process's node flags by default) lacks. */
export function missingWorkerNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return WORKER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}

/** Logs a warning naming the flags this process lacks, and what that costs. Used by the worker entrypoints. */
export function warnOnMissingNodeFlags(logger: Pick<Logger, 'warn'>): void {
  const missing = missingWorkerNodeFlags();
  if (missing.length === 0) return;
  logger.warn(
    { missing, expected: WORKER_NODE_FLAGS },
    'node was started without the worker memory flags; the worker will hold far more memory than it uses (see docs/performance.md)',
  );
}
