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

export type HistoryScenario = (typeof REQUIRED_HISTORY_SCENARIOS)[number];
