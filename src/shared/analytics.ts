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
