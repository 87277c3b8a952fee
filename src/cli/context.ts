/**
 * What every `dlq` command shares: config, a lazily connected client, output helpers and exit codes.
 * Exit codes (see ./failures.ts for the `--json` error codes): 0 ok, 1 a usage or user error (bad flag, unknown
 * id, bad input), 2 the configuration is invalid or the server cannot be reached, 3 an unexpected failure.
 */
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import type { Config } from '../config';
import { connectClient } from '../security/connection';

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_CONNECTION_ERROR = 2;
export const EXIT_INTERNAL_ERROR = 3;

/** A problem caused by what the user typed: exit code 1. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** The server could not be reached: exit code 2 (an invalid configuration, a `ConfigError`, exits 2 too). */
export class ConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/**
 * True when `DEBUG` names the CLI the way the `debug` package reads it: a comma- or space-separated list
 * with `dlq`, a `dlq…` pattern, or `*`.
 */
export function debugEnabled(debug: string | undefined): boolean {
  return (debug ?? '').split(/[\s,]+/).some((entry) => entry === '*' || entry.startsWith('dlq'));
}

export interface CliContext {
  config(): Config;
  /** Uses this Temporal client profile (`dlq --profile`); called before the configuration is first read. */
  selectProfile?(name: string): void;
  client(): Promise<Client>;
  /** Human output (stdout). */
  print(text: string): void;
  /** Machine output: one JSON document (stdout). */
  json(value: unknown): void;
  /** Diagnostics (stderr). */
  warn(text: string): void;
  /** True when stdout is a terminal: colours and progress bars only then. */
  isTty: boolean;
  /** True when `DEBUG` names the CLI (`DEBUG=dlq`): an unexpected failure prints its stack, as `--verbose` does. */
  debug?: boolean;
  close(): Promise<void>;
  /** The environment the configuration is read from (the bridges read their `DLQ_BRIDGE_*` flags there). @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
}

export function createCliContext(env: NodeJS.ProcessEnv = process.env): CliContext {
  let config: Config | undefined;
  let client: Client | undefined;
  let profile: string | undefined;
  const getConfig = () => (config ??= loadConfig(env, { profile }));
  return {
    env,
    config: getConfig,
    selectProfile(name) {
      profile = name;
      config = undefined;
    },
    async client() {
      if (client) return client;
      const cfg = getConfig();
      try {
        client = await connectClient(cfg);
        await client.connection.workflowService.getSystemInfo({});
      } catch (err) {
        // A bad PEM file or encryption key is the configuration's fault, not the server's.
        if (err instanceof ConfigError) throw err;
        throw new ConnectionError(
          `cannot reach Temporal at TEMPORAL_ADDRESS=${cfg.TEMPORAL_ADDRESS} (namespace ${cfg.TEMPORAL_NAMESPACE}): ${
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
    debug: debugEnabled(env.DEBUG),
    async close() {
      await client?.connection.close();
    },
  };
}
