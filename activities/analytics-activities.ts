/**
 * Activities of the analytics workflow: the visibility snapshot, the pino alert log (always), and the
 * webhook delivery (Temporal retries it). They need a Client for visibility queries.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Logger as PinoLogger } from 'pino';
import { z } from 'zod';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import type { DlqSnapshot, LogAlertsInput, SnapshotInput, WebhookInput } from '../src/contract/analytics';
import { formatIssues } from '../src/contract/validation-issues';
import { computeSnapshot } from '../src/analytics/snapshot';
import { VisibilityRateLimitedError } from '../src/analytics/visibility-budget';
import { MAX_CARRIED_BUCKETS } from '../src/contract/alert-rules';
import { postWebhook, WebhookStatusError } from '../src/analytics/webhook';
import type { WebhookOptions } from '../src/analytics/webhook';
import { newGaugeMemory, recordSnapshotGauges } from './analytics-metrics';

/** Failure type of a delivery the receiver refused for good (a 4xx other than 408/429): not retried. */
export const WEBHOOK_REJECTED = 'WebhookRejected';
/** Failure type of a delivery that may succeed later: retried by Temporal. */
export const WEBHOOK_UNAVAILABLE = 'WebhookUnavailable';

export interface AnalyticsActivityDeps {
  /** The client for visibility queries (called once per activity; memoise it). */
  client: () => Promise<Client>;
  logger: PinoLogger;
  /** The alert webhook. @defaultValue none (alerts go to pino only) */
  webhook?: WebhookOptions;
}

const snapshotInputSchema = z.object({
  config: analyticsConfigSchema,
  since: z.iso.datetime().optional(),
  // Checked on its own below: a carried trend that does not fit is dropped (first-run behaviour), never fatal.
  previous: z.unknown().optional(),
});

const bucketSchema = z.object({
  start: z.iso.datetime(),
  parks: z.number().int().min(0).nullable(),
});
const carriedTrendSchema = z.object({
  windowEnd: z.iso.datetime(),
  hourly: z.array(bucketSchema).max(MAX_CARRIED_BUCKETS),
  daily: z.array(bucketSchema).max(MAX_CARRIED_BUCKETS),
});

/** Failure type of a snapshot whose essential visibility calls stayed rate-limited: retried by Temporal. */
export const VISIBILITY_RATE_LIMITED = 'VisibilityRateLimited';
/** Rate-limit back-off stops this long before the activity's start-to-close timeout. */
const DEADLINE_MARGIN_MS = 10_000;

const notificationSchema = z
  .object({
    id: z.string(),
    rule: z.string(),
    severity: z.enum(['warning', 'critical']),
    kind: z.enum(['fired', 'renotified', 'resolved']),
    message: z.string(),
    at: z.string(),
  })
  .loose();

const notificationsSchema = z.array(notificationSchema).max(1000);

function invalid(what: string, issues: z.core.$ZodIssue[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'ValidationError',
    message: `Invalid ${what}: ${formatIssues(issues).join('; ')}`,
    nonRetryable: true,
  });
}

export function createAnalyticsActivities(deps: AnalyticsActivityDeps) {
  const log = deps.logger.child({ component: 'dlq-analytics' });
  const gaugeMemory = newGaugeMemory();

  /**
   * Counts and one bounded listing over visibility, within the run's visibility budget; see
   * src/analytics/snapshot.ts. Rate limits are waited out (heartbeating) until shortly before the
   * start-to-close timeout.
   */
  async function computeDlqSnapshot(input: SnapshotInput): Promise<DlqSnapshot> {
    const parsed = snapshotInputSchema.safeParse(input);
    if (!parsed.success) throw invalid('snapshot input', parsed.error.issues);
    const carried =
      parsed.data.previous === undefined ? undefined : carriedTrendSchema.safeParse(parsed.data.previous);
    if (carried && !carried.success)
      log.warn(
        { problems: formatIssues(carried.error.issues) },
        'The previous analytics result carries a trend of another shape: counting it afresh',
      );
    const context = Context.current();
    const client = await deps.client();
    try {
      const snapshot = await computeSnapshot(client, parsed.data.config, {
        ...(carried?.success ? { previous: carried.data } : {}),
        ...(parsed.data.since ? { since: parsed.data.since } : {}),
        deadline: Date.now() + context.info.startToCloseTimeoutMs - DEADLINE_MARGIN_MS,
        signal: context.cancellationSignal,
        onBackoff: (delayMs) => context.heartbeat({ backoffMs: delayMs }),
      });
      recordSnapshotGauges(context.metricMeter, snapshot, gaugeMemory);
      return snapshot;
    } catch (err) {
      if (err instanceof VisibilityRateLimitedError)
        throw ApplicationFailure.create({ type: VISIBILITY_RATE_LIMITED, message: err.message });
      throw err;
    }
  }

  /** One structured pino line per alert. Undelivered ones are logged at error level. */
  async function logAlerts(input: LogAlertsInput): Promise<void> {
    const parsed = notificationsSchema.safeParse(input.notifications);
    if (!parsed.success) throw invalid('alert notifications', parsed.error.issues);
    for (const n of input.notifications) {
      const fields = {
        alert: n.id,
        rule: n.rule,
        severity: n.severity,
        kind: n.kind,
        value: n.value,
        threshold: n.threshold,
        at: n.at,
      };
      if (input.undelivered) {
        log.error(
          { ...fields, sink: input.undelivered.sink, deliveryError: input.undelivered.error },
          `Alert NOT delivered: ${n.message}`,
        );
      } else if (n.kind === 'resolved') log.info(fields, n.message);
      else if (n.severity === 'critical') log.error(fields, n.message);
      else log.warn(fields, n.message);
    }
    return Promise.resolve();
  }

  /** Posts the notifications to the webhook. Returns false when no webhook is configured. */
  async function deliverAlertWebhook(input: WebhookInput): Promise<{ delivered: boolean; status?: number }> {
    const parsed = notificationsSchema.safeParse(input.notifications);
    if (!parsed.success) throw invalid('alert notifications', parsed.error.issues);
    if (!deps.webhook) return { delivered: false };
    try {
      const status = await postWebhook(deps.webhook, input.notifications, input.deliveryId);
      return { delivered: true, status };
    } catch (err) {
      if (err instanceof WebhookStatusError) {
        const retryable = err.status === 408 || err.status === 429 || err.status >= 500;
        throw ApplicationFailure.create({
          type: retryable ? WEBHOOK_UNAVAILABLE : WEBHOOK_REJECTED,
          message: err.message,
          details: [{ status: err.status }],
          nonRetryable: !retryable,
        });
      }
      const name = err instanceof Error ? err.name : 'Error';
      throw ApplicationFailure.create({
        type: WEBHOOK_UNAVAILABLE,
        message: `The alert webhook could not be reached (${name})`,
        details: [{ name }],
      });
    }
  }

  return { computeDlqSnapshot, logAlerts, deliverAlertWebhook };
}

/** The analytics activities, as the workflow sees them (`import type`). */
export type AnalyticsActivities = ReturnType<typeof createAnalyticsActivities>;
