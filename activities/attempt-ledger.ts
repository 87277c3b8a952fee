/**
 * The attempt ledger of a stage: which attempts count against its budget, and whether the last one died
 * with its worker. Pure, so it is unit-tested on its own.
 *
 * Temporal counts every attempt of an activity, but when a worker process dies it cannot tell the message
 * that killed it from the messages that were merely running beside it. The ledger travels in the activity's
 * heartbeat details, which the server hands to the next attempt (`activityInfo().heartbeatDetails`):
 *
 * - an attempt records `running` (an awaited heartbeat) before the stage's code starts, and `failed` (with
 *   the charge) before it throws;
 * - so the next attempt knows how the previous one ended: `running` means it died while the stage ran (or
 *   ran past the server's timeout): that attempt is charged, counts as a death, and from then on the stage
 *   runs alone in its worker (see `StageGate`), where a death can only be its own;
 * - `waiting` (or nothing recorded) means it died before its code started, beside another stage: not
 *   charged;
 * - `failed` means it failed normally and was charged then.
 */

export type LedgerPhase = 'waiting' | 'running' | 'failed';

export interface AttemptLedger {
  /** Attempts charged against the stage's budget, the previous ones. */
  charged: number;
  /** Charged attempts that ended with their worker's death. */
  deaths: number;
  /** The stage runs alone in its worker from now on. */
  solo: boolean;
  /** The last charged attempt ended with its worker's death. */
  lastDied: boolean;
  phase: LedgerPhase;
}

function isLedger(value: unknown): value is AttemptLedger {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.charged === 'number' &&
    typeof v.deaths === 'number' &&
    typeof v.solo === 'boolean' &&
    typeof v.lastDied === 'boolean' &&
    (v.phase === 'waiting' || v.phase === 'running' || v.phase === 'failed')
  );
}

/**
 * The ledger at the start of an attempt, from the previous attempt's heartbeat details (`recorded`) or, for
 * the first activity attempt, from what the workflow knows: attempts already made (`charged`, 1 after a
 * failed local first attempt) and whether that earlier attempt may have died with its worker (`suspect`: a
 * local first attempt lost with its workflow task).
 */
export function ledgerAtStart(
  recorded: unknown,
  first: { charged: number; suspect: boolean },
): AttemptLedger {
  if (!isLedger(recorded)) {
    return {
      charged: first.charged,
      deaths: first.suspect ? 1 : 0,
      solo: first.suspect,
      lastDied: first.suspect,
      phase: 'waiting',
    };
  }
  if (recorded.phase === 'running') {
    return {
      charged: recorded.charged + 1,
      deaths: recorded.deaths + 1,
      solo: true,
      lastDied: true,
      phase: 'waiting',
    };
  }
  return { ...recorded, phase: 'waiting' };
}

/** The ledger an attempt records when it fails normally: charged, not a death. */
export function ledgerAfterFailure(ledger: AttemptLedger): AttemptLedger {
  return { ...ledger, charged: ledger.charged + 1, lastDied: false, phase: 'failed' };
}

/** The attempt number the stage sees: charged attempts so far, plus this one. */
export function attemptNumber(ledger: AttemptLedger): number {
  return ledger.charged + 1;
}
