/**
 * State, dead letter, audit and operator inputs: JSON-safe types shared by workflows, activities,
 * the client and the CLI. Workflow-safe.
 */
import type { z } from 'zod';
import type { discardInputSchema, retryInputSchema } from './operator-input';
import type { Envelope } from './envelope';
import type { ErrorClass } from './errors';
import type { TopicPolicy } from './topic-policy';

/**
 * The one status vocabulary: where a message is in its lifecycle (`MessageState.status`, the `state` query).
 * The `DlqStatus` search attribute takes a named subset of these values ({@link DLQ_STATUS_VALUES}).
 */
export const MESSAGE_STATUSES = [
  'processing',
  'dead',
  'retrying',
  'succeeded',
  'recovered',
  'discarded',
  'expired',
  'cancelled',
] as const;
/** Where a message is in its lifecycle. */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses of a message that never parked: `DlqStatus` is written only once a message has parked. */
const NEVER_PARKED_STATUSES = ['processing', 'succeeded'] as const satisfies readonly MessageStatus[];
/**
 * Values of the `DlqStatus` search attribute: the message statuses but those of a message that never parked
 * (`dead`, `retrying`, `recovered`, `discarded`, `expired`, `cancelled`). `retrying` is set while an
 * operator's retry runs; `cancelled` when the workflow was cancelled (a terminated workflow runs no code:
 * queries of parked messages also require `ExecutionStatus = 'Running'`).
 */
export type DlqStatusValue = Exclude<MessageStatus, (typeof NEVER_PARKED_STATUSES)[number]>;
export const DLQ_STATUS_VALUES: readonly DlqStatusValue[] = MESSAGE_STATUSES.filter(
  (status): status is DlqStatusValue => !(NEVER_PARKED_STATUSES as readonly string[]).includes(status),
);

/** Input of the `retry` signal and the `repair` update (validated by `retryInputSchema`). */
export type RetryInput = z.output<typeof retryInputSchema>;
/** Input of the `discard` signal (validated by `discardInputSchema`). */
export type DiscardInput = z.output<typeof discardInputSchema>;

/** Everything a person needs to fix a parked message. */
export interface DeadLetter {
  workflowId: string;
  messageId: string;
  topic: string;
  payload: unknown;
  payloadVersion: number;
  errorClass: ErrorClass;
  /** `ApplicationFailure.type` of the failure. */
  errorType: string;
  reason: string;
  /** Reason code of the underlying failure when `reason` is `RETRY_EXHAUSTED`. */
  causeReason?: string;
  /**
   * The reason code as the failure gave it, when it was not a valid code (`^[A-Z0-9_]{1,64}$`): `reason`
   * then holds a normalised form, since it becomes a search-attribute value.
   */
  originalReason?: string;
  message: string;
  stack?: string;
  details?: unknown;
  attempts: number;
  firstFailureAt: string;
  lastFailureAt: string;
  parkedAt: string;
  stage: string;
  fingerprint: string;
  correlationId?: string;
  traceId?: string;
  source?: string;
  headers: Record<string, string>;
  workerIdentity?: string;
  /** Times this message has been parked, this time included. */
  parkCount: number;
  /** When the next automatic re-drive is due, if one is. */
  nextRedriveAt?: string;
  /** When the message expires if nobody acts. */
  expiresAt: string;
}

export type AuditAction =
  | 'parked'
  | 'retry'
  | 'retry-rejected'
  | 'redrive'
  | 'discard'
  | 'discard-rejected'
  | 'ignored'
  | 'recovered'
  | 'expired'
  | 'continued-as-new'
  | 'cancelled';

/** One entry of the audit trail: who did what, when, why, and the payload version before and after. */
export interface AuditEntry {
  at: string;
  action: AuditAction;
  via: 'signal' | 'update' | 'auto';
  operator?: string;
  reason?: string;
  payloadVersionBefore: number;
  payloadVersionAfter: number;
  /** Rejection reasons, or other detail. */
  problems?: string[];
}

/** The whole state of a message workflow; carried through continue-as-new. */
export interface MessageState {
  status: MessageStatus;
  envelope: Envelope;
  payloadVersion: number;
  completedStages: string[];
  stageResults: Record<string, unknown>;
  /** Processing cycles started after the first: each operator retry or automatic re-drive adds one. */
  cycle: number;
  redrives: number;
  parkCount: number;
  firstFailureAt?: string;
  deadLetter?: DeadLetter;
  audit: AuditEntry[];
  /** Rejected or ignored actions dropped from `audit` to keep the state bounded (see MAX_AUDIT_ENTRIES). */
  auditDropped?: number;
  /**
   * The topic's policy for the current cycle, as the worker answered it. Named `route` on the wire: the
   * field is in every state carried through continue-as-new and in the `state` query's answer, so it keeps
   * its name.
   */
  route?: TopicPolicy;
}

/**
 * The state carried through continue-as-new. The payload travels once, in the input's `envelope`: the
 * carried state leaves out its own `envelope` and the dead letter's `payload` when it is the same version
 * (runs continued by older releases carried all three).
 */
export type CarriedState = Omit<MessageState, 'envelope' | 'deadLetter'> & {
  envelope?: Envelope;
  deadLetter?: Omit<DeadLetter, 'payload'> & { payload?: unknown };
};

/** Input of `processMessage`. `carried` is set only by continue-as-new. */
export interface ProcessMessageInput {
  envelope: Envelope;
  carried?: CarriedState;
}

/** Result of `processMessage`: the final status with the dead letter and audit trail as evidence. */
export interface MessageOutcome {
  status: Extract<MessageStatus, 'succeeded' | 'recovered' | 'discarded' | 'expired'>;
  workflowId: string;
  messageId: string;
  topic: string;
  payloadVersion: number;
  stageResults: Record<string, unknown>;
  /** The payload of the last processing cycle: the one that succeeded, or the one parked when discarded or expired. */
  payload?: unknown;
  deadLetter?: DeadLetter;
  audit: AuditEntry[];
}

/**
 * What the `repair` update answers when it accepts a repair: only once the retry is applied, so an accepted
 * repair is the one that runs. With `dryRun`, every check ran and nothing changed.
 */
export interface RepairAccepted {
  accepted: true;
  workflowId: string;
  /** The payload version the retry runs (or would run) with. */
  payloadVersion: number;
  dryRun?: true;
}

/** Details an activity attaches to every failure it throws (`ApplicationFailure.details[0]`). */
export interface FailureDetails {
  reason: string;
  errorClass: ErrorClass;
  attempt: number;
  stage: string;
  name: string;
  stack?: string;
  workerIdentity: string;
  extra?: unknown;
  /** Backoff the failure asked for (`Retry-After`); honoured before the first activity retry of a local attempt. */
  nextRetryDelayMs?: number;
  /** The stage's attempt budget is spent: the failure is final (parked as `RETRY_EXHAUSTED`). */
  exhausted?: boolean;
}

/** Input of the `runStage` activity. */
export interface StageInput {
  workflowId: string;
  stage: string;
  /** `<workflowId>:<stage>:<repairs>`: the same for every attempt, re-drive and retry of one payload version. */
  idempotencyKey: string;
  cycle: number;
  envelope: Envelope;
  /** Results of the stages that already succeeded, by stage name. */
  previous: Record<string, unknown>;
  /** Attempts already made before this activity's own (1 after a failed local first attempt). @defaultValue `0` */
  attemptOffset?: number;
  /** The stage's attempt budget (`retry.maximumAttempts`), kept by the attempt ledger. Absent in older histories. */
  attemptBudget?: number;
  /** The earlier attempt may have died with its worker (a local attempt lost with its workflow task). */
  suspect?: boolean;
  /** A local attempt checks first that its workflow task is not a retry (revision 3). */
  guardLocal?: boolean;
  /** Version of `envelope.payload`: 1 as published, +1 per repair. */
  payloadVersion?: number;
}

/** Answer of the `validatePayload` activity: empty `problems` means valid. */
export interface PayloadVerdict {
  problems: string[];
  issues?: unknown;
}
