/**
 * The Temporal server a bench run measures against (`--server`):
 *
 * - `dev` (the default): the CLI's dev server, SQLite in memory, its raised limits, headless, free ports.
 * - `postgres`: Temporal server 1.29.1 on PostgreSQL persistence and visibility with its stock dynamic
 *   config (10 visibility calls/s per namespace), on fresh databases dropped afterwards: the suite's
 *   production tier, started by the same launcher (src/ops/production-server.ts).
 *
 * Both get the same set-up (`setupServer`); the baseline and temporal-dlq then run on the same server.
 */
import type { Connection } from '@temporalio/client';
import { startDevServer } from '../src/ops/dev-server';
import { ensureTemporalCli } from '../src/ops/temporal-cli';
import { ensureTemporalServer } from '../src/ops/temporal-server';
import { checkPostgres, postgresFromEnv, startProductionServer } from '../src/ops/production-server';
import { setupServer } from '../src/ops/setup';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes';
import { formatDuration } from '../src/contract/duration';
import { sleep } from './stats';

export type ServerKind = 'dev' | 'postgres';

export interface BenchServer {
  kind: ServerKind;
  address: string;
  /** The server process (all services in one), for its CPU time. PostgreSQL's own CPU is not included. */
  pid: number;
  /** One line for the results: store and limits. */
  description: string;
  stop(): Promise<void>;
}

/** Retention of the bench's namespace: it never needs more. */
const RETENTION_MS = 86_400_000;

export async function startBenchServer(kind: ServerKind, log: (text: string) => void): Promise<BenchServer> {
  if (kind === 'dev') {
    const cliPath = await ensureTemporalCli();
    const server = await startDevServer({ cliPath, uiPort: false });
    return {
      kind,
      address: server.address,
      pid: server.process.pid ?? -1,
      description: 'Temporal CLI dev server (SQLite in memory, its raised limits)',
      stop: () => server.stop(),
    };
  }
  const pg = postgresFromEnv();
  const noPostgres = await checkPostgres(pg);
  if (noPostgres) throw new Error(`bench --server postgres: ${noPostgres}`);
  const binaries = await ensureTemporalServer(process.env, log);
  const server = await startProductionServer({ binaries, postgres: pg, retentionMs: RETENTION_MS, log });
  return {
    kind,
    address: server.address,
    pid: server.process.pid ?? -1,
    description:
      `Temporal server on PostgreSQL ${pg.host}:${pg.port} (persistence and visibility, databases ` +
      `${server.databases.persistence} and ${server.databases.visibility}), stock dynamic config`,
    stop: () => server.stop(),
  };
}

/**
 * The namespace's set-up, then (on a stock server, which caches the search-attribute list per service)
 * waits until a visibility query naming every `Dlq*` attribute is accepted.
 */
export async function prepareNamespace(connection: Connection, namespace: string): Promise<void> {
  await setupServer(connection, { namespace, retention: formatDuration(RETENTION_MS) });
  const query = ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name} IS NULL`).join(' AND ');
  const deadline = Date.now() + 70_000;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(1000);
    }
  }
}
