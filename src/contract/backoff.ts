/** Backoff for automatic re-drives of parked messages. Pure and workflow-safe. */

/**
 * How parked temporary and timeout failures are re-driven automatically, as recorded in the topic policy
 * (in milliseconds, under names that are on the wire). `defineHandler` takes it as `RedriveOptions`, with
 * durations such as `'5m'`.
 */
export interface RedrivePolicy {
  /** Re-drive at all. @defaultValue true */
  enabled: boolean;
  /** Delay before the first re-drive, in ms. @defaultValue 300000 (5 minutes) */
  baseDelayMs: number;
  /** Growth of the delay per re-drive. @defaultValue 2 */
  multiplier: number;
  /** Longest delay, in ms. @defaultValue 21600000 (6 hours) */
  maxDelayMs: number;
  /** Re-drives before the message stays parked for an operator. @defaultValue 3 */
  maxRedrives: number;
}

export const DEFAULT_REDRIVE_POLICY: RedrivePolicy = {
  enabled: true,
  baseDelayMs: 5 * 60_000,
  multiplier: 2,
  maxDelayMs: 6 * 3_600_000,
  maxRedrives: 3,
};

/** Delay before re-drive number `redrivesDone + 1`, or undefined when no more re-drives are allowed. */
export function redriveDelayMs(policy: RedrivePolicy, redrivesDone: number): number | undefined {
  if (!policy.enabled || redrivesDone >= policy.maxRedrives) return undefined;
  const delay = policy.baseDelayMs * Math.pow(policy.multiplier, redrivesDone);
  return Math.min(Math.round(delay), policy.maxDelayMs);
}
