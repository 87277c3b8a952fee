/**
 * A Temporal dev server of a test's own (SQLite file in a temp folder, set up like the suite's), that the test
 * can stop and start again on the same file: for outages.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, startDevServer } from '../../src/ops/dev-server';
import type { DevServer } from '../../src/ops/dev-server';
import { setupServer } from '../../src/ops/setup';
import { requireEnv } from '../helpers';

export interface OwnServer {
  /** `127.0.0.1:<port>`, the same across restarts. */
  address: string;
  /** Stops the server (its data stays in the file). */
  stop(): Promise<void>;
  /** Starts it again on the same port and file. */
  start(): Promise<void>;
  /** Stops it if running and deletes its folder. */
  close(): Promise<void>;
}

export async function openOwnServer(label: string): Promise<OwnServer> {
  const dir = mkdtempSync(join(tmpdir(), `dlq-${label}-`));
  const port = await freePort();
  let server: DevServer | undefined;
  const start = async () => {
    server = await startDevServer({
      cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
      port,
      uiPort: false,
      dbFilename: join(dir, 'temporal.db'),
    });
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retention: '7d' });
    await connection.close();
  };
  await start();
  return {
    address: server!.address,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    start,
    async close() {
      await server?.stop();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
