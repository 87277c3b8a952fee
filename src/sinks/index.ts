/**
 * The worker's event sinks: where dead letters are mirrored (NATS, PostgreSQL) and where immediate alerts go
 * (the alert webhook). `createWorker` builds them from its `sinks` option or the `DLQ_SINK_*` variables, and
 * records the resulting `MirrorPolicy` with each topic policy (revision 5).
 */
import type { WebhookOptions } from '../analytics/webhook';
import {
  ALERT_WEBHOOK_SINK,
  DEFAULT_PARK_EVENT_BUDGET_MS,
  DEFAULT_RESOLUTION_EVENT_BUDGET_MS,
} from '../contract/mirror';
import type { MirrorPolicy, MirrorSinkName } from '../contract/mirror';
import type { Config } from '../config';
import { createAlertWebhookSink } from './alert-webhook-sink';
import { createNatsSink } from './nats-sink';
import type { NatsSinkOptions } from './nats-sink';
import { createPostgresSink } from './postgres-sink';
import type { PostgresSinkOptions } from './postgres-sink';
import type { EventSink } from './types';

export type { EventSink } from './types';
export type { NatsSinkOptions } from './nats-sink';
export type { PostgresSinkOptions } from './postgres-sink';
export { NATS_SINK_HEADERS } from './nats-sink';
export { deadLettersDdl } from './postgres-sink';
export { immediateAlertDeliveryId, immediateAlertNotification } from './alert-webhook-sink';

/** Where the worker mirrors dead letters (`createWorker({ sinks })`). */
export interface SinksOptions {
  /** Publish events on `DLQ.<original subject>` in JetStream. @defaultValue from `DLQ_SINK_NATS_*`, else none */
  nats?: NatsSinkOptions;
  /** Keep a `dead_letters` table in sync. @defaultValue from `DLQ_SINK_POSTGRES_*`, else none */
  postgres?: PostgresSinkOptions;
  /**
   * Include the message's payload in the events. The payload then leaves Temporal's encryption (the sink
   * stores it as JSON in clear), so it is off unless asked for. @defaultValue `false` (`DLQ_SINK_PAYLOADS`)
   */
  payloads?: boolean;
  /**
   * How long Temporal retries a park event or an immediate alert before it is recorded as undelivered
   * (`DlqUndelivered`); the message workflow does not wait for it. 1 s to 30 days (`createWorker` throws a
   * `RangeError` otherwise). @defaultValue 24 hours (`DLQ_SINK_PARK_BUDGET`)
   */
  parkBudgetMs?: number;
  /**
   * How long a resolved message waits for its resolution events before it completes; a workflow that
   * completes abandons what is still pending, which is then recorded as undelivered. 1 s to 30 days.
   * @defaultValue 10 minutes (`DLQ_SINK_RESOLUTION_BUDGET`)
   */
  resolutionBudgetMs?: number;
}

/** The sinks of one worker process: one connection each, opened on the first event, closed with the worker. */
export interface EventSinks {
  byName: ReadonlyMap<string, EventSink>;
  /** What `lookupRoute` records, or undefined when there is nowhere to send anything. */
  policy: MirrorPolicy | undefined;
  close(): Promise<void>;
}

/** The sinks options from the validated configuration. */
export function sinksOptionsFromConfig(config: Config): SinksOptions {
  return {
    ...(config.DLQ_SINK_NATS_SERVERS
      ? {
          nats: {
            servers: config.DLQ_SINK_NATS_SERVERS,
            subjectPrefix: config.DLQ_SINK_NATS_SUBJECT_PREFIX,
            stream: config.DLQ_SINK_NATS_STREAM,
          },
        }
      : {}),
    ...(config.DLQ_SINK_POSTGRES_URL
      ? {
          postgres: { connectionString: config.DLQ_SINK_POSTGRES_URL, table: config.DLQ_SINK_POSTGRES_TABLE },
        }
      : {}),
    payloads: config.DLQ_SINK_PAYLOADS,
    parkBudgetMs: config.DLQ_SINK_PARK_BUDGET,
    resolutionBudgetMs: config.DLQ_SINK_RESOLUTION_BUDGET,
  };
}

/** Shortest and longest delivery budget: each becomes an activity timeout recorded in the history. */
const MIN_BUDGET_MS = 1000;
const MAX_BUDGET_MS = 30 * 24 * 3_600_000;

/** A budget from code (`createWorker({ sinks })`), checked before it can reach a history. */
function budget(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < MIN_BUDGET_MS || value > MAX_BUDGET_MS)
    throw new RangeError(
      `sinks.${name} is ${String(value)}: it must be a whole number of milliseconds from ${MIN_BUDGET_MS} (1 s) to ${MAX_BUDGET_MS} (30 days)`,
    );
  return value;
}

export function createEventSinks(options: SinksOptions, alertWebhook?: WebhookOptions): EventSinks {
  const parkBudgetMs = budget('parkBudgetMs', options.parkBudgetMs, DEFAULT_PARK_EVENT_BUDGET_MS);
  const resolutionBudgetMs = budget(
    'resolutionBudgetMs',
    options.resolutionBudgetMs,
    DEFAULT_RESOLUTION_EVENT_BUDGET_MS,
  );
  const byName = new Map<string, EventSink>();
  const mirrorSinks: MirrorSinkName[] = [];
  if (options.nats) {
    byName.set('nats', createNatsSink(options.nats));
    mirrorSinks.push('nats');
  }
  if (options.postgres) {
    byName.set('postgres', createPostgresSink(options.postgres));
    mirrorSinks.push('postgres');
  }
  if (alertWebhook) byName.set(ALERT_WEBHOOK_SINK, createAlertWebhookSink(alertWebhook));
  const policy: MirrorPolicy | undefined =
    byName.size > 0
      ? {
          sinks: mirrorSinks,
          alertWebhook: Boolean(alertWebhook),
          payloads: options.payloads ?? false,
          parkBudgetMs,
          resolutionBudgetMs,
        }
      : undefined;
  return {
    byName,
    policy,
    async close() {
      await Promise.allSettled([...byName.values()].map((s) => s.close()));
    },
  };
}
