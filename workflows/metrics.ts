/**
 * The message workflow's counters (src/contract/metrics.ts names them). The SDK's workflow `metricMeter`
 * emits only when the workflow is not replaying and adds no command to the history, so counting never
 * changes what a workflow records and a replayed park is not counted twice.
 */
import { metricMeter } from '@temporalio/workflow';
import { MESSAGE_COUNTERS, METRIC_LABELS, reasonLabel, topicLabel } from '../src/contract/metrics';
import type { MessageEvent } from '../src/contract/metrics';
import type { MessageState } from '../src/contract/types';

/** Counts `event` for the message, labelled by its topic, error class and reason (all bounded). */
export function countMessageEvent(event: MessageEvent, state: MessageState): void {
  const dl = state.deadLetter;
  metricMeter.createCounter(MESSAGE_COUNTERS[event]).add(1, {
    [METRIC_LABELS.topic]: topicLabel(state.envelope.topic, state.route?.found === true),
    [METRIC_LABELS.errorClass]: dl?.errorClass ?? 'none',
    [METRIC_LABELS.reason]: reasonLabel(dl?.reason),
  });
}
