/**
 * The analytics gauges (src/contract/metrics.ts names them), set from each snapshot on the worker that ran
 * the `computeDlqSnapshot` activity. Label values are bounded: five error classes, the
 * {@link MAX_TOPIC_SERIES} largest topics plus `other`, the {@link MAX_GROUP_SERIES} largest failure groups.
 * The exporter cannot drop a series, so a topic or group that left the bound is set to 0 rather than left at
 * its last value; those series last until the worker restarts.
 */
import type { MetricMeter, MetricTags } from '@temporalio/common';
import type { DlqSnapshot } from '../src/contract/analytics';
import { ERROR_CLASSES } from '../src/contract/errors';
import {
  ANALYTICS_GAUGES,
  MAX_GROUP_SERIES,
  MAX_TOPIC_SERIES,
  METRIC_LABELS,
  OTHER_LABEL,
  reasonLabel,
} from '../src/contract/metrics';

/** Series set by earlier runs in this process, to zero the ones a later run no longer reports. */
export interface GaugeMemory {
  topics: Map<string, MetricTags>;
  groups: Map<string, MetricTags>;
}

export function newGaugeMemory(): GaugeMemory {
  return { topics: new Map(), groups: new Map() };
}

/** Sets every analytics gauge from `snapshot`. */
export function recordSnapshotGauges(meter: MetricMeter, snapshot: DlqSnapshot, memory: GaugeMemory): void {
  const gauge = (name: string) => meter.createGauge(name, 'float');
  gauge(ANALYTICS_GAUGES.parked).set(snapshot.parked.total);
  const byClass = gauge(ANALYTICS_GAUGES.parkedByClass);
  for (const errorClass of ERROR_CLASSES)
    byClass.set(snapshot.parked.byClass[errorClass], { [METRIC_LABELS.errorClass]: errorClass });

  const topics = Object.entries(snapshot.parked.byTopic).sort(
    (a, b) => b[1] - a[1] || a[0].localeCompare(b[0]),
  );
  const kept = topics.slice(0, MAX_TOPIC_SERIES);
  const rest = topics.slice(MAX_TOPIC_SERIES).reduce((sum, [, n]) => sum + n, snapshot.parked.otherTopics);
  const topicSeries = new Map<string, { tags: MetricTags; value: number }>(
    kept.map(([topic, n]) => [topic, { tags: { [METRIC_LABELS.topic]: topic }, value: n }]),
  );
  topicSeries.set(OTHER_LABEL, { tags: { [METRIC_LABELS.topic]: OTHER_LABEL }, value: rest });
  setWithMemory(gauge(ANALYTICS_GAUGES.parkedByTopic), topicSeries, memory.topics);

  const groupSeries = new Map<string, { tags: MetricTags; value: number }>(
    snapshot.topGroups.slice(0, MAX_GROUP_SERIES).map((g) => {
      const tags = {
        [METRIC_LABELS.fingerprint]: g.fingerprint,
        [METRIC_LABELS.errorClass]: g.errorClass,
        [METRIC_LABELS.reason]: reasonLabel(g.reason),
        [METRIC_LABELS.topic]: g.topic,
      };
      return [JSON.stringify(tags), { tags, value: g.count }];
    }),
  );
  setWithMemory(gauge(ANALYTICS_GAUGES.groupParked), groupSeries, memory.groups);

  gauge(ANALYTICS_GAUGES.oldestAge).set(snapshot.oldest ? snapshot.oldest.ageMs / 1000 : 0);
  if (snapshot.inflow) gauge(ANALYTICS_GAUGES.inflow).set(snapshot.inflow.parks);
  if (snapshot.requeueSuccessRate !== null)
    gauge(ANALYTICS_GAUGES.requeueSuccess).set(snapshot.requeueSuccessRate);
  if (snapshot.undeliveredMirror !== undefined && snapshot.undeliveredMirror !== null)
    gauge(ANALYTICS_GAUGES.mirrorUndelivered).set(snapshot.undeliveredMirror);
  // Last: a scrape that sees the new timestamp sees the figures it stamps.
  gauge(ANALYTICS_GAUGES.computedAt).set(Date.parse(snapshot.computedAt) / 1000);
}

function setWithMemory(
  gauge: { set(value: number, tags?: MetricTags): void },
  series: Map<string, { tags: MetricTags; value: number }>,
  memory: Map<string, MetricTags>,
): void {
  for (const [key, tags] of memory) if (!series.has(key)) gauge.set(0, tags);
  for (const [key, { tags, value }] of series) {
    gauge.set(value, tags);
    memory.set(key, tags);
  }
}
