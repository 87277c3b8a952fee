/**
 * Standalone worker (`npm run worker`, the Docker image): set-up, then poll until SIGINT/SIGTERM.
 * Handlers come from DLQ_HANDLERS_MODULE (its `handlers` export), or the demo handlers.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config';
import { buildConnectionOptions } from '../security/connection';
import { createLogger } from '../logger';
import { createWorker, installRuntimeLogger } from './create-worker';
import { setupServer } from '../ops/setup';
import { dataConverterFromConfig } from '../security/data-converter';
import { ensureAnalyticsSchedule } from '../analytics/schedule';
import { warnOnMissingWorkerSettings } from './memory-settings';
import type { AnyHandler } from './handlers';
import { loadHandlersModule } from './handlers-module';
import { formatDuration } from '../contract/duration';

async function loadHandlers(modulePath: string | undefined): Promise<AnyHandler[]> {
  if (!modulePath) return (await import('../ops/demo')).demoHandlers;
  return loadHandlersModule(modulePath);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  installRuntimeLogger(
    logger,
    config.DLQ_METRICS_ADDRESS ? { metricsAddress: config.DLQ_METRICS_ADDRESS } : {},
  );
  warnOnMissingWorkerSettings(logger);
  const handlers = await loadHandlers(config.DLQ_HANDLERS_MODULE);
  const connection = await Connection.connect(buildConnectionOptions(config));
  await setupServer(connection, {
    namespace: config.TEMPORAL_NAMESPACE,
    retention: formatDuration(config.DLQ_RETENTION),
    logger,
  });
  if (config.DLQ_ANALYTICS) {
    await ensureAnalyticsSchedule(
      new Client({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        dataConverter: dataConverterFromConfig(config),
      }),
      {
        scheduleId: config.DLQ_ANALYTICS_SCHEDULE_ID,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        interval: formatDuration(config.DLQ_ANALYTICS_INTERVAL),
        topics: handlers.map((h) => h.topic),
        logger,
      },
    );
  }
  await connection.close();
  const worker = await createWorker({
    handlers,
    config,
    logger,
    connection: await NativeConnection.connect(buildConnectionOptions(config)),
  });
  // The SDK installs SIGINT/SIGTERM handlers that shut the worker down gracefully.
  logger.info(
    { topics: handlers.map((h) => h.topic), taskQueue: config.TEMPORAL_TASK_QUEUE },
    'Worker polling',
  );
  await worker.run();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
