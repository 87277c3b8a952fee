/**
 * Broker sources run inside a worker process (`createWorker({ sources })`): each source runs under `runSource`
 * beside the worker, through a Client on the worker's own `NativeConnection`, so starts can ask for eager
 * workflow start (the server answers the start with the first workflow task for this worker: no trip through
 * matching). The worker's shutdown drains the sources first: they take nothing new, finish what is in flight
 * (acking only what started) and close; only then does the worker itself shut down, so an eager task handed
 * over during the drain still has a worker. A source the broker stopped (`SourceStoppedError`) shuts the worker
 * down too, and `run()` rejects with that error: never a worker that silently stopped bridging.
 */
import { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { Logger } from 'pino';
import { runSource } from '../connectors/source';
import type { RunSourceOptions, Source } from '../connectors/source';

/** `runSource` options a worker's sources share; the worker sets the task queue, payload limit and signal. */
export type WorkerSourceOptions = Omit<
  RunSourceOptions,
  'signal' | 'taskQueue' | 'requestEagerStart' | 'logger'
>;

export interface AttachSourcesOptions {
  sources: ReadonlyArray<Source>;
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  maxPayloadBytes: number;
  dataConverter?: DataConverter;
  eagerStart: boolean;
  logger: Logger;
  sourceOptions?: WorkerSourceOptions;
}

/** Makes `worker.run()` run the sources too, and `worker.shutdown()` drain them before the worker stops. */
export function attachSources(worker: Worker, options: AttachSourcesOptions): Worker {
  const client = new Client({
    connection: options.connection,
    namespace: options.namespace,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
  const runWorker = worker.run.bind(worker);
  const shutdownWorker = worker.shutdown.bind(worker);
  const stop = new AbortController();
  let drained: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  let started = false;

  worker.shutdown = () => {
    // Before run() the sources have not started: the SDK's own shutdown (and its errors) as they are.
    if (!started) return shutdownWorker();
    if (stop.signal.aborted) return;
    options.logger.info({ sources: options.sources.length }, 'Draining the sources before the worker stops');
    stop.abort();
    void drained
      .finally(() => {
        // The worker may have stopped meanwhile (a fatal error): the SDK refuses to shut down a stopped worker.
        if (worker.getState() === 'RUNNING') shutdownWorker();
      })
      .catch((err: unknown) => options.logger.error({ err }, 'Worker shutdown after the drain failed'));
  };

  worker.run = async () => {
    started = true;
    const running = runWorker();
    drained = Promise.all(
      options.sources.map(async (source) => {
        const logger = options.logger.child({ source: source.name });
        try {
          const counts = await runSource(client, source, {
            ...options.sourceOptions,
            taskQueue: options.taskQueue,
            maxPayloadBytes: options.maxPayloadBytes,
            requestEagerStart: options.eagerStart,
            signal: stop.signal,
            logger,
          });
          logger.info(counts, 'Source stopped');
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err));
          logger.error({ err }, 'Source failed; the worker shuts down');
          // The other sources drain, then the worker stops: run() rejects with this error.
          queueMicrotask(() => worker.shutdown());
        } finally {
          await source.close().catch(() => undefined);
        }
      }),
    ).then(() => undefined);
    try {
      await running;
    } finally {
      // The worker stopped on its own (a fatal error): the sources stop too.
      if (!stop.signal.aborted) stop.abort();
      await drained;
    }
    if (failure !== undefined) throw failure;
  };
  return worker;
}
