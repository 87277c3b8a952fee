/** Starts and stops `temporal server start-dev` as a child process, on given or free ports. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES } from '../contract/search-attributes';

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
  /**
   * Where the server's own logs go. With `'ignore'` its output is dropped, except the end of its error output,
   * which the error names when it exits before answering. @defaultValue `'ignore'`
   */
  stdio?: 'ignore' | 'inherit';
}

/** A running dev server. */
export interface DevServer {
  /** Frontend `host:port`: the `TEMPORAL_ADDRESS` of everything that talks to it. */
  address: string;
  port: number;
  uiPort: number | undefined;
  uiUrl: string | undefined;
  process: ChildProcess;
  /** Settles with its exit code (`null` after a signal) when the dev server process ends, for whatever reason. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const CLI_TYPE: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' };

/** A port the dev server needs is held by another process: nothing was started. */
export class PortInUseError extends Error {
  constructor(
    /** The interface the dev server listens on. */
    readonly host: string,
    readonly port: number,
    /** What the port is for: `frontend` or `Web UI`. */
    readonly use: 'frontend' | 'Web UI',
  ) {
    super(`${host}:${port}, the dev server's ${use} port, is already in use by another process`);
    this.name = 'PortInUseError';
  }
}

/**
 * Resolves when `host:port` can be listened on; rejects with `PortInUseError` when another process holds it
 * (on that address or on every interface). Without this check the dev server's own bind failure races with
 * the readiness probe, which a server already on the port answers.
 */
export async function checkPortFree(
  port: number,
  use: PortInUseError['use'],
  host = '127.0.0.1',
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(host, port, use) : err),
    );
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

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

/**
 * Starts the dev server and waits until its frontend answers. Throws `PortInUseError`, starting nothing, when
 * its frontend or Web UI port is taken, and an error with the end of its output when it exits before answering.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort === false ? undefined : (options.uiPort ?? (await freePort()));
  await checkPortFree(port, 'frontend');
  if (uiPort !== undefined) await checkPortFree(uiPort, 'Web UI');
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
  const inherit = options.stdio === 'inherit';
  const child = spawn(options.cliPath, args, {
    stdio: ['ignore', inherit ? 'inherit' : 'ignore', inherit ? 'inherit' : 'pipe'],
  });
  // The end of its error output (always drained), for the error when it exits before answering.
  let errorTail = '';
  child.stderr?.on('data', (chunk: Buffer) => (errorTail = (errorTail + chunk.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  // An answer counts only while the child runs: another server on the port would answer too.
  while (!(await serverAnswers(address, 1000)) || exitCode !== undefined) {
    if (exitCode !== undefined)
      throw new Error(
        `temporal server start-dev exited with code ${exitCode}: ${args.join(' ')}${errorTail ? `\n${errorTail.trim()}` : ''}`,
      );
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
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
