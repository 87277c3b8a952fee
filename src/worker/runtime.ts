/**
 * The process's Temporal Runtime: pino as the SDK's logger and, when asked, the SDK's Prometheus exporter.
 * The SDK allows one Runtime per process, created by the first `Runtime.install`, NativeConnection or Worker.
 */
import { Runtime } from '@temporalio/worker';
import type { Logger as PinoLogger } from 'pino';
import { PinoTemporalLogger } from '../logger';

/** Options of `installRuntimeLogger`. */
export interface RuntimeInstallOptions {
  /**
   * Serve Prometheus metrics at `http://<address>/metrics` (`DLQ_METRICS_ADDRESS`): an IP and a port. The SDK's
   * own metric names keep its `temporal_` prefix; counters end in `_total` and durations are in seconds.
   * @defaultValue none (no metrics endpoint)
   */
  metricsAddress?: string;
}

let installed: { metricsAddress?: string } | undefined;

/**
 * Installs the process's Runtime: pino as the SDK's logger, and the Prometheus exporter when
 * `metricsAddress` is set. Call it before the first NativeConnection or Worker. A later call leaves the
 * existing Runtime alone: it warns, and when metrics were asked for and that Runtime does not serve them it
 * logs an error (the endpoint is NOT served) instead of stopping a process that installed its own Runtime.
 * Throws `MetricsEndpointError` when the exporter cannot listen there (the port is taken, the IP is not
 * this machine's).
 */
export function installRuntimeLogger(logger: PinoLogger, options: RuntimeInstallOptions = {}): void {
  const metricsAddress = options.metricsAddress?.trim();
  if (installed) {
    if (metricsAddress && installed.metricsAddress !== metricsAddress) notServed(logger, metricsAddress);
    return;
  }
  try {
    Runtime.install({
      logger: new PinoTemporalLogger(logger.child({ component: 'temporal-sdk' })),
      ...(metricsAddress
        ? {
            telemetryOptions: {
              metrics: {
                prometheus: {
                  bindAddress: metricsAddress,
                  countersTotalSuffix: true,
                  useSecondsForDurations: true,
                },
              },
            },
          }
        : {}),
    });
    installed = metricsAddress ? { metricsAddress } : {};
    if (metricsAddress)
      logger.info({ metricsAddress }, `Prometheus metrics at http://${metricsAddress}/metrics`);
  } catch (err) {
    if ((err as Error).name !== 'IllegalStateError') {
      if (metricsAddress) throw new MetricsEndpointError(metricsAddress, err);
      throw err;
    }
    logger.warn('Temporal Runtime already existed; SDK logs keep their previous logger');
    installed = {};
    if (metricsAddress) notServed(logger, metricsAddress);
  }
}

function notServed(logger: PinoLogger, metricsAddress: string): void {
  logger.error(
    { metricsAddress },
    'Prometheus metrics are NOT served: the Temporal Runtime of this process was created before, without this ' +
      'address; call installRuntimeLogger(logger, { metricsAddress }) before the first connection or worker',
  );
}

/** The Prometheus exporter could not listen at `DLQ_METRICS_ADDRESS`. */
export class MetricsEndpointError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    super(
      `Cannot serve Prometheus metrics at ${address} (DLQ_METRICS_ADDRESS): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'MetricsEndpointError';
  }
}
