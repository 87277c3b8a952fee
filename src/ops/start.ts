/**
 * `npm start`: use the server at TEMPORAL_ADDRESS when it answers, otherwise start the dev server
 * (SQLite in `.data/temporal.db`, Web UI on 127.0.0.1:8233); run the set-up, the worker and the demo.
 * Ctrl+C stops everything it started.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config';
import { readTemporalProfile } from '../temporal-profile';
import type { Config } from '../config';
import { buildConnectionOptions } from '../security/connection';
import { createLogger } from '../logger';
import { createWorker, installRuntimeLogger } from '../worker/create-worker';
import { ensureTemporalCli } from './temporal-cli';
import { checkPortFree, PortInUseError, serverAnswers, startDevServer } from './dev-server';
import { START_METRICS_ADDRESS, startMetricsAddress } from './start-metrics';
import type { DevServer } from './dev-server';
import { setupServer } from './setup';
import { ensureAnalyticsSchedule } from '../analytics/schedule';
import { demoBatch, demoHandlers } from './demo';
import { publishMany } from '../client/publish';
import { stateQuery } from '../contract/definitions';
import { uiListUrl } from '../web-ui-links';
import { PARKED_QUERY } from '../contract/queries';
import { formatDuration } from '../contract/duration';
import { dataConverterFromConfig, encryptionEnabled } from '../security/data-converter';
import { codecServerFromConfig } from '../security/codec-server';
import type { CodecServer } from '../security/codec-server';
import { warnOnMissingWorkerSettings } from '../worker/memory-settings';

async function main(): Promise<void> {
  let config = loadConfig();
  const logger = createLogger(config);
  const metricsAddress = await startMetricsAddress(config, logger);
  installRuntimeLogger(logger, metricsAddress ? { metricsAddress } : {});
  warnOnMissingWorkerSettings(logger);
  let devServer: DevServer | undefined;

  // An address set by the variable or by the selected Temporal client profile (`TEMPORAL_PROFILE`).
  const addressGiven =
    Boolean(process.env.TEMPORAL_ADDRESS) ||
    readTemporalProfile(process.env)?.values.TEMPORAL_ADDRESS !== undefined;
  const useGivenServer = addressGiven && (await serverAnswers(config.TEMPORAL_ADDRESS));
  if (!useGivenServer) {
    // Before anything is built or started: a port held by another process (another npm start, a server
    // started by hand) stops start-up here, instead of the worker joining whatever answers on it.
    await checkPortFree(config.DLQ_DEV_SERVER_PORT, 'frontend');
    await checkPortFree(config.DLQ_UI_PORT, 'Web UI');
  }
  // With encryption on, the codec server runs in-process so the dev server's Web UI can show payloads.
  const codecServer: CodecServer | undefined = encryptionEnabled(config)
    ? await codecServerFromConfig(config, { logger })
    : undefined;
  if (codecServer) logger.info({ url: codecServer.url }, 'Payload encryption on; codec server listening');

  if (useGivenServer) {
    logger.info({ address: config.TEMPORAL_ADDRESS }, 'Using the Temporal server at TEMPORAL_ADDRESS');
  } else {
    if (addressGiven)
      logger.warn(
        { address: config.TEMPORAL_ADDRESS },
        'TEMPORAL_ADDRESS does not answer; starting a dev server',
      );
    const cliPath = await ensureTemporalCli();
    const dataDir = resolve(config.DLQ_DATA_DIR);
    mkdirSync(dataDir, { recursive: true });
    devServer = await startDevServer({
      cliPath,
      port: config.DLQ_DEV_SERVER_PORT,
      uiPort: config.DLQ_UI_PORT,
      dbFilename: join(dataDir, 'temporal.db'),
      ...(codecServer ? { extraArgs: ['--ui-codec-endpoint', codecServer.url] } : {}),
    }).catch(async (err: unknown) => {
      await codecServer?.close();
      throw err;
    });
    config = { ...config, TEMPORAL_ADDRESS: devServer.address };
    logger.info(
      { address: devServer.address, db: join(dataDir, 'temporal.db') },
      'Started the Temporal dev server',
    );
  }

  const stopServer = async () => {
    if (devServer) await devServer.stop();
    if (codecServer) await codecServer.close();
  };
  try {
    const connection = await Connection.connect(buildConnectionOptions(config));
    await setupServer(connection, {
      namespace: config.TEMPORAL_NAMESPACE,
      retention: formatDuration(config.DLQ_RETENTION),
      logger,
    });
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFromConfig(config),
    });
    const workerConnection = await NativeConnection.connect(buildConnectionOptions(config));
    const worker = await createWorker({
      handlers: demoHandlers,
      config,
      logger,
      connection: workerConnection,
    });

    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'Shutting down');
      worker.shutdown();
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    // The dev server ending on its own is not a state to keep running in: say so and stop.
    void devServer?.exited.then((code) => {
      if (stopping) return;
      logger.error({ code }, 'The Temporal dev server exited; stopping');
      process.exitCode = 1;
      shutdown('dev server exited');
    });

    const running = worker.run();
    if (config.DLQ_ANALYTICS) {
      await ensureAnalyticsSchedule(client, {
        scheduleId: config.DLQ_ANALYTICS_SCHEDULE_ID,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        interval: formatDuration(config.DLQ_ANALYTICS_INTERVAL),
        topics: demoHandlers.map((h) => h.topic),
        logger,
      });
    }
    const uiBase = devServer?.uiUrl ?? config.DLQ_UI_URL ?? `http://127.0.0.1:${config.DLQ_UI_PORT}`;
    logger.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'Worker polling');
    if (config.DLQ_DEMO)
      await runDemo(client, config.TEMPORAL_TASK_QUEUE, config.DLQ_MAX_PAYLOAD_BYTES, logger);
    process.stdout.write(startedMessage(config, uiBase, metricsAddress));
    await running;
    await workerConnection.close();
    await connection.close();
  } finally {
    await stopServer();
    logger.info('Stopped');
  }
}

/** What `npm start` prints once everything runs: where the Web UI, the server and the parked messages are. */
function startedMessage(config: Config, uiBase: string, metricsAddress: string | undefined): string {
  const forCli = [
    `TEMPORAL_ADDRESS=${config.TEMPORAL_ADDRESS}`,
    ...(config.TEMPORAL_NAMESPACE !== 'default' ? [`TEMPORAL_NAMESPACE=${config.TEMPORAL_NAMESPACE}`] : []),
    `DLQ_UI_URL=${uiBase}`,
  ];
  return [
    '',
    `Temporal Web UI: ${uiBase}`,
    `Temporal server: ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE})`,
    `Parked messages: ${uiListUrl(uiBase, config.TEMPORAL_NAMESPACE, PARKED_QUERY)}`,
    metricsAddress
      ? `Prometheus metrics: http://${metricsAddress}/metrics`
      : `Prometheus metrics: off (${START_METRICS_ADDRESS} was taken; set DLQ_METRICS_ADDRESS)`,
    `For the dlq CLI in another shell: export ${forCli.join(' ')}`,
    'Press Ctrl+C to stop.',
    '',
  ].join('\n');
}

async function runDemo(
  client: Client,
  taskQueue: string,
  maxPayloadBytes: number,
  logger: ReturnType<typeof createLogger>,
) {
  const tag = new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(0, 14);
  const batch = demoBatch(tag);
  const results = await publishMany(client, batch, { taskQueue, maxPayloadBytes });
  const ids = results.flatMap((r) => (r.ok ? [r.workflowId] : []));
  await new Promise((r) => setTimeout(r, 5000));
  const summary: Record<string, number> = {};
  for (const id of ids) {
    const state = await client.workflow
      .getHandle(id)
      .query(stateQuery)
      .catch(() => undefined);
    const desc = state
      ? undefined
      : await client.workflow
          .getHandle(id)
          .describe()
          .catch(() => undefined);
    const status = state ? state.status : desc ? desc.status.name.toLowerCase() : 'unknown';
    summary[status] = (summary[status] ?? 0) + 1;
  }
  logger.info({ published: ids.length, byStatus: summary }, 'Demo batch published');
  process.stdout.write(
    `\nDemo: ${ids.length} messages published. By status after 5s: ${Object.entries(summary)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}\n`,
  );
}

/** Exit codes of `npm start`: 2 a bad variable, 3 a port it needs is taken, 1 anything else. */
const EXIT_CONFIG = 2;
const EXIT_PORT_IN_USE = 3;

/** Why start-up stopped on a taken port, and what to do about it. */
async function portInUseMessage(err: PortInUseError): Promise<string> {
  const variable = err.use === 'frontend' ? 'DLQ_DEV_SERVER_PORT' : 'DLQ_UI_PORT';
  const address = `${err.host}:${err.port}`;
  const temporalThere = err.use === 'frontend' && (await serverAnswers(address, 2000));
  return [
    `npm start: ${err.message} (${variable}=${err.port}); nothing was started.`,
    ...(temporalThere
      ? [
          `  A Temporal server answers there (another npm start?). To use it: TEMPORAL_ADDRESS=${address} npm start`,
        ]
      : []),
    `  Otherwise stop that process, or choose free ports, e.g. DLQ_DEV_SERVER_PORT=7243 DLQ_UI_PORT=8243 npm start`,
  ].join('\n');
}

main().catch(async (err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  if (err instanceof PortInUseError) {
    process.stderr.write(`${await portInUseMessage(err)}\n`);
    process.exit(EXIT_PORT_IN_USE);
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
