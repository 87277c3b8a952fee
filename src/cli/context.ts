/**
 * What every `dlq` command shares: config, a lazily connected client, output helpers and exit codes.
 * Exit codes: 0 ok, 1 a user error (unknown id, bad input), 2 a connection or config error.
 */
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import type { Config } from '../config';
import { connectClient } from '../connection';

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_CONNECTION_ERROR = 2;

/** A problem caused by what the user typed: exit code 1. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** The server could not be reached or the config is bad: exit code 2. */
export class ConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export interface CliContext {
  config(): Config;
  client(): Promise<Client>;
  /** Human output (stdout). */
  print(text: string): void;
  /** Machine output: one JSON document (stdout). */
  json(value: unknown): void;
  /** Diagnostics (stderr). */
  warn(text: string): void;
  /** True when stdout is a terminal: colours and progress bars only then. */
  isTty: boolean;
  close(): Promise<void>;
}

export function createCliContext(env: NodeJS.ProcessEnv = process.env): CliContext {
  let config: Config | undefined;
  let client: Client | undefined;
  const getConfig = () => {
    try {
      config ??= loadConfig(env);
      return config;
    } catch (err) {
      if (err instanceof ConfigError) throw new ConnectionError(err.message);
      throw err;
    }
  };
  return {
    config: getConfig,
    async client() {
      if (client) return client;
      const cfg = getConfig();
      try {
        client = await connectClient(cfg);
        await client.connection.workflowService.getSystemInfo({});
      } catch (err) {
        throw new ConnectionError(
          `Cannot reach Temporal at TEMPORAL_ADDRESS=${cfg.TEMPORAL_ADDRESS} (namespace ${cfg.TEMPORAL_NAMESPACE}): ${
            err instanceof Error ? err.message : String(err)
          }. Start a server with \`npm start\` or set TEMPORAL_ADDRESS.`,
        );
      }
      return client;
    },
    print: (text) => process.stdout.write(`${text}\n`),
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    warn: (text) => process.stderr.write(`${text}\n`),
    isTty: Boolean(process.stdout.isTTY),
    async close() {
      await client?.connection.close();
    },
  };
}
