/**
 * Renders docs/images/prometheus-dlq-metrics.png: Prometheus's graph page over a real worker's metrics (Grafana
 * is not packaged by Debian, so the dashboard itself cannot be rendered here). Starts a dev server, a worker
 * with the demo handlers and DLQ_METRICS_ADDRESS, Debian's Prometheus scraping it every second, publishes a
 * demo batch every 10 s for a minute, runs analytics, and screenshots the graph in headless Chromium.
 * Not part of `npm test`: `npx tsx scripts/metrics-screenshot.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { ensureTemporalCli } from '../src/ops/temporal-cli';
import { freePort, startDevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { installRuntimeLogger } from '../src/worker/runtime';
import { createWorker } from '../src/worker/create-worker';
import { loadConfig } from '../src/config';
import { demoBatch, demoHandlers } from '../src/ops/demo';
import { publishMany } from '../src/client/publish';
import { ANALYTICS_WORKFLOW } from '../src/contract/names';

const OUT = join(__dirname, '..', 'docs', 'images', 'prometheus-dlq-metrics.png');
const EXPR = 'sum by (topic, reason) (dlq_messages_parked_total)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const logger = pino({ level: 'silent' });
  const metricsPort = await freePort();
  installRuntimeLogger(logger, { metricsAddress: `127.0.0.1:${metricsPort}` });
  const server = await startDevServer({ cliPath: await ensureTemporalCli(), uiPort: false });
  const dir = mkdtempSync(join(tmpdir(), 'dlq-shot-'));
  try {
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retention: '1d' });
    const config = loadConfig({ TEMPORAL_ADDRESS: server.address, LOG_LEVEL: 'silent' });
    const client = new Client({ connection });
    const native = await NativeConnection.connect({ address: server.address });
    const worker = await createWorker({ handlers: demoHandlers, config, logger, connection: native });
    const running = worker.run();

    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: dlq-worker\n    static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }]\n`,
    );
    const prometheus = spawn(
      '/usr/bin/prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      for (let i = 0; i < 6; i++) {
        await publishMany(client, demoBatch(`shot${i}`), { taskQueue: config.TEMPORAL_TASK_QUEUE });
        await sleep(10_000);
      }
      await client.workflow.execute(ANALYTICS_WORKFLOW, {
        args: [{ topics: demoHandlers.map((h) => h.topic) }],
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        workflowId: `shot-analytics-${Date.now()}`,
      });
      await sleep(3000);
      const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const url = `http://127.0.0.1:${promPort}/graph?g0.expr=${encodeURIComponent(EXPR)}&g0.tab=0&g0.range_input=2m`;
      await page.goto(url);
      await page.waitForTimeout(4000);
      await page.screenshot({ path: OUT });
      await browser.close();
      process.stdout.write(`${OUT}\n`);
    } finally {
      prometheus.kill('SIGTERM');
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
