/** Parent side of a worker child: spawn, wait until ready, ask for memory, stop. */
import { fork, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { toParentSchema } from './ipc';
import type { ChildEnv, ChildSource, Memory, ToChild, ToParent, WorkerTuning } from './ipc';

export interface WorkerProcessOptions {
  mode: ChildEnv['BENCH_MODE'];
  /** The compiled worker child (see `compileWorkerChild`). */
  script: string;
  address: string;
  taskQueue: string;
  bundlePath: string;
  maxCached: number;
  tuning: WorkerTuning;
  /** Extra node flags of the child. @defaultValue `[]` */
  nodeOptions?: string[];
  /** Extra environment of the child. @defaultValue `{}` */
  env?: Record<string, string>;
  /** Write V8 CPU profiles (every thread) into this directory. @defaultValue no profiling */
  cpuProfileDir?: string;
  /** A source the worker runs (`createWorker({ sources })`, mode `dlq` only). @defaultValue none */
  source?: ChildSource;
}

export interface WorkerProcess {
  pid: number;
  memory(): Promise<Memory>;
  /** With `source`: resolves when the child's source settled every message. */
  ingested(): Promise<Extract<ToParent, { type: 'ingested' }>>;
  /** Graceful shutdown; SIGKILL after 30 s. */
  stop(): Promise<void>;
}

/**
 * Compiles the worker child and what it imports (the project's settings, nothing else: a test file being
 * edited elsewhere cannot stop the bench) with tsc into `outDir` and returns the child's script, so the
 * worker runs as plain JavaScript on node, as in production: under tsx its RSS would include the loader.
 */
export function compileWorkerChild(outDir: string): string {
  const root = join(__dirname, '..');
  mkdirSync(outDir, { recursive: true });
  const tsconfig = join(outDir, 'tsconfig.worker-child.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      // Type packages are looked up beside the tsconfig; this one lives outside the project.
      compilerOptions: { outDir, rootDir: root, typeRoots: [join(root, 'node_modules', '@types')] },
      // workflows/: src/worker/bundle-path.ts resolves the entry and the tracing interceptors when loaded (the bundle itself is built beforehand).
      files: [
        join(root, 'bench', 'worker-child.ts'),
        join(root, 'workflows', 'index.ts'),
        join(root, 'workflows', 'tracing-interceptors.ts'),
      ],
      include: [],
    }),
  );
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig], {
    cwd: root,
    encoding: 'utf8',
  });
  if (tsc.status !== 0)
    throw new Error(`bench: compiling the worker child failed:\n${tsc.stdout}${tsc.stderr}`);
  return join(outDir, 'bench', 'worker-child.js');
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const env: ChildEnv = {
    BENCH_MODE: options.mode,
    BENCH_ADDRESS: options.address,
    BENCH_TASK_QUEUE: options.taskQueue,
    BENCH_BUNDLE: options.bundlePath,
    BENCH_MAX_CACHED: String(options.maxCached),
    BENCH_WORKER_OPTIONS: JSON.stringify(options.tuning),
    ...(options.source ? { BENCH_SOURCE: JSON.stringify(options.source) } : {}),
  };
  const child: ChildProcess = fork(options.script, [], {
    execArgv: [
      ...(options.nodeOptions ?? []),
      ...(options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : []),
    ],
    // The compiled child lives outside the project; it resolves packages from the project's node_modules.
    env: { ...process.env, ...options.env, ...env, NODE_PATH: join(__dirname, '..', 'node_modules') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiters: Array<(m: ToParent) => boolean> = [];
  let lastError: string | undefined;
  child.on('message', (raw: unknown) => {
    const parsed = toParentSchema.safeParse(raw);
    if (!parsed.success) return;
    if (parsed.data.type === 'error') lastError = parsed.data.message;
    const i = waiters.findIndex((w) => w(parsed.data));
    if (i >= 0) waiters.splice(i, 1);
  });
  const next = <T extends ToParent['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<ToParent, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker child: no ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`worker child exited before ${type}${lastError ? `: ${lastError}` : ''}`));
      });
      waiters.push((m) => {
        if (m.type !== type) return false;
        clearTimeout(timer);
        resolve(m as Extract<ToParent, { type: T }>);
        return true;
      });
    });
  const post = (message: ToChild) => child.send(message);
  // Registered before the child runs, so an early report is not missed.
  const ingested = options.source ? next('ingested', 15 * 60_000) : undefined;
  ingested?.catch(() => undefined);
  await next('ready', 120_000);
  return {
    pid: child.pid ?? -1,
    ingested() {
      if (!ingested) throw new Error('worker child: started without a source');
      return ingested;
    },
    async memory() {
      const reply = next('memory', 10_000);
      post({ type: 'memory' });
      return (await reply).memory;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      post({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
