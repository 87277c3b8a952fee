/**
 * The flags of every `dlq bridge <source>`, from the command line or from `DLQ_BRIDGE_*` environment variables
 * (a flag wins over its variable), validated by one zod schema per source. A new source (e.g. the outbox
 * relay's `dlq bridge outbox`) declares its `BridgeFlagSpec` list and calls `parseBridgeFlags` with its schema:
 * errors then name both the flag and the variable.
 */
import { z } from 'zod';
import { UserError } from './context';

/** One flag of a bridge: its commander key (camelCase) and the environment variable that can set it. */
export interface BridgeFlagSpec {
  /** commander's key, e.g. `maxInFlight` for `--max-in-flight`. */
  key: string;
  /** e.g. `DLQ_BRIDGE_MAX_IN_FLIGHT`. */
  env: string;
}

/** `maxInFlight` → `--max-in-flight`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The variables shared by every bridge. */
export const COMMON_BRIDGE_FLAGS: readonly BridgeFlagSpec[] = [
  { key: 'progressEvery', env: 'DLQ_BRIDGE_PROGRESS_EVERY' },
];

/** Every `DLQ_BRIDGE_*` variable a bridge reads, for the docs check. */
export function bridgeVariables(specs: readonly BridgeFlagSpec[]): string[] {
  return specs.map((s) => s.env);
}

/**
 * Merges the command line over the environment and validates the whole with `schema`. A flag commander left
 * undefined falls back to its variable; an empty variable counts as unset. Throws `UserError` (exit 1) listing
 * every bad field as `--flag (DLQ_BRIDGE_…): problem`.
 */
export function parseBridgeFlags<S extends z.ZodType>(
  schema: S,
  specs: readonly BridgeFlagSpec[],
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): z.output<S> {
  const merged: Record<string, unknown> = {};
  for (const spec of specs) {
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') merged[spec.key] = fromEnv;
  }
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) merged[key] = value;
  const parsed = schema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const byKey = new Map(specs.map((s) => [s.key, s.env]));
  const lines = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const variable = byKey.get(key);
    const where = key ? `${flagName(key)}${variable ? ` (${variable})` : ''}` : '(flags)';
    const message =
      issue.code === 'invalid_type' && merged[key] === undefined
        ? `is required: give the flag or set ${variable ?? 'it'}`
        : issue.message;
    return `  - ${where}: ${message}`;
  });
  throw new UserError(`invalid flags:\n${lines.join('\n')}`);
}

/** `--progress-every` / `DLQ_BRIDGE_PROGRESS_EVERY`: seconds between progress lines, 0 for only the end. */
export const progressEverySchema = z
  .string()
  .regex(/^\d+$/, { error: 'must be a whole number of seconds' })
  .default('5')
  .transform(Number);
