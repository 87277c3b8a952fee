/**
 * Dead letters mirrored out (policy revision 5): the events a message workflow sends to the worker's sinks
 * (NATS `DLQ.<subject>`, a PostgreSQL `dead_letters` table) when it parks and when it is resolved, and the
 * immediate alert it sends to the alert webhook. Workflow-safe: no zod, no I/O.
 *
 * Every field name here is on the wire (activity inputs in histories, the JSON a sink writes): rename none.
 */
import type { DeadLetter } from './types';

/** Name of the immediate-alert "sink": the signed alert webhook (`DLQ_ALERT_WEBHOOK_URL`). */
export const ALERT_WEBHOOK_SINK = 'alert-webhook';

/** Names of the mirror sinks a worker can have. */
export const MIRROR_SINK_NAMES = ['nats', 'postgres'] as const;
export type MirrorSinkName = (typeof MIRROR_SINK_NAMES)[number];

/** What happened to the message: it parked (again), or how it was resolved. */
export type MirrorEventKind = 'parked' | 'recovered' | 'discarded' | 'expired' | 'cancelled';

/** Delivery budgets of mirror events when the worker does not set them. */
export const DEFAULT_PARK_EVENT_BUDGET_MS = 24 * 3600_000;
export const DEFAULT_RESOLUTION_EVENT_BUDGET_MS = 10 * 60_000;

/** The part of the topic policy (recorded by `lookupRoute`) that says where events go. */
export interface MirrorPolicy {
  /** Mirror sinks configured on the worker that answered the policy. */
  sinks: MirrorSinkName[];
  /** Whether the immediate alerts (security failure, worker-killing message) go to the alert webhook. */
  alertWebhook: boolean;
  /** Whether events carry the message's payload (it then leaves Temporal's encryption). */
  payloads: boolean;
  /**
   * Schedule-to-close of a park event or an immediate alert: Temporal retries it for this long while the
   * workflow waits for an operator, without blocking it.
   */
  parkBudgetMs: number;
  /** Schedule-to-close of a resolution event: the workflow waits at most this long before it completes. */
  resolutionBudgetMs: number;
}

/** How the message was resolved, for a resolution event. */
export interface MirrorResolution {
  status: Exclude<MirrorEventKind, 'parked'>;
  at: string;
  reason?: string;
  operator?: string;
}

/** Longest stack an event carries, in characters. */
export const MAX_MIRRORED_STACK = 4000;

/** The dead letter as a sink receives it: its stack cut, its payload only when configured. */
export type MirroredDeadLetter = Omit<DeadLetter, 'payload'> & { payload?: unknown };

/** One event, the same for every sink. */
export interface MirrorEvent {
  /** `<workflowId>:<parkCount>:<kind>`: the same on every retry, so sinks deduplicate by it. */
  eventId: string;
  kind: MirrorEventKind;
  workflowId: string;
  parkCount: number;
  deadLetter: MirroredDeadLetter;
  resolution?: MirrorResolution;
  /** Set on the park event of a message that must alert at once. */
  alert?: 'security' | 'worker-crashed';
}

/** Input of the `deliverMirrorEvent` activity (a wire name): one event to one sink. */
export interface MirrorDelivery {
  sink: MirrorSinkName | typeof ALERT_WEBHOOK_SINK;
  event: MirrorEvent;
}

/** The id that makes an event idempotent: stable across the activity's retries and the workflow's replays. */
export function mirrorEventId(workflowId: string, parkCount: number, kind: MirrorEventKind): string {
  return `${workflowId}:${parkCount}:${kind}`;
}

/** Builds an event from the dead letter of the current parking. */
export function mirrorEvent(
  dl: DeadLetter,
  kind: MirrorEventKind,
  policy: MirrorPolicy,
  extra: { resolution?: MirrorResolution; alert?: 'security' | 'worker-crashed' } = {},
): MirrorEvent {
  const { stack, payload, ...others } = dl;
  const rest = stack === undefined ? others : { ...others, stack: stack.slice(0, MAX_MIRRORED_STACK) };
  return {
    eventId: mirrorEventId(dl.workflowId, dl.parkCount, kind),
    kind,
    workflowId: dl.workflowId,
    parkCount: dl.parkCount,
    deadLetter: policy.payloads ? { ...rest, payload } : rest,
    ...(extra.resolution ? { resolution: extra.resolution } : {}),
    ...(extra.alert ? { alert: extra.alert } : {}),
  };
}

/** The `DlqUndelivered` value after `sink` failed: the sinks already listed, then this one, once each. */
export function withUndelivered(current: string | undefined, sink: string): string {
  const names = (current ?? '').split(',').filter(Boolean);
  if (!names.includes(sink)) names.push(sink);
  return names.join(',');
}
