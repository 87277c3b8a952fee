/** `createWorker`: a Temporal worker for the message and analytics workflows, with the topic handlers. */
import { existsSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkerOptions } from '@temporalio/worker';
import type { Logger as PinoLogger } from 'pino';
import type { Client } from '@temporalio/client';
import { createMessageActivities } from '../../activities/message-activities';
import { createAnalyticsActivities } from '../../activities/analytics-activities';
import { createMirrorActivities } from '../../activities/mirror-activities';
import { createEventSinks, sinksOptionsFromConfig } from '../sinks';
import type { SinksOptions } from '../sinks';
import type { AnyHandler, Handler } from './handlers';
import { sourceRejectsHandler } from './source-rejects';
import { buildConnectionOptions, connectClient } from '../security/connection';
import { dataConverterFromConfig } from '../security/data-converter';
import { createLogger } from '../logger';
import { installRuntimeLogger } from './runtime';
import { loadConfig } from '../config';
import type { Config } from '../config';
import { WORKFLOW_BUNDLE_PATH, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_ENTRY } from './bundle-path';
import { workerTracing } from './tracing';
import type { WorkerTracingOptions } from './tracing';
import { checkSetup } from '../ops/setup';
import type { Source } from '../connectors/source';
import { attachSources } from './worker-sources';
import type { WorkerSourceOptions } from './worker-sources';

/** gRPC codes meaning "this credential may not ask": PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED. */
const CANNOT_ASK = new Set([7, 12, 16]);

/** Options of `createWorker`. Everything but `handlers` defaults from the environment (`loadConfig`). */
export interface CreateWorkerOptions {
  /** The topics this worker processes. Each topic may be registered once. */
  handlers: ReadonlyArray<AnyHandler>;
  /** Validated configuration. @defaultValue `loadConfig()` */
  config?: Config;
  /** An existing connection (shared with a client for eager start). @defaultValue a new one from config */
  connection?: NativeConnection;
  /** pino logger. @defaultValue `createLogger(config)` */
  logger?: PinoLogger;
  /** Task queue. @defaultValue `config.TEMPORAL_TASK_QUEUE` (`dlq-messages`) */
  taskQueue?: string;
  /** Pre-built workflow bundle. @defaultValue `dist/workflow-bundle.js`, or bundling from source when absent */
  workflowBundlePath?: string;
  /**
   * Install pino as the Temporal Runtime logger (once per process), with the Prometheus exporter when
   * `config.DLQ_METRICS_ADDRESS` is set (`installRuntimeLogger`). @defaultValue `true`
   */
  installRuntimeLogger?: boolean;
  /**
   * Client the analytics activities query visibility with (`dlqAnalytics` runs on this worker).
   * @defaultValue a client connected from `config` on the first analytics run, then reused
   */
  analyticsClient?: Client;
  /** Extra activities. @defaultValue `{}` */
  extraActivities?: Record<string, (...args: any[]) => Promise<unknown>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /**
   * Passed through to `Worker.create` (tuning, identity, interceptors); what it sets wins. One default differs
   * from the SDK's: `shutdownGraceTime` is the longest stage `timeout` of `handlers` (the SDK's is 0), so a
   * graceful shutdown (a deploy's SIGTERM) lets running stage attempts finish instead of cancelling them at
   * once: a cancelled attempt fires the stage's `signal`, and a stage that passes it on (`fetch(url, { signal
   * })`) fails, which costs the message an attempt and can park it on its last one. Give the process at
   * least that long before it is killed (Kubernetes `terminationGracePeriodSeconds`, Docker's
   * `stop_grace_period`).
   * @defaultValue `{}`
   */
  workerOptions?: Partial<WorkerOptions>;
  /**
   * Check, before polling, that the namespace has every `Dlq*` search attribute with its type (`checkSetup`
   * in `src/ops/setup.ts`), and refuse with a `SetupError` naming what is missing and how to register it
   * (`setupServer`, `npm start`, or the Temporal CLI). A server that does not let this credential list
   * search attributes (Temporal Cloud's operator service) is not checked: a warning says so.
   * @defaultValue `true`
   */
  checkSetup?: boolean;
  /**
   * OpenTelemetry tracing of the messages published with tracing on: a span per stage attempt in the message's
   * trace, and the workflow's spans through `workflowSpanProcessor` (see `WorkerTracingOptions` and README →
   * Observability → Tracing). Interceptors and sinks given in `workerOptions` are added to tracing's.
   * @defaultValue `{ enabled: config.DLQ_TRACING === 'on' }`
   */
  tracing?: WorkerTracingOptions;
  /**
   * Where dead letters are mirrored when they park and when they are resolved (NATS `DLQ.<subject>`, a
   * PostgreSQL `dead_letters` table), the payload opt-in and the delivery budgets (src/sinks/index.ts). The
   * immediate alerts go to `DLQ_ALERT_WEBHOOK_URL` whatever this says. The sinks' connections are closed
   * when `worker.run()` ends.
   * @defaultValue from the `DLQ_SINK_*` variables (none when they are unset)
   */
  sinks?: SinksOptions;
  /**
   * Broker sources (`natsSource`, `rabbitmqSource` from `temporal-dlq/connectors`) that `worker.run()` runs
   * beside the worker under `runSource`'s contract, through a Client on the worker's `NativeConnection`.
   * `worker.shutdown()` (or SIGINT/SIGTERM) drains them before the worker stops: nothing unstarted is acked.
   * A source the broker stopped shuts the worker down and `run()` rejects with its `SourceStoppedError`.
   * @defaultValue `[]`
   */
  sources?: ReadonlyArray<Source>;
  /**
   * Start the sources' workflows with eager workflow start (`requestEagerStart`): the server hands the first
   * workflow task to this worker in the start's response, so a message that succeeds at once needs no trip
   * through matching. Needs `system.enableEagerWorkflowStart` on the server (on by default in server 1.29 and
   * the dev server); a declined request starts the workflow as usual.
   * @defaultValue `true`
   */
  eagerStart?: boolean;
  /** `runSource` options of the sources (in flight, retry delays, `onSettled`). @defaultValue `{}` */
  sourceOptions?: WorkerSourceOptions;
}

export { installRuntimeLogger } from './runtime';
export type { RuntimeInstallOptions } from './runtime';

/** Creates a worker. Call `worker.run()` (or `runUntil`) to start polling. */
export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config);
  if (options.installRuntimeLogger ?? true)
    installRuntimeLogger(
      logger,
      config.DLQ_METRICS_ADDRESS ? { metricsAddress: config.DLQ_METRICS_ADDRESS } : {},
    );

  const handlers = new Map<string, Handler<unknown>>();
  for (const handler of options.handlers) {
    if (handlers.has(handler.topic))
      throw new Error(`Topic "${handler.topic}" has two handlers; register each topic once`);
    handlers.set(handler.topic, handler as Handler<unknown>);
  }
  // Broker sources park the messages they cannot read on a reserved topic (src/connectors/source.ts).
  if (!handlers.has(sourceRejectsHandler.topic))
    handlers.set(sourceRejectsHandler.topic, sourceRejectsHandler as Handler<unknown>);
  const connection = options.connection ?? (await NativeConnection.connect(buildConnectionOptions(config)));
  if (options.checkSetup ?? true) {
    try {
      await checkSetup(connection, config.TEMPORAL_NAMESPACE);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number' && CANNOT_ASK.has(code)) {
        logger.warn(
          { namespace: config.TEMPORAL_NAMESPACE, err },
          'Could not list search attributes to check the set-up; make sure setupServer (or npm start) registered them',
        );
      } else {
        if (!options.connection) await connection.close();
        throw err;
      }
    }
  }
  let analyticsClient: Promise<Client> | undefined = options.analyticsClient
    ? Promise.resolve(options.analyticsClient)
    : undefined;
  const alertWebhook = config.DLQ_ALERT_WEBHOOK_URL
    ? {
        url: config.DLQ_ALERT_WEBHOOK_URL,
        timeoutMs: config.DLQ_ALERT_WEBHOOK_TIMEOUT,
        ...(config.DLQ_ALERT_WEBHOOK_SECRET ? { secret: config.DLQ_ALERT_WEBHOOK_SECRET } : {}),
      }
    : undefined;
  const sinks = createEventSinks(options.sinks ?? sinksOptionsFromConfig(config), alertWebhook);
  const bundlePath = options.workflowBundlePath ?? WORKFLOW_BUNDLE_PATH;
  // The pre-built bundle holds the workflow interceptor modules; bundling from source must add them.
  const prebuilt = existsSync(bundlePath);
  const workflowSource = prebuilt
    ? { workflowBundle: { codePath: bundlePath } }
    : { workflowsPath: WORKFLOWS_ENTRY };
  const tracing = workerTracing(options.tracing?.enabled ?? config.DLQ_TRACING === 'on', options.tracing);
  const extraInterceptors = options.workerOptions?.interceptors;
  if (tracing.noTracerProvider)
    logger.warn(
      'Tracing is on (DLQ_TRACING=on) but no OpenTelemetry TracerProvider is registered: the trace context is carried, ' +
        'but no span is exported. Register one (e.g. @opentelemetry/sdk-node) before creating the worker',
    );

  const dataConverter = dataConverterFromConfig(config);
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: options.taskQueue ?? config.TEMPORAL_TASK_QUEUE,
    ...workflowSource,
    activities: {
      ...createMessageActivities({
        handlers,
        logger,
        guards: {
          expireAfterMs: config.DLQ_EXPIRE_AFTER,
          maxRepairCycles: config.DLQ_MAX_REPAIR_CYCLES,
          maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
        },
        ...(sinks.policy ? { mirror: sinks.policy } : {}),
      }),
      ...createMirrorActivities({ sinks: sinks.byName, logger }),
      ...createAnalyticsActivities({
        // Memoised; a failed connection is forgotten so the next attempt (Temporal retries it) reconnects.
        client: () =>
          (analyticsClient ??= connectClient(config).catch((err: unknown) => {
            analyticsClient = undefined;
            throw err;
          })),
        logger,
        ...(alertWebhook ? { webhook: alertWebhook } : {}),
      }),
      ...options.extraActivities,
    },
    maxCachedWorkflows: config.DLQ_MAX_CACHED_WORKFLOWS,
    dataConverter,
    // A deploy's graceful shutdown lets the stage attempts in flight finish (see `workerOptions`).
    shutdownGraceTime: Math.max(0, ...[...handlers.values()].map((h) => h.stageTimeoutMs)),
    ...options.workerOptions,
    interceptors: {
      ...extraInterceptors,
      activity: [...tracing.activityInterceptors, ...(extraInterceptors?.activity ?? [])],
      ...(prebuilt
        ? {}
        : {
            workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES, ...(extraInterceptors?.workflowModules ?? [])],
          }),
    },
    sinks: { ...tracing.sinks, ...options.workerOptions?.sinks },
  });
  // The sinks' connections live as long as the worker runs (`runUntil` calls `run` too).
  const run = worker.run.bind(worker);
  worker.run = async () => {
    try {
      await run();
    } finally {
      await sinks.close();
    }
  };
  if (!options.sources?.length) return worker;
  return attachSources(worker, {
    sources: options.sources,
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: options.taskQueue ?? config.TEMPORAL_TASK_QUEUE,
    maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
    dataConverter,
    eagerStart: options.eagerStart ?? true,
    logger,
    ...(options.sourceOptions ? { sourceOptions: options.sourceOptions } : {}),
  });
}
