/**
 * Visibility query fragments, defined once: analytics, the `dlq` CLI, the start-up link and the bench build
 * their "parked" and status queries from these. Workflow-safe.
 */
import { DlqStatus } from './search-attributes';
import type { DlqStatusValue } from './types';

/**
 * Running workflows only. A workflow that was terminated (it runs no code, so it cannot record a status)
 * or closed in any other way without recording one keeps its last `DlqStatus`: this is what keeps it out
 * of the parked and retrying counts.
 */
export const RUNNING = 'ExecutionStatus = "Running"';

/** The `DlqStatus` values that describe a running workflow: a closed one that still carries them is not parked. */
export const LIVE_STATUSES = ['dead', 'retrying'] as const satisfies readonly DlqStatusValue[];

/** `DlqStatus = "<status>"`, with `AND ExecutionStatus = "Running"` for `dead` and `retrying`. */
export function statusQuery(status: DlqStatusValue): string {
  const match = `${DlqStatus.name} = "${status}"`;
  return (LIVE_STATUSES as readonly string[]).includes(status) ? `${match} AND ${RUNNING}` : match;
}

/** The parked messages: `DlqStatus = "dead" AND ExecutionStatus = "Running"`. */
export const PARKED_QUERY = statusQuery('dead');

/**
 * A visibility datetime literal on a whole second, rounded up (`ceil`) or down (`floor`). `DlqParkedAt` holds
 * whole seconds, and the dev server's SQLite compares datetimes as text while PostgreSQL compares them as
 * times: a fractional literal against a whole-second value can compare differently on the two. With both
 * sides whole seconds and only `<` and `>=`, they agree. For whole-second values `p`, `p < t` is
 * `p < ceil(t)` and `p >= t` is `p >= ceil(t)`.
 */
export function wholeSecondLiteral(ms: number, round: 'ceil' | 'floor'): string {
  const seconds = round === 'ceil' ? Math.ceil(ms / 1000) : Math.floor(ms / 1000);
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
