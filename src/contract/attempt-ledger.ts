/**
 * The attempt ledger of a stage: which attempts count against its budget, and whether the last one died
 * with its worker. Pure and workflow-safe (the workflow reads it from a heartbeat timeout's details), so it
 * is unit-tested on its own.
 *
 * Temporal counts every attempt of an activity, but when a worker process dies it cannot tell the message
 * that killed it from the messages that were merely running beside it. The ledger travels in the activity's
 * heartbeat details, which the server hands to the next attempt (`activityInfo().heartbeatDetails`):
 *
 * - an attempt records `running` (an awaited heartbeat) before the stage's code starts, `failed` (with
 *   the charge) before it throws, and `waiting` again after the code returned when another attempt may run
 *   alone next in its process (its result reaches the server only after it left the gate); each record
 *   names the server's attempt number that wrote it;
 * - so the next attempt knows how the previous one ended: `running`, written by the attempt just before,
 *   means it died while the stage ran: that attempt is charged, counts as a death, and from then on the
 *   stage runs alone in its worker (see `StageGate`), where a death can only be its own;
 * - `waiting`, nothing, or a record from an earlier attempt means the previous attempt died (or stopped)
 *   while the stage's code was not running (before it ran, or after it returned but before its result
 *   reached the server): not charged;
 * - `failed` means it failed normally and was charged then;
 * - `running` from an attempt that heartbeated until its deadline means it ran out its time (the server's
 *   timeout came before its own failure was recorded): charged as a timeout, not a death.
 *
 * A death while running beside other stages may be another message's doing, so it never spends the budget
 * on its own: when it would, the stage gets one more attempt, alone.
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
  /** ... and it was running alone then, so the death was its own. */
  lastDiedAlone: boolean;
  phase: LedgerPhase;
  /** The server's attempt number of the attempt that wrote this record. */
  attempt: number;
  /** When the running attempt's own deadline falls (its worker's clock, epoch ms). */
  deadlineAt?: number;
  /** When the running attempt last heartbeated (the same clock). */
  beatAt?: number;
  /** What the last charged failure was, so a later attempt can end the stage with it once the budget is spent. */
  lastFailure?: LastFailure;
}

/** The gist of a charged failure (its message bounded to 500 characters). */
export interface LastFailure {
  errorClass: string;
  reason: string;
  type: string;
  message: string;
}

/**
 * How much earlier than its deadline a running attempt may have last heartbeated and still count as having
 * run out its time rather than died: it heartbeats every third of the heartbeat timeout while alive.
 */
function ranOutItsTime(recorded: AttemptLedger, heartbeatMs: number): boolean {
  return (
    recorded.deadlineAt !== undefined &&
    recorded.beatAt !== undefined &&
    recorded.beatAt >= recorded.deadlineAt - heartbeatMs
  );
}

export function isLedger(value: unknown): value is AttemptLedger {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.charged === 'number' &&
    typeof v.deaths === 'number' &&
    typeof v.solo === 'boolean' &&
    typeof v.lastDied === 'boolean' &&
    typeof v.lastDiedAlone === 'boolean' &&
    typeof v.attempt === 'number' &&
    (v.phase === 'waiting' || v.phase === 'running' || v.phase === 'failed')
  );
}

/**
 * The ledger at the start of server attempt `attempt`, from the last record (`recorded`, the heartbeat
 * details the server kept) or, for the first activity attempt, from what the workflow knows: attempts
 * already made (`charged`, 1 after a failed local first attempt) and whether that earlier attempt may have
 * died with its worker (`suspect`: a local attempt lost with its workflow task, beside other stages).
 * `charged` says whether this start charged a death (the attempt must then record the new ledger at once,
 * so no later attempt charges the same death again).
 */
export function ledgerAtStart(
  recorded: unknown,
  attempt: number,
  first: { charged: number; suspect: boolean },
  heartbeatMs = 0,
): { ledger: AttemptLedger; chargedDeath: boolean; chargedTimeout: boolean } {
  if (!isLedger(recorded)) {
    return {
      ledger: {
        charged: first.charged,
        deaths: first.suspect ? 1 : 0,
        solo: first.suspect,
        lastDied: first.suspect,
        lastDiedAlone: false,
        phase: 'waiting',
        attempt,
      },
      chargedDeath: false,
      chargedTimeout: false,
    };
  }
  const { deadlineAt: _deadlineAt, beatAt: _beatAt, ...kept } = recorded;
  if (
    recorded.phase === 'running' &&
    recorded.attempt === attempt - 1 &&
    ranOutItsTime(recorded, heartbeatMs)
  ) {
    return {
      ledger: {
        ...ledgerAfterFailure(kept, {
          errorClass: 'timeout',
          reason: 'TIMEOUT',
          type: 'TimeoutError',
          message: 'the attempt ran until its timeout',
        }),
        phase: 'waiting',
        attempt,
      },
      chargedDeath: false,
      chargedTimeout: true,
    };
  }
  if (recorded.phase === 'running' && recorded.attempt === attempt - 1) {
    return {
      ledger: {
        charged: recorded.charged + 1,
        deaths: recorded.deaths + 1,
        solo: true,
        lastDied: true,
        lastDiedAlone: recorded.solo,
        phase: 'waiting',
        attempt,
      },
      chargedDeath: true,
      chargedTimeout: false,
    };
  }
  return { ledger: { ...kept, phase: 'waiting', attempt }, chargedDeath: false, chargedTimeout: false };
}

/**
 * What ends the stage before this attempt runs, once the budget is spent: `crashed` when the last charged
 * attempt died running alone (its own death); `failed` when it failed (its final failure may have reached
 * the server after the server's timeout, which then started this attempt); nothing after a death beside
 * others, which never spends the budget on its own: the stage runs once more, alone.
 */
export function spentBudget(ledger: AttemptLedger, budget: number): 'crashed' | 'failed' | undefined {
  if (ledger.charged < budget) return undefined;
  if (ledger.lastDied) return ledger.lastDiedAlone ? 'crashed' : undefined;
  return 'failed';
}

/** The ledger an attempt records when it fails normally: charged, not a death. */
export function ledgerAfterFailure(ledger: AttemptLedger, failure: LastFailure): AttemptLedger {
  return {
    ...ledger,
    charged: ledger.charged + 1,
    lastDied: false,
    lastDiedAlone: false,
    phase: 'failed',
    lastFailure: { ...failure, message: failure.message.slice(0, 500) },
  };
}

/** The attempt number the stage sees: charged attempts so far, plus this one. */
export function attemptNumber(ledger: AttemptLedger): number {
  return ledger.charged + 1;
}

/** Whether a heartbeat timeout's last details show deaths the ledger charged (else it was no crash). */
export function showsDeaths(details: unknown): boolean {
  return isLedger(details) && details.deaths > 0;
}
