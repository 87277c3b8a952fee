/**
 * `npm test`'s suite runner: starts one real Temporal dev server on free ports, runs the set-up on it,
 * bundles the workflow code once, then runs every test file with node's test runner against it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureTemporalCli } from '../src/temporal-cli';
import { startDevServer } from '../src/dev-server';
import { setupServer } from '../src/setup';

async function main(): Promise<number> {
  const cliPath = await ensureTemporalCli();
  const server = await startDevServer({ cliPath });
  try {
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retentionMs: 30 * 86_400_000 });
    await connection.close();

    const dir = mkdtempSync(join(tmpdir(), 'dlq-test-'));
    const bundlePath = join(dir, 'workflow-bundle.js');
    const noop = (): void => undefined;
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error },
    });
    writeFileSync(bundlePath, code);

    const only = process.argv.slice(2);
    const files = (
      only.length
        ? only
        : readdirSync(__dirname)
            .filter((f) => f.endsWith('.test.ts'))
            .sort()
    ).map((f) => (f.includes('/') ? f : join('test', f)));
    process.stdout.write(
      `Temporal dev server ${server.address} (UI ${server.uiUrl}); ${files.length} test files\n`,
    );
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
        stdio: 'inherit',
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: server.address,
          DLQ_TEST_UI_URL: server.uiUrl ?? '',
          DLQ_TEST_WORKFLOW_BUNDLE: bundlePath,
          DLQ_TEST_TEMPORAL_CLI: cliPath,
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
        },
      });
      // If the runner itself is stopped, stop the test process too: no orphan keeps polling a dead server.
      const forward = (signal: NodeJS.Signals) => {
        child.kill(signal);
        // Workers trap SIGINT/SIGTERM for a graceful shutdown, which waits on the server: do not wait forever.
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      };
      process.once('SIGINT', forward);
      process.once('SIGTERM', forward);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
