/**
 * What every `dlq bridge <source>` does once its flags are valid: connect the source, run it under
 * `runSource` until SIGINT or SIGTERM (then drain: the messages in flight finish, nothing unstarted is acked),
 * log progress and counts with pino. A source the broker stopped (`SourceStoppedError`: a cancelled consumer,
 * a closed connection, reconnects exhausted) is logged and exits 2, never 0.
 */
import type { Logger } from 'pino';
import { createLogger } from '../logger';
import { runSource, SourceStoppedError } from '../connectors/source';
import type { Source, SourceCounts } from '../connectors/source';
import type { CliContext } from './context';
import { ConnectionError } from './context';

/** One bridge run. */
export interface BridgeRun {
  /** `nats`, `rabbitmq`, … (the `bridge` field of every log line). */
  bridge: string;
  /** Extra fields of every log line, e.g. the stream or queue. */
  logFields: Record<string, unknown>;
  /** What the connection error names when the broker does not answer, e.g. `NATS 127.0.0.1:4222`. */
  brokerLabel: string;
  /** Connects the source; `logger` is the bridge's, for a source that reports on its own (the outbox). */
  openSource(logger: Logger): Promise<Source>;
  maxInFlight: number;
  /** Seconds between progress lines; 0: only at the end. */
  progressEvery: number;
}

const total = (c: SourceCounts) => c.started + c.duplicate + c.rejected;

export async function runBridge(ctx: CliContext, run: BridgeRun): Promise<void> {
  const config = ctx.config();
  const logger = createLogger(config).child({ bridge: run.bridge, ...run.logFields });
  const client = await ctx.client();
  const source = await run.openSource(logger).catch((err: unknown) => {
    throw new ConnectionError(`${run.brokerLabel}: ${err instanceof Error ? err.message : String(err)}`);
  });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) return;
    logger.info({ signal }, 'Draining: finishing the messages in flight, taking no new ones');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
  const progress =
    run.progressEvery > 0
      ? setInterval(
          () => logger.info({ ...live, total: total(live) }, 'Bridge progress'),
          run.progressEvery * 1000,
        )
      : undefined;
  logger.info({ maxInFlight: run.maxInFlight }, 'Bridge running');
  try {
    const counts = await runSource(client, source, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
      maxInFlight: run.maxInFlight,
      signal: stop.signal,
      logger,
      onSettled: (outcome) => live[outcome]++,
    });
    logger.info({ ...counts, total: total(counts) }, 'Bridge stopped');
    ctx.print(
      `${counts.started} started, ${counts.duplicate} duplicate, ${counts.rejected} rejected, ${counts['retry-later']} given back`,
    );
  } catch (err) {
    if (err instanceof SourceStoppedError) {
      logger.error({ ...live, total: total(live), err: err.message }, 'Bridge stopped by the broker');
      throw new ConnectionError(err.message);
    }
    throw err;
  } finally {
    clearInterval(progress);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await source.close().catch(() => undefined);
  }
}
