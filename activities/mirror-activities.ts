/**
 * `deliverMirrorEvent` (a wire name, policy revision 5): one event to one sink of this worker (NATS, PostgreSQL,
 * or the alert webhook for an immediate alert). Each failure becomes a retryable `SinkUnavailable`; the
 * workflow gives it a schedule-to-close budget and never waits for it while the message is parked.
 */
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import type { Logger as PinoLogger } from 'pino';
import { ALERT_WEBHOOK_SINK } from '../src/contract/mirror';
import type { MirrorDelivery } from '../src/contract/mirror';
import { SINK_NOT_CONFIGURED, SINK_UNAVAILABLE } from '../src/contract/errors';
import type { EventSink } from '../src/sinks/types';

export interface MirrorActivityDeps {
  sinks: ReadonlyMap<string, EventSink>;
  logger: PinoLogger;
}

export function createMirrorActivities(deps: MirrorActivityDeps) {
  /** Delivers one event to one sink; idempotent by the event's id (see each sink). */
  async function deliverMirrorEvent(input: MirrorDelivery): Promise<void> {
    const { sink: name, event } = input;
    const sink = deps.sinks.get(name);
    const fields = {
      sink: name,
      eventId: event.eventId,
      workflowId: event.workflowId,
      topic: event.deadLetter.topic,
      reason: event.deadLetter.reason,
      attempt: activityInfo().attempt,
    };
    if (!sink)
      throw ApplicationFailure.create({
        type: SINK_NOT_CONFIGURED,
        message: `This worker has no "${name}" sink; another worker may take the event`,
        details: [{ sink: name }],
      });
    try {
      await sink.deliver(event);
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      deps.logger.warn(
        { ...fields, error: error.slice(0, 500) },
        'A sink did not take the event; Temporal retries it',
      );
      throw ApplicationFailure.create({
        type: SINK_UNAVAILABLE,
        message: `The ${name} sink did not take event ${event.eventId} (${err instanceof Error ? err.name : 'Error'})`,
        details: [{ sink: name, eventId: event.eventId, error: error.slice(0, 500) }],
      });
    }
    if (name === ALERT_WEBHOOK_SINK)
      deps.logger.error(
        { ...fields, alert: event.alert, severity: 'critical' },
        'Immediate alert sent to the alert webhook',
      );
    else deps.logger.info({ ...fields, kind: event.kind }, 'Mirror event delivered');
  }

  return { deliverMirrorEvent };
}

export type MirrorActivities = ReturnType<typeof createMirrorActivities>;
