/** Durations as `500ms`, `30s`, `5m`, `2h`, `14d` (or a bare number of ms). Workflow-safe. */
import { warnDeprecated } from './deprecation';
import type { DeprecationCode } from './deprecation';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const DURATION_HINT = 'a duration such as 500ms, 30s, 5m, 2h or 14d';

/**
 * Parses a duration into milliseconds, or answers undefined (callers then name {@link DURATION_HINT}).
 * Ours because `ms` (2.1.3; Temporal's tree holds the 3.0.0-canary.1 prerelease) also takes `-1h`, `1y` as 365.25 days and `2 weeks`, and rejects ` 5m`.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? 'ms') as keyof typeof UNIT_MS;
  const value = Math.round(Number(match[1]) * UNIT_MS[unit]);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Formats milliseconds as the largest whole unit, e.g. 86400000 → `1d`, so that it parses back exactly.
 * Ours because `ms`'s formatter rounds (90000 → `2m`), which would not parse back to the same value.
 */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A duration option given as text (`name`) or in its deprecated millisecond form (`<name>Ms`, which emits the
 * deprecation warning `code`): its milliseconds (0 or more; callers check their own bounds), or the problem
 * with it. Giving both is a problem; giving neither answers `{}`.
 */
export function durationOption(
  name: string,
  text: unknown,
  legacyMs: unknown,
  code: DeprecationCode,
): { ms?: number; problem?: string } {
  if (text !== undefined && legacyMs !== undefined)
    return { problem: `${name}: give ${name} or the deprecated ${name}Ms, not both` };
  if (legacyMs !== undefined) {
    warnDeprecated(code);
    return typeof legacyMs === 'number' && Number.isFinite(legacyMs) && legacyMs >= 0
      ? { ms: legacyMs }
      : { problem: `${name}Ms: must be a number of milliseconds, 0 or more` };
  }
  if (text === undefined) return {};
  const ms = typeof text === 'string' ? parseDuration(text) : undefined;
  return ms !== undefined ? { ms } : { problem: `${name}: must be ${DURATION_HINT}` };
}
