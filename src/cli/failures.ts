/**
 * How the `dlq` CLI reports a failure: every error is classified by its type (never its text) into one stable
 * code with one exit code, and printed either as one `error: …` line or, with `--json`, as one JSON document on
 * stderr. Pure except for the version lookup, so the classification is unit-tested.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CommanderError } from 'commander';
import { ConfigError } from '../config';
import {
  ConnectionError,
  EXIT_CONNECTION_ERROR,
  EXIT_INTERNAL_ERROR,
  EXIT_OK,
  EXIT_USER_ERROR,
  UserError,
} from './context';
import { hasGrpcCode } from './messages';

/**
 * The `code` of a failure in `--json` mode (`{"error":{"code","message"}}` on stderr), with its exit code:
 * - `usage` (1): the command line is wrong: an unknown command or option, a missing argument, a bad choice;
 * - `user` (1): the command is well formed but what it names or carries is refused: an unknown id, a malformed
 *   or rejected patch, refused messages, a bulk run not confirmed;
 * - `config` (2): the environment is invalid (a bad `TEMPORAL_*`/`DLQ_*` variable or an unreadable PEM file);
 * - `unreachable` (2): the Temporal server cannot be reached (at connect time or during the command);
 * - `internal` (3): anything else, an unexpected failure (a bug, or a server answer the CLI does not expect).
 */
export type FailureCode = 'usage' | 'user' | 'config' | 'unreachable' | 'internal';

export const EXIT_CODES: Readonly<Record<FailureCode, number>> = {
  usage: EXIT_USER_ERROR,
  user: EXIT_USER_ERROR,
  config: EXIT_CONNECTION_ERROR,
  unreachable: EXIT_CONNECTION_ERROR,
  internal: EXIT_INTERNAL_ERROR,
};

/** A classified failure. */
export interface CliFailure {
  code: FailureCode;
  exitCode: number;
  message: string;
  /** Each bad variable of a `config` failure. */
  problems?: string[];
  /** Only for `internal` failures. */
  stack?: string;
}

/** gRPC status UNAVAILABLE (see grpc/status.proto): the server went away or never answered. */
const GRPC_UNAVAILABLE = 14;

/** Commander's own exits that are not failures (help asked for, `--version`). */
export function isCommanderSuccess(err: unknown): boolean {
  return err instanceof CommanderError && err.exitCode === EXIT_OK;
}

/** Classifies anything a command threw. Never reads message text. */
export function classifyCliFailure(err: unknown): CliFailure {
  if (err instanceof CommanderError) {
    return { code: 'usage', exitCode: EXIT_CODES.usage, message: err.message.replace(/^error: /, '') };
  }
  if (err instanceof UserError) return { code: 'user', exitCode: EXIT_CODES.user, message: err.message };
  if (err instanceof ConfigError) {
    return {
      code: 'config',
      exitCode: EXIT_CODES.config,
      message: `invalid configuration: ${err.problems.join('; ')}`,
      problems: err.problems,
    };
  }
  if (err instanceof ConnectionError) {
    return { code: 'unreachable', exitCode: EXIT_CODES.unreachable, message: err.message };
  }
  if (hasGrpcCode(err, GRPC_UNAVAILABLE)) {
    const message = `the Temporal server became unavailable: ${oneLine(errorText(err))}`;
    return { code: 'unreachable', exitCode: EXIT_CODES.unreachable, message };
  }
  const text = err instanceof Error ? `${err.name}: ${err.message}` : `thrown value: ${String(err)}`;
  return {
    code: 'internal',
    exitCode: EXIT_CODES.internal,
    message: oneLine(text),
    ...(err instanceof Error && err.stack ? { stack: err.stack } : {}),
  };
}

/** How to show a failure: `json` for `--json` runs, `verbose` for `--verbose` or `DEBUG=dlq`. */
export interface FailureFormat {
  json: boolean;
  verbose: boolean;
}

/**
 * The text written to stderr for a failure (without a trailing newline): one `error: …` line (a `user` error's
 * message may list its problems on further lines), or one JSON document. The stack of an `internal` failure
 * only when verbose.
 */
export function formatFailure(failure: CliFailure, format: FailureFormat): string {
  const stack = format.verbose ? failure.stack : undefined;
  if (format.json) {
    const { code, message, problems } = failure;
    return JSON.stringify({
      error: { code, message, ...(problems ? { problems } : {}), ...(stack ? { stack } : {}) },
    });
  }
  if (failure.code !== 'internal') return `error: ${failure.message}`;
  if (stack) return `error: unexpected failure: ${stack}`;
  return `error: unexpected failure: ${failure.message} (run with --verbose or DEBUG=dlq for the stack)`;
}

/** True when `--json` is on the command line (before a `--` that ends the options). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** The version in this package's package.json (found upwards from this file, in the source tree or dist/). */
export function packageVersion(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'temporal-dlq' && typeof pkg.version === 'string') return pkg.version;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of temporal-dlq above ${from}`);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
