/**
 * The alert webhook: a JSON POST with a Slack-compatible `text`, signed with HMAC-SHA256 over the exact
 * body (`X-DLQ-Signature: sha256=<hex>`) when a secret is configured, and bounded by a timeout.
 */
import { createHmac } from 'node:crypto';
import type { AlertNotification } from '../contract/analytics';

/** Where and how alerts are posted. */
export interface WebhookOptions {
  /** http(s) URL that receives the POST. */
  url: string;
  /** HMAC-SHA256 key for `X-DLQ-Signature`. @defaultValue none (no signature header) */
  secret?: string;
  /** Abort the request after this many milliseconds. @defaultValue `10000` */
  timeoutMs?: number;
}

/** Name of the signature header. */
export const SIGNATURE_HEADER = 'X-DLQ-Signature';

/** `sha256=<hex HMAC-SHA256 of body>`: what a receiver recomputes and compares in constant time. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

const ICON: Record<AlertNotification['kind'], string> = {
  fired: ':rotating_light:',
  renotified: ':warning:',
  resolved: ':white_check_mark:',
};

/** The Slack-compatible text: one line per notification. */
export function alertText(notifications: AlertNotification[]): string {
  return notifications
    .map((n) => `${ICON[n.kind]} [${n.severity.toUpperCase()}] ${n.kind} ${n.id}: ${n.message}`)
    .join('\n');
}

/** The JSON body of one delivery. Deterministic for a given input, so retries send the same bytes. */
export function webhookBody(notifications: AlertNotification[], deliveryId: string): string {
  return JSON.stringify({
    text: alertText(notifications),
    source: 'temporal-dlq',
    deliveryId,
    alerts: notifications,
  });
}

/** The receiver answered with a status other than 2xx. */
export class WebhookStatusError extends Error {
  constructor(readonly status: number) {
    super(`The alert webhook answered HTTP ${status}`);
    this.name = 'WebhookStatusError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Posts one delivery. Resolves with the HTTP status on 2xx; rejects with `WebhookStatusError` or a network/abort error. */
export async function postWebhook(
  options: WebhookOptions,
  notifications: AlertNotification[],
  deliveryId: string,
): Promise<number> {
  const body = webhookBody(notifications, deliveryId);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-dlq-delivery': deliveryId,
  };
  if (options.secret) headers[SIGNATURE_HEADER] = signBody(body, options.secret);
  const response = await fetch(options.url, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new WebhookStatusError(response.status);
  return response.status;
}
