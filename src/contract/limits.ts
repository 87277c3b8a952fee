/**
 * Size limits that keep every value crossing Temporal's wire far below its 2 MB payload limit (the server
 * warns at 512 KB). A value over the limit would fail the workflow task on every retry, leaving the message
 * stuck; these bounds turn it into a parked message with a reason instead. Workflow-safe.
 *
 * The whole state of a message stays under about 1.5 MB: the payload twice at most (the current one and the
 * one in the dead letter, each at most `DLQ_MAX_PAYLOAD_BYTES` ≤ 512 KiB), the stage results, the audit
 * trail and the failure details.
 */

/** Largest `DLQ_MAX_PAYLOAD_BYTES` accepted. */
export const MAX_PAYLOAD_BYTES_LIMIT = 512 * 1024;
/** Largest result of one stage, in bytes of JSON; a larger one parks the message with `RESULT_TOO_LARGE`. */
export const MAX_STAGE_RESULT_BYTES = 128 * 1024;
/** Largest sum of a message's stage results. */
export const MAX_STAGE_RESULTS_BYTES = 256 * 1024;
/** Largest audit trail; beyond it the oldest rejected or ignored entries are dropped (and counted). */
export const MAX_AUDIT_BYTES = 128 * 1024;
/** Largest failure details kept in a dead letter; larger ones are replaced by a truncated preview. */
export const MAX_FAILURE_DETAILS_BYTES = 16 * 1024;
/** Longest failure message and stack kept. */
export const MAX_FAILURE_MESSAGE = 2_000;
export const MAX_FAILURE_STACK = 8_000;
/**
 * Largest park memo (the dead letter copied into the workflow's memo when it parks), in bytes of JSON. The
 * server warns above 2 KiB per memo (`limit.memoSize.warn`), and every byte is stored in the visibility
 * row of every parked message; what does not fit is left out in a fixed order (see `src/contract/park-memo.ts`).
 */
export const MAX_PARK_MEMO_BYTES = 1_800;
/** Longest failure message the park memo keeps (the dead letter keeps `MAX_FAILURE_MESSAGE`). */
export const MAX_PARK_MEMO_MESSAGE = 500;
