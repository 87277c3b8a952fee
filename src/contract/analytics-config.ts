/**
 * The analytics configuration (the schedule's workflow input), zod-validated. Workflow-safe; the
 * `dlqAnalytics` workflow loads it lazily through `workflows/lazy-schemas.ts`, because every module a
 * workflow imports at top level is evaluated again for each message workflow in the same bundle.
 */
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from './duration';
import { topicSchema } from './envelope';

const durationText = z.string().refine(
  (text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms > 0;
  },
  { message: `must be ${DURATION_HINT}` },
);

/** The essentials of one analytics run take at most this many visibility calls. */
export const MIN_VISIBILITY_BUDGET = 17;

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
  /**
   * Alert (warning) when more messages than this have a mirror event or immediate alert that no sink took
   * (`DlqUndelivered`). @defaultValue `0`
   */
  mirrorUndelivered: count.default(0),
  /** An alert that stays active is sent again at most this often. @defaultValue `1h` */
  renotifyInterval: durationText.default('1h'),
  /** Failure groups (by `DlqFingerprint`) reported. @defaultValue `10` */
  topGroups: count.min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(10),
  /**
   * Parked messages listed, in one list page (one visibility call), to compute the breakdowns, failure
   * groups, attempts and the oldest without counts. A page holds at most 1000: larger values (accepted for
   * settings written before the visibility budget) list 1000. @defaultValue `1000`
   */
  maxListed: count.min(10, 'must be 10 or more').max(100_000, 'must be 100000 or less').default(1000),
  /**
   * Visibility calls (counts and list pages) one run may make, at any number of parked messages. The
   * essentials come first (listing, totals, security count, inflow, oldest, resolved counts: at most
   * {@link MIN_VISIBILITY_BUDGET}); the rest goes to error classes, failure groups, topics, reasons and the
   * trend buckets still unknown, in that order, and what is left out is marked in the result.
   * @defaultValue `20`
   */
  visibilityBudget: count
    .min(MIN_VISIBILITY_BUDGET, `must be ${MIN_VISIBILITY_BUDGET} or more (the essentials of a run)`)
    .max(1000, 'must be 1000 or less')
    .default(20),
  /**
   * Visibility calls per second a run makes at most (at most 2 in flight). A stock self-hosted server
   * allows 10 per second per namespace (Temporal Cloud 30), shared with the Web UI and the CLI.
   * @defaultValue `2`
   */
  visibilityRate: z
    .number({ error: 'must be a number of calls per second' })
    .min(0.1, 'must be 0.1 or more')
    .max(100, 'must be 100 or less')
    .default(2),
  /**
   * How far behind now the trend and inflow window of a run ends, so that a park visibility has not shown
   * yet is counted by the next run instead of being missed. @defaultValue `5s`
   */
  settleLag: durationText
    .refine((text) => (parseDuration(text) ?? 0) <= 600_000, { message: 'must be 10m or less' })
    .default('5s'),
  /** Attempts to deliver the webhook (Temporal retries with backoff) before it counts as undelivered. @defaultValue `5` */
  webhookAttempts: count.min(1, 'must be 1 or more').max(100, 'must be 100 or less').default(5),
});

/** The analytics configuration, with defaults applied. */
export type AnalyticsConfig = z.output<typeof analyticsConfigSchema>;
/** What a caller may give: every field is optional. */
export type AnalyticsConfigInput = z.input<typeof analyticsConfigSchema>;

/** The keys `dlq config set` accepts (plus `interval`, the schedule's spec). */
export const ANALYTICS_CONFIG_KEYS = Object.keys(analyticsConfigSchema.shape) as Array<keyof AnalyticsConfig>;
