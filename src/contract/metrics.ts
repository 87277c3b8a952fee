/**
 * Prometheus metric names and label rules, defined once. Workflow-safe: no I/O, no zod.
 *
 * The names here are what code passes to the SDK's metric meter. The SDK's Prometheus exporter prefixes only
 * its own metrics (`temporal_`), not those of a meter; with `countersTotalSuffix` (which `installRuntimeLogger`
 * turns on) counters end in `_total`. The meter adds `namespace`, `taskQueue` and `workflowType` (workflow
 * code) or `activityType` (activities). `exportedMetricName` gives the scraped name, as seen in a real scrape
 * (test/metrics.test.ts); README → Observability lists them.
 */
import { REASON_CODES } from './errors';
import { SOURCE_REJECT_REASONS } from './source-rejects';

/** Counters, emitted by the message workflow (only when not replaying). Labels: `topic`, `error_class`, `reason`. */
export const MESSAGE_COUNTERS = {
  /** A message parked (every park, re-parks included). */
  parked: 'dlq_messages_parked',
  /** A parked message processed successfully after a retry, repair or re-drive. */
  recovered: 'dlq_messages_recovered',
  /** A parked message discarded by an operator. */
  discarded: 'dlq_messages_discarded',
  /** A parked message resolved as expired (`DLQ_EXPIRE_AFTER`). */
  expired: 'dlq_messages_expired',
  /** An automatic re-drive of a parked message started. */
  redriven: 'dlq_messages_redriven',
  /** An operator retry (signal or repair update) of a parked message started. */
  retried: 'dlq_messages_retried',
  /** An operator's retry, repair or discard was rejected (invalid input, schema, guard). */
  repairRejected: 'dlq_repairs_rejected',
} as const;
export type MessageEvent = keyof typeof MESSAGE_COUNTERS;

/** Gauges, set by each analytics run (the `computeDlqSnapshot` activity) on the worker that ran it. */
export const ANALYTICS_GAUGES = {
  /** Parked messages (`DlqStatus = 'dead'`). */
  parked: 'dlq_parked',
  /** Parked messages by `error_class` (all five classes, 0 included). */
  parkedByClass: 'dlq_parked_by_class',
  /** Parked messages by `topic`: the {@link MAX_TOPIC_SERIES} largest, the rest as `other`. */
  parkedByTopic: 'dlq_parked_by_topic',
  /** Age of the oldest parked message, in seconds (0 when none is parked). */
  oldestAge: 'dlq_oldest_parked_age_seconds',
  /** Parks since the previous analytics run (the `inflow` alert's figure); not set on a first run. */
  inflow: 'dlq_inflow_parks',
  /** recovered ÷ (recovered + re-parked); not set while both are 0. */
  requeueSuccess: 'dlq_requeue_success_ratio',
  /** Parked messages of a failure group (`fingerprint`, `error_class`, `reason`, `topic`), top {@link MAX_GROUP_SERIES}. */
  groupParked: 'dlq_failure_group_parked',
  /** Messages whose mirror events or immediate alert no sink took (`DlqUndelivered`); set when the run counted them. */
  mirrorUndelivered: 'dlq_mirror_undelivered',
  /** When the snapshot was computed, in Unix seconds: which worker holds the latest figures, and staleness. */
  computedAt: 'dlq_analytics_computed_timestamp_seconds',
} as const;

/** Label names of the DLQ metrics. */
export const METRIC_LABELS = {
  topic: 'topic',
  errorClass: 'error_class',
  reason: 'reason',
  fingerprint: 'fingerprint',
} as const;

/** Topics given a series of their own in `dlq_parked_by_topic`; the others add up in `other`. */
export const MAX_TOPIC_SERIES = 20;
/** Failure groups given a series in `dlq_failure_group_parked`. */
export const MAX_GROUP_SERIES = 10;
/** The label value that stands for everything beyond a bound. */
export const OTHER_LABEL = 'other';

/** The name Prometheus scrapes for a DLQ metric. */
export function exportedMetricName(name: string, kind: 'counter' | 'gauge'): string {
  return `${name}${kind === 'counter' ? '_total' : ''}`;
}

/** Every DLQ metric name as scraped, with its kind. */
export function exportedDlqMetrics(): Array<{ name: string; kind: 'counter' | 'gauge' }> {
  return [
    ...Object.values(MESSAGE_COUNTERS).map((n) => ({
      name: exportedMetricName(n, 'counter'),
      kind: 'counter' as const,
    })),
    ...Object.values(ANALYTICS_GAUGES).map((n) => ({
      name: exportedMetricName(n, 'gauge'),
      kind: 'gauge' as const,
    })),
  ];
}

const KNOWN_REASONS: ReadonlySet<string> = new Set<string>([
  ...REASON_CODES,
  ...Object.values(SOURCE_REJECT_REASONS),
]);

/**
 * The `reason` label: a code of the catalogue (`REASON_CODES`, the broker sources' codes) or `HTTP_<3 digits>`
 * as it is; any other code (a handler's own) is `other`, so handlers cannot grow the label without bound.
 * The exact reason stays in `DlqReason` and the dead letter.
 */
export function reasonLabel(reason: string | undefined): string {
  if (!reason) return OTHER_LABEL;
  return KNOWN_REASONS.has(reason) || /^HTTP_\d{3}$/.test(reason) ? reason : OTHER_LABEL;
}

/**
 * The `topic` label of a message counter: the topic when a worker has a handler for it (the policy lookup
 * found it: the number of topics is bounded by the code), else `other` (a publish on an unknown topic).
 */
export function topicLabel(topic: string, registered: boolean): string {
  return registered ? topic : OTHER_LABEL;
}
