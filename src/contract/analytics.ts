/**
 * Analytics and alerts: the snapshot computed from visibility, and the result each run returns (and the
 * next run reads as `lastResult`). The schedule's input, `AnalyticsConfig`, is in `./analytics-config`.
 * Workflow-safe: JSON types only.
 */
import type { ErrorClass } from './errors';
import type { AnalyticsConfig } from './analytics-config';

export type { AnalyticsConfig, AnalyticsConfigInput } from './analytics-config';

/** Input of `computeDlqSnapshot`. */
export interface SnapshotInput {
  config: AnalyticsConfig;
  /**
   * `computedAt` of the previous run, for a previous result written before the carried trend (it has no
   * `snapshot.trend`): inflow counts parks from this second on.
   */
  since?: string;
  /** The trend the previous run carries forward (`snapshot.trend` and its buckets). */
  previous?: CarriedTrend;
}

/** What one run hands the next: its window end and its buckets, so the next run only counts what is new. */
export interface CarriedTrend {
  /** The previous run counted parks up to here (exclusive); a whole second. */
  windowEnd: string;
  hourly: ParkBucket[];
  daily: ParkBucket[];
}

/** One failure group: parked messages that share a `DlqFingerprint`. */
export interface FailureGroup {
  fingerprint: string;
  /** Parked messages in the group: exact, or, when `exact` is false, those in the listed sample (a lower bound). */
  count: number;
  /**
   * Whether `count` is exact (a count, or a listing that held every parked message). False when the budget
   * left no count for it. Absent in results written before the visibility budget: exact.
   */
  exact?: boolean;
  errorClass: string;
  reason: string;
  topic: string;
  sampleWorkflowId: string;
  sampleMessageId: string;
}

/**
 * Parks in one time bucket, by `DlqParkedAt`, whatever the message's status now. `parks` is null while the
 * bucket is unknown (a first run, or a gap between runs, that the budget has not filled in yet).
 */
export interface ParkBucket {
  start: string;
  parks: number | null;
}

/** What the visibility store says, at one moment. */
export interface DlqSnapshot {
  computedAt: string;
  /** The base visibility query every count is scoped by. */
  scope: string;
  parked: {
    /** `DlqStatus = 'dead'`. */
    total: number;
    byClass: Record<ErrorClass, number>;
    /**
     * Reasons of parked messages, exact; only non-zero entries. Every reason when the listing held every
     * parked message; otherwise the reasons seen in the listing, most frequent first, as far as the budget goes.
     */
    byReason: Record<string, number>;
    /** Parked messages whose reason is in none of `byReason`'s keys (exact: total minus byReason). */
    otherReasons: number;
    /**
     * Topics of parked messages, exact. Every topic seen plus the registered ones at 0 when the listing held
     * every parked message; otherwise the topics seen in the listing (most frequent first), then the
     * registered ones, as far as the budget goes.
     */
    byTopic: Record<string, number>;
    /** Parked messages whose topic is in none of `byTopic`'s keys (exact: total minus byTopic). */
    otherTopics: number;
    /** Parked messages that were parked before (`DlqParkCount > 1`): re-parked after a retry. */
    reParked: number;
  };
  /** Messages whose operator retry or re-drive is running now. */
  retrying: number;
  resolved: { recovered: number; discarded: number; expired: number };
  /**
   * Messages with a mirror event or immediate alert that no sink took within its budget (`DlqUndelivered`
   * set; open and closed workflows within retention). Null when the visibility budget did not reach the
   * count; absent in results of releases before the sinks.
   */
  undeliveredMirror?: number | null;
  /** recovered ÷ (recovered + reParked), or null when both are 0. */
  requeueSuccessRate: number | null;
  /**
   * Mean `DlqAttempts` of parked messages, or null when none is parked. From the listed sample when the
   * listing did not hold every parked message (`coverage.sampled` says so).
   */
  averageAttempts: number | null;
  /** Parked messages by attempts made (`"1"`, `"2"`, …, `"50+"`); from the listing, like the average. */
  attemptsDistribution: Record<string, number>;
  oldest: OldestParked | null;
  /**
   * 24 clock hours (UTC); the last one holds the window end. Each run adds its own inflow to the buckets
   * it carries from the previous run; see `trend`.
   */
  hourly: ParkBucket[];
  /** 14 days (UTC); the last one holds the window end. */
  daily: ParkBucket[];
  /**
   * Parks in `[since, until)`: from the previous run's window end to this run's, or null on a first run.
   * Both are whole seconds; `until` lags `computedAt` by `settleLag`.
   */
  inflow: { since: string; until?: string; parks: number } | null;
  /**
   * How the hourly and daily buckets were obtained. Absent in results written before the visibility budget
   * (which counted every bucket at every run).
   */
  trend?: TrendInfo;
  topGroups: FailureGroup[];
  /** How many parked messages the listing read, and whether that was all of them. */
  listing: { listed: number; complete: boolean };
  /**
   * What the budget covered. Absent in results written before the visibility budget (every figure was
   * counted, the average attempts included).
   */
  coverage?: Coverage;
  /** Visibility calls this snapshot cost (counts and list pages; a call retried after a rate limit counts once). */
  serverCalls: number;
}

/** The oldest parked message. */
export interface OldestParked {
  workflowId: string;
  messageId: string;
  topic: string;
  parkedAt: string;
  ageMs: number;
  /**
   * False when the bounded search did not prove it the oldest (more than two pages of messages older than
   * the listing's oldest): then it is the oldest found, and `overAge` is exact. Absent in older results: exact.
   */
  exact?: boolean;
  /** Parked messages older than the `oldestAge` threshold, counted when `exact` is false. */
  overAge?: number;
}

/** How the hourly and daily buckets of a snapshot were obtained. */
export interface TrendInfo {
  /** Parks are counted up to here (exclusive): `computedAt` minus `settleLag`, on a whole second. */
  windowEnd: string;
  /** Buckets whose `parks` is null: not known yet. */
  unknownHours: number;
  unknownDays: number;
  /**
   * Buckets this run counted afresh (first run, gap, or a bucket unknown until now). A backfilled bucket
   * counts messages whose last park falls in it; one filled by inflow counts every run's new parks.
   */
  backfilled: number;
}

/** What the visibility budget of a run covered. */
export interface Coverage {
  /** Calls the run was allowed (`visibilityBudget`). */
  budget: number;
  /** Calls a rate limit refused (RESOURCE_EXHAUSTED) and that the run made again after backing off. */
  rateLimited: number;
  /**
   * Figures taken from the listed sample rather than counted, when the listing did not hold every parked
   * message: `attempts` (averageAttempts and attemptsDistribution).
   */
  sampled: Array<'attempts'>;
  /**
   * Values the budget left uncounted, as `reason:<code>`, `topic:<name>` or `group:<fingerprint>`
   * (at most 50 listed; `notCountedMore` counts the rest). An uncounted reason or topic is part of
   * `otherReasons` / `otherTopics`; an uncounted group keeps its listing count (`exact: false`).
   */
  notCounted: string[];
  notCountedMore: number;
}

export type AlertSeverity = 'warning' | 'critical';
export type AlertRule =
  | 'parked-total'
  | 'oldest-age'
  | 'security-parked'
  | 'inflow'
  | 'group-growth'
  | 'analytics-failed'
  | 'mirror-undelivered'
  /** Immediate alert of a message that killed its worker (sent by the message workflow, not by analytics). */
  | 'worker-crashed';

/** A condition that holds now. */
export interface AlertCondition {
  /** The rule, plus `:<fingerprint>` for a failure group. */
  id: string;
  rule: AlertRule;
  severity: AlertSeverity;
  message: string;
  value: number;
  threshold: number;
}

/** An alert that is active, carried from run to run in the result. */
export interface ActiveAlert extends AlertCondition {
  firstFiredAt: string;
  lastNotifiedAt: string;
}

/** What is sent: an alert fired, is still active (re-notified), or resolved. */
export interface AlertNotification extends AlertCondition {
  kind: 'fired' | 'renotified' | 'resolved';
  at: string;
}

/** Where the webhook delivery of this run ended. */
export type WebhookDelivery = 'delivered' | 'failed' | 'disabled' | 'nothing-to-send';

/** The result of one analytics run: the Web UI shows it, and the next run reads it. */
export interface AnalyticsResult {
  version: 1;
  computedAt: string;
  config: AnalyticsConfig;
  snapshot: DlqSnapshot;
  /** Parked total now minus the previous run's, or null on a first run. */
  growth: number | null;
  alerts: {
    active: ActiveAlert[];
    /** Sent by this run (pino always; the webhook when configured). */
    notifications: AlertNotification[];
    webhook: WebhookDelivery;
    /** Notifications the webhook did not take; the next run sends them again. */
    undelivered: AlertNotification[];
    /** Why the webhook delivery failed, when it did. */
    deliveryError?: string;
  };
  summary: string;
}

/** Input of the `deliverAlertWebhook` activity. */
export interface WebhookInput {
  notifications: AlertNotification[];
  /** Stable per run, so a receiver can drop duplicates: `<workflowId>:<runId>`. */
  deliveryId: string;
}

/** Input of the `logAlerts` activity. */
export interface LogAlertsInput {
  notifications: AlertNotification[];
  /** Set when these notifications could not be delivered to a sink. */
  undelivered?: { sink: 'webhook'; error: string };
}
