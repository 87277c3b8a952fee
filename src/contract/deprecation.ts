/**
 * Deprecation warnings of public options: `process.emitWarning` with the type `DeprecationWarning` and a code,
 * once per process for each code (node's `--no-deprecation` silences them, `--throw-deprecation` makes them
 * throw). Workflow-safe: the workflow sandbox has no `process`, and workflow code reads no public option.
 */

/** Every deprecation, by code, with what to give instead. docs/upgrades.md lists them. */
export const DEPRECATIONS = {
  DLQ_DEP_REDRIVE_BASE_DELAY_MS:
    "defineHandler's `redrive.baseDelayMs` is deprecated: give `redrive.baseDelay` as a duration, e.g. '5m'",
  DLQ_DEP_REDRIVE_MAX_DELAY_MS:
    "defineHandler's `redrive.maxDelayMs` is deprecated: give `redrive.maxDelay` as a duration, e.g. '6h'",
  DLQ_DEP_RETRY_AFTER_MS:
    "the error option `retryAfterMs` is deprecated: give `retryAfter` as a duration, e.g. '30s'",
  DLQ_DEP_RETENTION_MS:
    "a retention in milliseconds (setupServer's `retentionMs`, a number given to ensureRetention) is deprecated: give `retention` as a duration, e.g. '30d'",
  DLQ_DEP_ANALYTICS_INTERVAL_MS:
    "ensureAnalyticsSchedule's `interval` as a number of milliseconds is deprecated: give a duration, e.g. '5m'",
} as const;

export type DeprecationCode = keyof typeof DEPRECATIONS;

const warned = new Set<DeprecationCode>();

/** Emits the deprecation warning of `code`, the first time in this process only. */
export function warnDeprecated(code: DeprecationCode): void {
  if (warned.has(code) || typeof process === 'undefined') return;
  warned.add(code);
  process.emitWarning(DEPRECATIONS[code], { type: 'DeprecationWarning', code });
}
