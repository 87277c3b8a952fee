/** Starts and stops `temporal server start-dev` as a child process, on given or free ports. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES } from './shared/search-attributes';

/** Options of `startDevServer`. */
export interface DevServerOptions {
  /** Path of the Temporal CLI binary. */
  cliPath: string;
  /** Frontend port. @defaultValue a free port */
  port?: number;
  /** Web UI port; `false` for no UI. @defaultValue a free port */
  uiPort?: number | false;
  /** SQLite file for persistence. @defaultValue in-memory */
  dbFilename?: string;
  /** Extra flags, e.g. `--dynamic-config-value k=v` or `--ui-codec-endpoint`. @defaultValue `[]` */
  extraArgs?: string[];
  /** Where the server's own logs go. @defaultValue ignored */
  stdio?: 'ignore' | 'inherit';
}

export interface DevServer {
  address: string;
  port: number;
  uiPort: number | undefined;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

const CLI_TYPE: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' };

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when a Temporal frontend answers at `address`. */
export async function serverAnswers(address: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

/** Starts the dev server and waits until its frontend answers. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort()));
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'error',
    '--log-format',
    'json',
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1']),
    ...(options.dbFilename ? ['--db-filename', options.dbFilename] : []),
    // Registered again through the operator service at set-up; this flag only helps a fresh database.
    ...ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${CLI_TYPE[k.type]}`]),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(options.cliPath, args, {
    stdio: ['ignore', options.stdio ?? 'ignore', options.stdio ?? 'ignore'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (!(await serverAnswers(address, 1000))) {
    if (exitCode !== undefined)
      throw new Error(`temporal server start-dev exited with code ${exitCode}: ${args.join(' ')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal server start-dev did not answer on ${address} within 60s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    address,
    port,
    uiPort,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
