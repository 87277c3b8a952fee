/**
 * Mirror events and immediate alerts of one message workflow (policy revision 5, src/contract/mirror.ts).
 *
 * Temporal terms:
 * - A park event (and an immediate alert) is an activity the workflow starts and does not await: the message
 *   waits for its operator at once, and Temporal retries the delivery for the park budget (schedule-to-close,
 *   24 h by default) while the operator may already retry or discard.
 * - A workflow that completes abandons its pending activities. So a resolution event is awaited before the
 *   workflow completes, bounded by the resolution budget (10 min by default): a resolved message whose sink
 *   is down stays open (already `recovered`/`discarded`/`expired` in visibility) for at most that long.
 * - What was not delivered within its budget, or was still pending when the run ended (completion or
 *   continue-as-new), is recorded in the `DlqUndelivered` search attribute, which analytics counts.
 * Every command here depends only on the recorded policy and the workflow's state, so it replays.
 */
import {
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { MirrorActivities } from '../activities/mirror-activities';
import { ALERT_WEBHOOK_SINK, mirrorEvent, withUndelivered } from '../src/contract/mirror';
import type { MirrorDelivery, MirrorPolicy, MirrorResolution } from '../src/contract/mirror';
import { DlqUndelivered } from '../src/contract/search-attributes';
import type { DeadLetter } from '../src/contract/types';

/** Retry of one delivery: from 1 s, doubling, at most 5 min apart, until the budget is spent. */
const deliveryActivity = (budgetMs: number) =>
  proxyActivities<MirrorActivities>({
    scheduleToCloseTimeout: budgetMs,
    startToCloseTimeout: Math.min(60_000, budgetMs),
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
  }).deliverMirrorEvent;

export interface MirrorEvents {
  /** Starts the park event to every mirror sink and, for an immediate alert, the alert webhook; returns at once. */
  parked(dl: DeadLetter, policy: MirrorPolicy, alert: 'security' | 'worker-crashed' | undefined): void;
  /** Sends the resolution to every mirror sink and waits for them (bounded), then records what is still pending. */
  resolved(dl: DeadLetter, policy: MirrorPolicy, resolution: MirrorResolution): Promise<void>;
  /** Records the deliveries still pending as undelivered (the run is about to end). */
  abandonPending(): void;
}

export function mirrorEvents(): MirrorEvents {
  const pending = new Map<string, MirrorDelivery>();
  // Continue-as-new keeps search attributes: start from the list an earlier run recorded.
  let undelivered: string | undefined = workflowInfo().typedSearchAttributes.get(DlqUndelivered) ?? undefined;
  let sequence = 0;

  const recordUndelivered = (sinks: string[]) => {
    const before = undelivered;
    for (const sink of sinks) undelivered = withUndelivered(undelivered, sink);
    if (undelivered !== before) upsertSearchAttributes([{ key: DlqUndelivered, value: undelivered! }]);
  };

  const send = (delivery: MirrorDelivery, budgetMs: number): Promise<void> => {
    const key = `${sequence++}`;
    pending.set(key, delivery);
    return deliveryActivity(budgetMs)(delivery).then(
      () => {
        pending.delete(key);
      },
      (err: unknown) => {
        if (!pending.delete(key)) return; // already recorded as abandoned
        // Given up within its budget, or cut off by the workflow's own cancellation: either way no sink has it.
        log.warn(
          isCancellation(err)
            ? 'Mirror event cancelled with its workflow'
            : 'Mirror event not delivered within its budget',
          {
            sink: delivery.sink,
            eventId: delivery.event.eventId,
          },
        );
        recordUndelivered([delivery.sink]);
      },
    );
  };

  const abandonPending = () => {
    const sinks = [...pending.values()].map((d) => d.sink);
    pending.clear();
    if (sinks.length) recordUndelivered(sinks);
  };

  return {
    parked(dl, policy, alert) {
      const event = mirrorEvent(dl, 'parked', policy, alert ? { alert } : {});
      for (const sink of policy.sinks) void send({ sink, event }, policy.parkBudgetMs);
      if (alert && policy.alertWebhook) void send({ sink: ALERT_WEBHOOK_SINK, event }, policy.parkBudgetMs);
    },
    async resolved(dl, policy, resolution) {
      const event = mirrorEvent(dl, resolution.status, policy, { resolution });
      // Not cancellable: a cancellation that arrives while a resolution waits for its sinks must not drop it.
      await CancellationScope.nonCancellable(() =>
        Promise.all(policy.sinks.map((sink) => send({ sink, event }, policy.resolutionBudgetMs))),
      );
      abandonPending();
    },
    abandonPending,
  };
}
