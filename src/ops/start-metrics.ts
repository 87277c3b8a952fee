/** Where `npm start` serves Prometheus metrics: `DLQ_METRICS_ADDRESS`, else 127.0.0.1:9464 when it is free. */
import { createServer } from 'node:net';
import type { Logger as PinoLogger } from 'pino';
import type { Config } from '../config';

/** `npm start`'s metrics address when `DLQ_METRICS_ADDRESS` is not set (9464: the exporters' usual port). */
export const START_METRICS_ADDRESS = '127.0.0.1:9464';

/**
 * `DLQ_METRICS_ADDRESS` when set (a taken port then stops start-up: `MetricsEndpointError`), else
 * {@link START_METRICS_ADDRESS} when it can be listened on; when another process holds it, `npm start` runs
 * without metrics and says so.
 */
export async function startMetricsAddress(config: Config, logger: PinoLogger): Promise<string | undefined> {
  if (config.DLQ_METRICS_ADDRESS) return config.DLQ_METRICS_ADDRESS.trim();
  const [host, port] = START_METRICS_ADDRESS.split(':') as [string, string];
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port: Number(port), exclusive: true }, () => server.close(() => resolve(true)));
  });
  if (!free)
    logger.warn(
      { metricsAddress: START_METRICS_ADDRESS },
      'Prometheus metrics off: the default address is in use; set DLQ_METRICS_ADDRESS to serve them elsewhere',
    );
  return free ? START_METRICS_ADDRESS : undefined;
}
