/** Builds Temporal connection options (plain, TLS, mTLS or API key) from config. */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import { ConfigError } from '../config';
import type { Config } from '../config';
import { dataConverterFromConfig } from './data-converter';
import type { EncryptionConfig } from './data-converter';
import { tracingClientInterceptors } from './client-tracing';

type ConnectionConfig = Pick<
  Config,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_CERT'
  | 'TEMPORAL_TLS_KEY'
  | 'TEMPORAL_TLS_CA'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
> &
  Partial<
    Pick<
      Config,
      'TEMPORAL_TLS_CLIENT_CERT_DATA' | 'TEMPORAL_TLS_CLIENT_KEY_DATA' | 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'
    >
  >;

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([
      `${variable}=${path}: cannot read the file (${code}); give the path of a PEM file`,
    ]);
  }
}

/** A PEM given as text (a variable or a profile's `*_data` key) or as a file. */
function pem(pathVariable: string, path: string | undefined, data: string | undefined): Buffer | undefined {
  if (data !== undefined) return Buffer.from(data, 'utf8');
  return path ? readPem(pathVariable, path) : undefined;
}

/** Connection options shared by the client (`Connection`) and the worker (`NativeConnection`). */
export function buildConnectionOptions(
  config: ConnectionConfig,
): Pick<ConnectionOptions, 'address' | 'tls'> & { apiKey?: string } {
  const crt = pem('TEMPORAL_TLS_CERT', config.TEMPORAL_TLS_CERT, config.TEMPORAL_TLS_CLIENT_CERT_DATA);
  const key = pem('TEMPORAL_TLS_KEY', config.TEMPORAL_TLS_KEY, config.TEMPORAL_TLS_CLIENT_KEY_DATA);
  const ca = pem('TEMPORAL_TLS_CA', config.TEMPORAL_TLS_CA, config.TEMPORAL_TLS_SERVER_CA_CERT_DATA);
  const useTls =
    config.TEMPORAL_TLS || Boolean(crt && key) || Boolean(ca) || Boolean(config.TEMPORAL_API_KEY);
  const tls = useTls
    ? {
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(config.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : undefined;
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(tls ? { tls } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}

/**
 * Connects a client to the configured server and namespace, with the shared data converter (encryption) and,
 * with `DLQ_TRACING=on`, the OpenTelemetry client interceptor (`publish` then traces: README → Tracing).
 */
export async function connectClient(
  config: ConnectionConfig &
    Pick<Config, 'TEMPORAL_NAMESPACE'> &
    Partial<Pick<Config, 'DLQ_TRACING'>> &
    EncryptionConfig,
): Promise<Client> {
  const dataConverter = dataConverterFromConfig(config);
  const connection = await Connection.connect(buildConnectionOptions(config));
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter,
    ...(config.DLQ_TRACING === 'on' ? { interceptors: { workflow: tracingClientInterceptors() } } : {}),
  });
}
