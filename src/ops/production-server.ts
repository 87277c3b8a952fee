/**
 * Starts and stops a production-shaped Temporal server for tests and benchmarks: server 1.29.1 (the
 * version the pinned CLI embeds) with PostgreSQL persistence and PostgreSQL visibility, its stock dynamic
 * config, one history shard and small connection pools, on free ports, without Docker.
 *
 * It lives in src/ beside `dev-server.ts`, not under test/, because the test suite's production tier
 * (test/run-suite.ts) and the benchmark's PostgreSQL mode share it; the library itself never imports it.
 *
 * Each start creates two fresh databases with unique names (persistence and visibility) with the SQL
 * tool and the schemas built into it, writes a config directory, starts `server … start` with its log in
 * a file, waits until the frontend answers, and registers the namespace. `stop()` stops the server
 * (SIGTERM, then SIGKILL) and drops both databases; a failed start cleans up the same way, and so does
 * the process's exit if `stop()` was never called.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { serverAnswers } from './dev-server';
import type { TemporalServerBinaries } from './temporal-server';

/** Where PostgreSQL is and who to be there (libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD). */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
}

/** The PostgreSQL to use: PGHOST, PGPORT, PGUSER and PGPASSWORD, else 127.0.0.1:5432 as `postgres`. */
export function postgresFromEnv(env: NodeJS.ProcessEnv = process.env): PostgresTarget {
  return {
    host: env.PGHOST && !env.PGHOST.startsWith('/') ? env.PGHOST : '127.0.0.1',
    port: Number(env.PGPORT) || 5432,
    user: env.PGUSER || 'postgres',
    ...(env.PGPASSWORD ? { password: env.PGPASSWORD } : {}),
  };
}

const describeTarget = (pg: PostgresTarget): string => `${pg.user}@${pg.host}:${pg.port}`;

/**
 * Whether PostgreSQL answers at `pg`: a TCP connection and a protocol 3.0 startup message as `pg.user`
 * on database `postgres` (no client library needed). Returns undefined when it answers (it accepts the
 * user, or asks for a password and one is set), else why not, in one sentence.
 */
export async function checkPostgres(pg: PostgresTarget, timeoutMs = 3000): Promise<string | undefined> {
  const where = describeTarget(pg);
  return new Promise((resolve) => {
    const socket = connect({ host: pg.host, port: pg.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const done = (reason: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Terminate ('X'), then close.
      if (socket.writable) socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(
      () => done(`no PostgreSQL answer from ${where} within ${timeoutMs} ms`),
      timeoutMs,
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      done(`no PostgreSQL at ${where} (${err.code ?? err.message})`),
    );
    socket.on('connect', () => {
      const params = Buffer.from(`user\0${pg.user}\0database\0postgres\0\0`);
      const head = Buffer.alloc(8);
      head.writeInt32BE(8 + params.length, 0);
      head.writeInt32BE(196_608, 4); // protocol 3.0
      socket.write(Buffer.concat([head, params]));
    });
    // Reads messages until ReadyForQuery ('Z', the session is usable) or an error ('E'): with trust
    // authentication a role that does not exist is refused only after AuthenticationOk.
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 5) {
        const type = String.fromCharCode(received[0]!);
        const length = received.readInt32BE(1);
        if (!'RESKNZ'.includes(type) || length < 4 || length > 65_536)
          return done(`something at ${where} answered, but not as PostgreSQL does`);
        if (received.length < 1 + length) return;
        const body = received.subarray(5, 1 + length);
        received = received.subarray(1 + length);
        if (type === 'Z') return done(undefined);
        if (type === 'R') {
          const auth = body.readInt32BE(0);
          if (auth === 0) continue;
          // A password is asked: the SQL tool and the server will give PGPASSWORD.
          if (pg.password) return done(undefined);
          return done(
            `PostgreSQL at ${where} asks for a password (authentication type ${auth}) and PGPASSWORD is not set`,
          );
        }
        if (type === 'E') {
          // Error fields: a type byte and a NUL-terminated string each; 'M' is the message.
          const message =
            body
              .toString()
              .split('\0')
              .find((f) => f.startsWith('M'))
              ?.slice(1) ?? 'error';
          return done(`PostgreSQL at ${where} refused the connection: ${message}`);
        }
      }
    });
    socket.on('close', () =>
      done(
        received.length
          ? `something at ${where} answered, but not as PostgreSQL does`
          : `${where} closed the connection without a PostgreSQL answer`,
      ),
    );
  });
}

export interface ProductionServerOptions {
  binaries: TemporalServerBinaries;
  /** @defaultValue `postgresFromEnv()` */
  postgres?: PostgresTarget;
  /** Registered at start. @defaultValue 'default' */
  namespace?: string;
  /** Retention of the registered namespace. @defaultValue 30 days */
  retentionMs?: number;
  /**
   * Max connections of each store's pool, per service (frontend, history, matching and worker each have
   * their own): 10 and 5 came to about 35 PostgreSQL connections under the suite (`max_connections` is
   * often 100, and two runs may share one PostgreSQL). @defaultValue `{ persistence: 10, visibility: 5 }`
   */
  maxConns?: { persistence: number; visibility: number };
  /** Progress lines. @defaultValue none */
  log?: (line: string) => void;
  /** Aborts a start in progress (Ctrl+C): the start cleans up and rejects. */
  signal?: AbortSignal;
}

export interface ProductionServer {
  /** Frontend gRPC, `127.0.0.1:PORT`. */
  address: string;
  /** Frontend HTTP API, `127.0.0.1:PORT`. */
  httpAddress: string;
  namespace: string;
  /** The server's `--root`: config/, dynamicconfig.yaml and server.log. */
  rootDir: string;
  /** The server's own log (kept out of the test output). */
  logFile: string;
  /** The dynamic config file the server reads. */
  dynamicConfigFile: string;
  databases: { persistence: string; visibility: string };
  process: ChildProcess;
  /** Stops the server and drops its databases; `keepFiles` keeps rootDir (its log) for a look. Idempotent. */
  stop(options?: { keepFiles?: boolean }): Promise<void>;
}

/**
 * The dynamic config file: the server's stock values. Nothing of the dev server's raised limits
 * (`frontend.namespaceRPS.visibility=100`, `system.forceSearchAttributesCacheRefreshOnRead=true`, high
 * `persistenceMaxQPS`, `history.hostLevelCacheMaxSize=8096`). A production operator of temporal-dlq sets
 * nothing here either: the project needs no dynamic config, and the stock visibility limit
 * (10 calls/s per namespace) is the budget its analytics and operator tools must fit.
 */
export const DYNAMIC_CONFIG = `# temporal-dlq production tier: the Temporal server's stock dynamic config (no overrides).
# Deliberately absent: the dev server's raised limits (frontend.namespaceRPS.visibility=100,
# system.forceSearchAttributesCacheRefreshOnRead=true, persistenceMaxQPS, history.hostLevelCacheMaxSize).
# A production operator of temporal-dlq sets nothing here either: the project needs no dynamic config.
{}
`;

interface Ports {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  matching: number;
  matchingMembership: number;
  history: number;
  historyMembership: number;
  worker: number;
  workerMembership: number;
}

/** True when 127.0.0.1:port can be bound now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Nine free ports below 32768: the server stores its services' ports in `cluster_membership.rpc_port`, a
 * SMALLINT on PostgreSQL, so an ephemeral port (32768-60999 on Linux) stops it at start
 * ("value … is out of range for type smallint").
 */
async function freePorts(): Promise<Ports> {
  const names: Array<keyof Ports> = [
    'frontend',
    'frontendHttp',
    'frontendMembership',
    'matching',
    'matchingMembership',
    'history',
    'historyMembership',
    'worker',
    'workerMembership',
  ];
  const taken = new Set<number>();
  const ports = {} as Ports;
  for (const name of names) {
    for (let tries = 0; ; tries++) {
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      if (!taken.has(port) && (await canBind(port))) {
        taken.add(port);
        ports[name] = port;
        break;
      }
      if (tries > 200) throw new Error('No free port between 20000 and 32000 on 127.0.0.1');
    }
  }
  return ports;
}

/** `development.yaml`: a single node, one history shard, PostgreSQL for both stores. */
function serverConfig(
  pg: PostgresTarget,
  dbs: { persistence: string; visibility: string },
  ports: Ports,
  dynamicConfigFile: string,
  maxConns: { persistence: number; visibility: number },
): string {
  const store = (db: string, max: number) => `      sql:
        pluginName: postgres12
        databaseName: ${JSON.stringify(db)}
        connectAddr: ${JSON.stringify(`${pg.host}:${pg.port}`)}
        connectProtocol: tcp
        user: ${JSON.stringify(pg.user)}
        password: ${JSON.stringify(pg.password ?? '')}
        maxConns: ${max}
        maxIdleConns: ${max}
        maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number, http?: number) => `    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${http === undefined ? '' : `\n      httpPort: ${http}`}`;
  return `# Written by temporal-dlq's src/ops/production-server.ts for one run.
log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 1
  datastores:
    postgres-default:
${store(dbs.persistence, maxConns.persistence)}
    postgres-visibility:
${store(dbs.visibility, maxConns.visibility)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1

services:
  frontend:
${service(ports.frontend, ports.frontendMembership, ports.frontendHttp)}
  matching:
${service(ports.matching, ports.matchingMembership)}
  history:
${service(ports.history, ports.historyMembership)}
  worker:
${service(ports.worker, ports.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:${ports.frontend}

dcRedirectionPolicy:
  policy: noop

publicClient:
  hostPort: 127.0.0.1:${ports.frontend}

dynamicConfigClient:
  filepath: ${JSON.stringify(dynamicConfigFile)}
  pollInterval: 10s
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts the server on fresh databases and registers the namespace; see the file's header. */
export async function startProductionServer(options: ProductionServerOptions): Promise<ProductionServer> {
  const pg = options.postgres ?? postgresFromEnv();
  const namespace = options.namespace ?? 'default';
  const log = options.log ?? (() => undefined);
  const { binaries, signal } = options;
  const checkAbort = () => {
    if (signal?.aborted) throw new Error('Production server start aborted');
  };

  const id = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const databases = { persistence: `dlq_test_${id}`, visibility: `dlq_test_${id}_visibility` };
  const created = new Set<string>();
  const rootDir = mkdtempSync(join(tmpdir(), 'dlq-temporal-server-'));
  const logFile = join(rootDir, 'server.log');
  const dynamicConfigFile = join(rootDir, 'dynamicconfig.yaml');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const sqlArgs = (db: string, ...command: string[]) => [
    '--plugin',
    'postgres12',
    '--ep',
    pg.host,
    '-p',
    String(pg.port),
    '-u',
    pg.user,
    ...(pg.password ? ['--pw', pg.password] : []),
    '--db',
    db,
    ...command,
  ];
  const sql = (db: string, ...command: string[]) =>
    new Promise<void>((resolve, reject) => {
      const run = spawn(binaries.sqlTool, sqlArgs(db, ...command), { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      run.stdout.on('data', (c: Buffer) => (output += c.toString()));
      run.stderr.on('data', (c: Buffer) => (output += c.toString()));
      run.on('error', reject);
      run.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(
              new Error(`SQL tool ${command.join(' ')} on ${db} failed (exit ${code}):\n${output.trim()}`),
            ),
      );
    });
  const dropSync = () => {
    for (const db of created)
      spawnSync(binaries.sqlTool, sqlArgs(db, 'drop-database', '--force'), { stdio: 'ignore' });
    created.clear();
  };
  // Safety net: the process exits (process.exit, an uncaught error) without stop(): synchronous cleanup.
  const onExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    dropSync();
  };
  process.once('exit', onExit);

  const stop = async (stopOptions: { keepFiles?: boolean } = {}) => {
    if (stopped) return;
    stopped = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    // The server's connections are closed now: drop-database would fail on a database in use.
    for (const db of [...created]) {
      try {
        await sql(db, 'drop-database', '--force');
        created.delete(db);
      } catch (err) {
        log(`Could not drop database ${db}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    process.removeListener('exit', onExit);
    if (!stopOptions.keepFiles) rmSync(rootDir, { recursive: true, force: true });
  };

  try {
    const started = Date.now();
    // Both databases in parallel: create-database, the versioning tables, then every versioned step of
    // the schema built into the SQL tool (the same files as the module's schema/postgresql/v12/…/versioned).
    // allSettled: a failure of one must not leave the other creating a database after the clean-up.
    const schemas = await Promise.allSettled(
      (
        [
          [databases.persistence, 'postgresql/v12/temporal'],
          [databases.visibility, 'postgresql/v12/visibility'],
        ] as const
      ).map(async ([db, schema]) => {
        created.add(db); // before create-database: a drop of a database never made fails harmlessly
        await sql(db, 'create-database');
        checkAbort();
        await sql(db, 'setup-schema', '-v', '0.0');
        checkAbort();
        await sql(db, 'update-schema', '--schema-name', schema);
      }),
    );
    const failed = schemas.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    checkAbort();
    log(
      `  databases ${databases.persistence} and ${databases.visibility} ready in ${Date.now() - started} ms`,
    );

    const ports = await freePorts();
    const maxConns = options.maxConns ?? { persistence: 10, visibility: 5 };
    mkdirSync(join(rootDir, 'config'));
    writeFileSync(dynamicConfigFile, DYNAMIC_CONFIG);
    writeFileSync(
      join(rootDir, 'config', 'development.yaml'),
      serverConfig(pg, databases, ports, dynamicConfigFile, maxConns),
    );
    const fd = openSync(logFile, 'a');
    const args = [
      '--root',
      rootDir,
      '--config',
      'config',
      '--env',
      'development',
      '--allow-no-auth',
      'start',
    ];
    // Own process group: a Ctrl+C in the terminal reaches the tests first; stop() then stops the server.
    child = spawn(binaries.server, args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    const running = child;
    let exitCode: number | null | undefined;
    exited = new Promise<void>((resolve) =>
      running.once('exit', (code) => {
        exitCode = code;
        resolve();
      }),
    );

    const address = `127.0.0.1:${ports.frontend}`;
    const deadline = Date.now() + 60_000;
    while (!(await serverAnswers(address, 1000))) {
      checkAbort();
      if (exitCode !== undefined)
        throw new Error(
          `Temporal server exited with code ${exitCode}; the end of ${logFile}:\n${tail(logFile)}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `Temporal server did not answer on ${address} within 60 s; the end of ${logFile}:\n${tail(logFile)}`,
        );
      await sleep(250);
    }
    log(`  server answers on ${address} after ${Date.now() - started} ms`);

    // A fresh database has no namespace: register it, then wait until the frontend resolves it (a name
    // looked up before it existed stays "not found" for about a second), and one refresh of the history
    // service's namespace registry (stock `system.namespaceCacheRefreshInterval`: 2 s).
    const connection = await Connection.connect({ address });
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(options.retentionMs ?? 30 * 86_400_000),
      });
      const nsDeadline = Date.now() + 30_000;
      for (;;) {
        checkAbort();
        try {
          await connection.workflowService.describeTaskQueue({
            namespace,
            taskQueue: { name: 'dlq-namespace-probe' },
          });
          break;
        } catch (err) {
          if (Date.now() > nsDeadline) throw err;
          await sleep(250);
        }
      }
      await sleep(2000);
    } finally {
      await connection.close();
    }
    log(`  namespace ${namespace} usable after ${Date.now() - started} ms`);

    return {
      address,
      httpAddress: `127.0.0.1:${ports.frontendHttp}`,
      namespace,
      rootDir,
      logFile,
      dynamicConfigFile,
      databases,
      process: running,
      stop,
    };
  } catch (err) {
    await stop({ keepFiles: true });
    throw err;
  }
}
