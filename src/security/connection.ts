/** Builds Temporal connection options (plain, TLS, mTLS or API key) from config. */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import { ConfigError } from '../config';
import type { Config } from '../config';
import { dataConverterFromConfig } from './data-converter';
import type { EncryptionConfig } from './data-converter';

type ConnectionConfig = Pick<
  Config,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_CERT'
  | 'TEMPORAL_TLS_KEY'
  | 'TEMPORAL_TLS_CA'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
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

/** Connection options shared by the client (`Connection`) and the worker (`NativeConnection`). */
export function buildConnectionOptions(
  config: ConnectionConfig,
): Pick<ConnectionOptions, 'address' | 'tls'> & { apiKey?: string } {
  const mtls = config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY;
  const useTls =
    config.TEMPORAL_TLS ||
    Boolean(mtls) ||
    Boolean(config.TEMPORAL_TLS_CA) ||
    Boolean(config.TEMPORAL_API_KEY);
  const tls = useTls
    ? {
        ...(mtls
          ? {
              clientCertPair: {
                crt: readPem('TEMPORAL_TLS_CERT', config.TEMPORAL_TLS_CERT!),
                key: readPem('TEMPORAL_TLS_KEY', config.TEMPORAL_TLS_KEY!),
              },
            }
          : {}),
        ...(config.TEMPORAL_TLS_CA
          ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA', config.TEMPORAL_TLS_CA) }
          : {}),
        ...(config.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : undefined;
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(tls ? { tls } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}

/** Connects a client to the configured server and namespace, with the shared data converter (encryption). */
export async function connectClient(
  config: ConnectionConfig & Pick<Config, 'TEMPORAL_NAMESPACE'> & EncryptionConfig,
): Promise<Client> {
  const dataConverter = dataConverterFromConfig(config);
  const connection = await Connection.connect(buildConnectionOptions(config));
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
}
