/** The node flags and environment the worker process needs for bounded memory, and a check that it got them. */
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

/**
 * Environment of the worker process. glibc gives each thread that allocates (the Rust core's runtime threads,
 * the workflow thread) its own malloc arena, up to eight per core, and memory freed in one arena is not
 * reused by another; two arenas measured about 25 MiB less peak RSS at 4000 parked (one run each). glibc reads it at process
 * start, so it is set where the process is started (the same places as the flags); other C libraries ignore it.
 */
export const WORKER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** What this process lacks of `WORKER_NODE_FLAGS` and `WORKER_ENV`, as `--flag` and `NAME=value` items. */
export function missingWorkerSettings(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  return [
    ...WORKER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag)),
    ...Object.entries(WORKER_ENV)
      .filter(([name, value]) => env[name] !== value)
      .map(([name, value]) => `${name}=${value}`),
  ];
}

/** Logs a warning naming the settings this process lacks, and what that costs. Used by the worker entrypoints. */
export function warnOnMissingWorkerSettings(logger: Pick<Logger, 'warn'>): void {
  const missing = missingWorkerSettings();
  if (missing.length === 0) return;
  logger.warn(
    { missing },
    'the worker was started without its memory settings; it will hold far more memory than it uses (see docs/performance.md)',
  );
}
