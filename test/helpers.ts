/** Test helpers: a client and workers on the suite's real dev server, each test file on its own task queue. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { createWorker } from '../src/worker/create-worker';
import type { AnyHandler } from '../src/worker/handlers';
import { loadConfig } from '../src/config';
import type { Config } from '../src/config';
import { stateQuery } from '../src/contract/definitions';
import type { MessageState } from '../src/contract/types';

export const silentLogger = pino({ level: 'silent' });

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run the suite with \`npm test\` (test/run-suite.ts starts the server)`,
    );
  return value;
}

let runtimeReady = false;
function quietRuntime(): void {
  if (runtimeReady) return;
  runtimeReady = true;
  const noop = (): void => undefined;
  try {
    Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop } });
  } catch (err) {
    // A test file that installed its own Runtime first (test/metrics.test.ts: with the metrics exporter).
    if ((err as Error).name !== 'IllegalStateError') throw err;
  }
}

export interface TestEnv {
  address: string;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  taskQueue: string;
  config: Config;
  /** Starts a worker with these handlers; returns a stop function. */
  startWorker(
    handlers: AnyHandler[],
    env?: Record<string, string>,
    extra?: Partial<Parameters<typeof createWorker>[0]>,
  ): Promise<{ worker: Worker; stop: () => Promise<void> }>;
  close(): Promise<void>;
}

export async function openTestEnv(address = requireEnv('TEMPORAL_ADDRESS')): Promise<TestEnv> {
  quietRuntime();
  const taskQueue = `test-${randomUUID()}`;
  const baseEnv = { TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'silent' };
  const config = loadConfig(baseEnv);
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const workers: Array<() => Promise<void>> = [];
  return {
    address,
    client,
    connection,
    nativeConnection,
    taskQueue,
    config,
    async startWorker(handlers, env = {}, extra = {}) {
      const worker = await createWorker({
        handlers,
        config: loadConfig({ ...baseEnv, ...env }),
        logger: silentLogger,
        connection: nativeConnection,
        installRuntimeLogger: false,
        workflowBundlePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE'),
        ...extra,
        // Teardown does not wait for stages a test leaves running (createWorker's default grace is the
        // longest stage timeout; test/rolling-restart.test.ts runs workers with that default).
        workerOptions: { shutdownGraceTime: 0, ...extra.workerOptions },
      });
      const running = worker.run();
      // A run that fails before stop() (a source the broker stopped) is reported by stop(), not as unhandled.
      running.catch(() => undefined);
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        worker.shutdown();
        await running;
      };
      workers.push(stop);
      return { worker, stop };
    },
    async close() {
      for (const stop of workers.reverse()) await stop();
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** Polls `probe` until it returns a defined value, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the message workflow's `state` query reports `status`. */
export async function waitForStatus(
  client: Client,
  workflowId: string,
  status: MessageState['status'],
  timeoutMs = 30_000,
): Promise<MessageState> {
  return waitFor(
    `${workflowId} to be ${status}`,
    async () => {
      const state = await client.workflow.getHandle(workflowId).query(stateQuery);
      return state.status === status ? state : undefined;
    },
    timeoutMs,
  );
}

export const uid = (): string => randomUUID().slice(0, 8);

/**
 * Saves a workflow's history under test/histories/ for the replay suite, only when
 * DLQ_RECORD_HISTORIES=1 (`npm run histories:record` after a deliberate workflow change).
 * Uses `temporal workflow show --output json`, the format `historyFromJSON` reads.
 */
export async function recordHistory(
  client: Client,
  workflowId: string,
  name: string,
  runId?: string,
): Promise<void> {
  if (process.env.DLQ_RECORD_HISTORIES !== '1') return;
  const address = (client.connection as Connection).options.address;
  const json = execFileSync(
    requireEnv('DLQ_TEST_TEMPORAL_CLI'),
    [
      'workflow',
      'show',
      '--address',
      address,
      '-w',
      workflowId,
      ...(runId ? ['-r', runId] : []),
      '--output',
      'json',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const dir = join(__dirname, 'histories');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}.json`), json);
}

/** Runs the `dlq` CLI in-process with this environment, capturing its output; for CLI assertions. */
export async function runCliCaptured(
  cliEnv: Record<string, string>,
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  const { createCliContext } = await import('../src/cli/context');
  const { runCli } = await import('../src/cli/main');
  let out = '';
  let err = '';
  const ctx = {
    ...createCliContext({ LOG_LEVEL: 'silent', ...cliEnv }),
    print: (t: string) => void (out += `${t}\n`),
    json: (v: unknown) => void (out += `${JSON.stringify(v)}\n`),
    warn: (t: string) => void (err += `${t}\n`),
    isTty: false,
  };
  const code = await runCli(argv, ctx);
  return { code, out, err };
}
