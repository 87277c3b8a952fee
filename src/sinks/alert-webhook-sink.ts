/**
 * Immediate alerts (issue #16): the park event of a security failure or a worker-killing message, posted to
 * the alert webhook in the analytics alerts' signed format (`src/analytics/webhook.ts`: one
 * `AlertNotification`, `X-DLQ-Signature`). The delivery id is `<workflowId>:<parkCount>`, the same on every
 * retry, so a receiver that saw it already can drop the repeat.
 */
import { postWebhook } from '../analytics/webhook';
import type { WebhookOptions } from '../analytics/webhook';
import type { AlertNotification } from '../contract/analytics';
import type { MirrorEvent } from '../contract/mirror';
import type { EventSink } from './types';

/** The delivery id of an immediate alert: one per parking of a message. */
export function immediateAlertDeliveryId(event: MirrorEvent): string {
  return `${event.workflowId}:${event.parkCount}`;
}

/** The notification of an immediate alert. */
export function immediateAlertNotification(event: MirrorEvent): AlertNotification {
  const dl = event.deadLetter;
  const security = event.alert === 'security';
  return {
    id: `${security ? 'security-failure' : 'worker-crashed'}:${event.workflowId}:${event.parkCount}`,
    rule: security ? 'security-parked' : 'worker-crashed',
    severity: 'critical',
    kind: 'fired',
    at: dl.parkedAt,
    message: security
      ? `SECURITY ALERT: message ${dl.messageId} on ${dl.topic} parked with ${dl.reason} (workflow ${event.workflowId})`
      : `POISON MESSAGE: ${dl.messageId} on ${dl.topic} killed its worker ${dl.attempts} time(s) in stage ${dl.stage}; parked, never re-driven (workflow ${event.workflowId})`,
    value: 1,
    threshold: 0,
  };
}

export function createAlertWebhookSink(options: WebhookOptions): EventSink {
  return {
    async deliver(event: MirrorEvent) {
      if (event.kind !== 'parked' || !event.alert) return;
      await postWebhook(options, [immediateAlertNotification(event)], immediateAlertDeliveryId(event));
    },
    async close() {
      return Promise.resolve();
    },
  };
}
