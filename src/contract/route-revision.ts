/**
 * The revision of the message rules a worker records with each route (`Route.revision`). Workflow code
 * branches on the revision recorded in the history, never on the code running now, so messages started or
 * parked by an older release replay with the commands they were written with. Raise it for every change
 * of the workflow's commands, and keep the old branch. Workflow-safe.
 *
 * - absent: before revisions (local first attempts when `firstAttempt` is recorded);
 * - 3: the attempt ledger and `WORKER_CRASHED`, local first attempts that refuse to run in a retried
 *   workflow task, bounded stage results, `NO_HANDLER` re-driven, idempotency keys per payload version;
 * - 4: the park memo (`src/contract/park-memo.ts`) and `DlqMessageId` written when the message parks. (A
 *   `patched()` marker was tried first: a query that replayed such a history on a loaded worker failed with
 *   "patch marker encountered … but there is no corresponding change command"; the recorded revision has no
 *   marker to miss.)
 */
export const ROUTE_REVISION = 4;

/** The revision a recorded route follows. */
export function revisionOf(route: { revision?: number } | undefined): number {
  return route?.revision ?? 0;
}
