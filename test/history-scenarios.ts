/**
 * The lifecycle paths that must each have a history recorded by the current code at the top level of
 * test/histories/ (`npm run histories:record`), for test/replay.test.ts. A name is the file name without
 * `.json`, as the test that records it passes it to `recordHistory()`.
 */
export const REQUIRED_HISTORY_SCENARIOS = [
  'succeeded',
  'parked-temporary',
  'recovered-after-patch',
  'discarded',
  'stages-resumed',
  'redrive-recovered',
  'expired',
  'continued-as-new-final',
  'security-parked',
  'parked-timeout',
  'cancelled-in-local-attempt',
  'retry-after-local-attempt',
  'analytics-run-1',
  'analytics-run-2',
  // Added for the reliability work (issue 13 item 12).
  /** A `retry` signal accepted and run (the Web UI's path). */
  'signal-retry-accepted',
  /** Parked because no worker registered the topic. */
  'no-handler',
  /** Cancelled while parked. */
  'cancelled-while-dead',
  /** A repair whose schema check could not run (no worker answered `validatePayload`). */
  'validation-unavailable',
  /** Parked after its worker died in the stage (recorded by test/poison.test.ts, `firstAttempt: 'local'`). */
  'worker-crashed',
  /** A stage threw the user's own `ApplicationFailure`. */
  'user-application-failure',
] as const;

/**
 * Revision 5 (dead letters mirrored out): recorded with sinks and an alert webhook configured, so their
 * histories hold the `deliverMirrorEvent` commands (test/sinks.test.ts, test/immediate-alerts.test.ts).
 */
export const MIRROR_HISTORY_SCENARIOS = [
  /** Parked, mirrored to NATS and PostgreSQL, repaired; the resolution awaited before completing. */
  'mirrored-recovered',
  /** Parked and mirrored, then discarded. */
  'mirrored-discarded',
  /** Parked and mirrored, then cancelled: the `cancelled` resolution in a non-cancellable scope. */
  'mirrored-cancelled',
  /** Sinks down: retried by the operator, recovered, the events recorded in `DlqUndelivered`. */
  'mirror-undelivered-recovered',
  /** A security failure's immediate alert, refused once, then delivered. */
  'alert-webhook-delivered',
  /** A security failure's immediate alert that no webhook took within its budget. */
  'alert-webhook-undelivered',
] as const;

export type HistoryScenario = (typeof REQUIRED_HISTORY_SCENARIOS)[number];
