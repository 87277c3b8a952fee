/**
 * `dlqAnalytics`: run by the `dlq-analytics` Schedule. Measures the parked messages through visibility
 * (an activity, within its visibility budget, carrying the trend of the previous run forward), evaluates the alert rules against the previous run's result (`lastResult`, never worker
 * memory), logs every notification with pino and posts it to the webhook (Temporal retries it), and returns
 * the result, which the next run reads back.
 */
import {
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnalyticsActivities } from '../activities/analytics-activities';
import type { AlertNotification, AnalyticsResult, WebhookDelivery } from '../src/contract/analytics';
import {
  asPreviousResult,
  buildAnalyticsResult,
  carriedTrendOf,
  evaluateAlerts,
} from '../src/contract/alert-rules';
import { formatIssues } from '../src/contract/validation-issues';
import { analyticsConfigSchemas } from './lazy-schemas';

/** Undelivered notifications carried to the next run, at most. */
const MAX_CARRIED = 100;

const { computeDlqSnapshot, logAlerts } = proxyActivities<AnalyticsActivities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

export async function dlqAnalytics(rawConfig?: unknown): Promise<AnalyticsResult> {
  const parsed = analyticsConfigSchemas().analyticsConfigSchema.safeParse(rawConfig ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: 'ValidationError',
      message: `Invalid analytics configuration: ${formatIssues(parsed.error.issues).join('; ')}`,
      nonRetryable: true,
    });
  }
  const config = parsed.data;
  const info = workflowInfo();
  const previous = asPreviousResult(info.lastResult);
  const lastFailure = info.lastFailure
    ? {
        message: info.lastFailure.message,
        ...(info.lastFailure instanceof ApplicationFailure && info.lastFailure.type
          ? { type: info.lastFailure.type }
          : {}),
      }
    : undefined;

  // The previous run's trend is carried forward, so this run counts only its own inflow.
  const carried = carriedTrendOf(previous);
  const snapshot = await computeDlqSnapshot({
    config,
    ...(previous ? { since: previous.computedAt } : {}),
    ...(carried ? { previous: carried } : {}),
  });
  const transition = evaluateAlerts({
    snapshot,
    config,
    ...(previous ? { previous } : {}),
    ...(lastFailure ? { lastFailure } : {}),
  });

  if (transition.notifications.length > 0) await logAlerts({ notifications: transition.notifications });

  // Notices a failing webhook did not take last time go out again, first.
  const outgoing: AlertNotification[] = [
    ...(previous?.alerts.undelivered ?? []),
    ...transition.notifications,
  ].slice(-MAX_CARRIED);
  let webhook: WebhookDelivery = 'nothing-to-send';
  let undelivered: AlertNotification[] = [];
  let deliveryError: string | undefined;
  if (outgoing.length > 0) {
    const { deliverAlertWebhook } = proxyActivities<AnalyticsActivities>({
      startToCloseTimeout: '1m',
      retry: {
        initialInterval: '500ms',
        backoffCoefficient: 2,
        maximumInterval: '30s',
        maximumAttempts: config.webhookAttempts,
      },
    });
    try {
      const answer = await deliverAlertWebhook({
        notifications: outgoing,
        deliveryId: `${info.workflowId}:${info.runId}`,
      });
      webhook = answer.delivered ? 'delivered' : 'disabled';
    } catch (err) {
      if (isCancellation(err)) throw err;
      webhook = 'failed';
      undelivered = outgoing;
      const cause = (err as { cause?: unknown }).cause;
      deliveryError =
        cause instanceof ApplicationFailure
          ? `${cause.type ?? 'Error'}: ${cause.message}`
          : err instanceof Error
            ? err.name
            : 'unknown';
      await logAlerts({ notifications: outgoing, undelivered: { sink: 'webhook', error: deliveryError } });
    }
  }

  const result = buildAnalyticsResult({
    config,
    snapshot,
    ...(previous ? { previous } : {}),
    transition,
    webhook,
    undelivered,
    ...(deliveryError ? { deliveryError } : {}),
  });
  setCurrentDetails(result.summary);
  return result;
}
