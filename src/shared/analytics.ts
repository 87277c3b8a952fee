/**
 * Analytics and alerts: the schedule's input (`AnalyticsConfig`, zod-validated), the snapshot computed
 * from visibility, and the result each run returns (and the next run reads as `lastResult`).
 * Workflow-safe: JSON types and zod only.
 */
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from './duration';
import { topicSchema } from './envelope';
import type { ErrorClass } from './errors';

const durationText = z.string().refine(
  (text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms > 0;
  },
  { message: `must be ${DURATION_HINT}` },
);

const count = z
  .number({ error: 'must be a whole number' })
  .int('must be a whole number')
  .min(0, 'must be 0 or more');

/**
 * The analytics configuration: the schedule's workflow input. Every threshold is "alert when the value is
 * above it". Changed at run time with `dlq config set`; the next run uses it.
 */
export const analyticsConfigSchema = z.strictObject({
  /** Registered topics: each gets its own count in the by-topic breakdown. @defaultValue `[]` */
  topics: z.array(topicSchema).max(200, 'at most 200 topics').default([]),
  /**
   * Extra visibility filter ANDed to every query, e.g. `DlqTopic IN ('orders','payments')`.
   * @defaultValue `''` (every message workflow in the namespace)
   */
  filter: z.string().max(2000).default(''),
  /** Alert (warning) when more messages than this are parked. @defaultValue `1000` */
  parkedTotal: count.default(1000),
  /** Alert (warning) when the oldest parked message is older than this. @defaultValue `24h` */
  oldestAge: durationText.default('24h'),
  /** Alert (critical) when more security failures than this are parked. @defaultValue `10` */
  securityParked: count.default(10),
  /** Alert (warning) when more messages than this parked since the previous run. @defaultValue `100` */
  inflow: count.default(100),
  /** Alert (warning) when a failure group grew by more than this since the previous run. @defaultValue `50` */
  groupGrowth: count.default(50),
  /** An alert that stays active is sent again at most this often. @defaultValue `1h` */
  renotifyInterval: durationText.default('1h'),
  /** Failure groups (by `DlqFingerprint`) reported. @defaultValue `10` */
  topGroups: count.min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(10),
  /** Parked messages listed (in bounded pages) to find the failure groups. @defaultValue `1000` */
  maxListed: count.min(10, 'must be 10 or more').max(100_000, 'must be 100000 or less').default(1000),
  /** Attempts to deliver the webhook (Temporal retries with backoff) before it counts as undelivered. @defaultValue `5` */
  webhookAttempts: count.min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(5),
});

/** The analytics configuration, with defaults applied. */
export type AnalyticsConfig = z.output<typeof analyticsConfigSchema>;
/** What a caller may give: every field is optional. */
export type AnalyticsConfigInput = z.input<typeof analyticsConfigSchema>;

/** The keys `dlq config set` accepts (plus `interval`, the schedule's spec). */
export const ANALYTICS_CONFIG_KEYS = Object.keys(analyticsConfigSchema.shape) as Array<keyof AnalyticsConfig>;

/** Input of `computeDlqSnapshot`. */
export interface SnapshotInput {
  config: AnalyticsConfig;
  /** `computedAt` of the previous run: inflow counts parks after it. */
  since?: string;
}

/** One failure group: parked messages that share a `DlqFingerprint`. */
export interface FailureGroup {
  fingerprint: string;
  /** Exact count of parked messages in the group. */
  count: number;
  errorClass: string;
  reason: string;
  topic: string;
  sampleWorkflowId: string;
  sampleMessageId: string;
}

/** Parks in one time bucket (by `DlqParkedAt`, whatever the message's status now). */
export interface ParkBucket {
  start: string;
  parks: number;
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
    /** Known reason codes and reasons seen while listing; only non-zero entries. */
    byReason: Record<string, number>;
    /** Parked messages whose reason is in none of `byReason`'s keys. */
    otherReasons: number;
    /** Registered topics (always, even at 0) and topics seen while listing. */
    byTopic: Record<string, number>;
    otherTopics: number;
    /** Parked messages that were parked before (`DlqParkCount > 1`): re-parked after a retry. */
    reParked: number;
  };
  /** Messages whose operator retry or re-drive is running now. */
  retrying: number;
  resolved: { recovered: number; discarded: number; expired: number };
  /** recovered ÷ (recovered + reParked), or null when both are 0. */
  requeueSuccessRate: number | null;
  /** Mean `DlqAttempts` of parked messages, or null when none is parked. */
  averageAttempts: number | null;
  /** Parked messages by attempts made (`"1"`, `"2"`, …). */
  attemptsDistribution: Record<string, number>;
  oldest: { workflowId: string; messageId: string; topic: string; parkedAt: string; ageMs: number } | null;
  /** 24 clock hours (UTC), the last one is the current hour. */
  hourly: ParkBucket[];
  /** 14 days (UTC), the last one is today. */
  daily: ParkBucket[];
  /** Parks after `since` (the previous run), or null on a first run. */
  inflow: { since: string; parks: number } | null;
  topGroups: FailureGroup[];
  /** How many parked messages the failure-group listing read, and whether that was all of them. */
  listing: { listed: number; complete: boolean };
  /** Visibility calls this snapshot cost (counts and list pages). */
  serverCalls: number;
}

export type AlertSeverity = 'warning' | 'critical';
export type AlertRule =
  'parked-total' | 'oldest-age' | 'security-parked' | 'inflow' | 'group-growth' | 'analytics-failed';

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
