/**
 * `dlq stats`: the analytics computation, on demand, with the schedule's settings and visibility budget,
 * carrying the trend of the schedule's last completed run (so the buckets it knew cost nothing); nothing is
 * sent and nothing is kept.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { table } from '../output';
import { computeSnapshot } from '../../analytics/snapshot';
import {
  AnalyticsScheduleMissingError,
  getAnalyticsSettings,
  lastAnalyticsResult,
} from '../../analytics/schedule';
import { analyticsConfigSchema } from '../../contract/analytics-config';
import type { AnalyticsConfig, AnalyticsResult, ParkBucket } from '../../contract/analytics';
import { buildAnalyticsResult, carriedTrendOf, evaluateAlerts, formatAge } from '../../contract/alert-rules';

/** Computes what the scheduled run would, with its settings and its last result (or defaults). */
export async function statsOnDemand(
  ctx: CliContext,
): Promise<{ result: AnalyticsResult; scheduled: boolean }> {
  const client = await ctx.client();
  const scheduleId = ctx.config().DLQ_ANALYTICS_SCHEDULE_ID;
  let config: AnalyticsConfig;
  let previous: AnalyticsResult | undefined;
  let scheduled = true;
  try {
    config = (await getAnalyticsSettings(client, scheduleId)).config;
    previous = await lastAnalyticsResult(client, scheduleId);
  } catch (err) {
    if (!(err instanceof AnalyticsScheduleMissingError)) throw err;
    config = analyticsConfigSchema.parse({});
    scheduled = false;
  }
  // Like the scheduled run: the last run's trend carried forward (read from the schedule), inflow since it.
  const carried = carriedTrendOf(previous);
  const snapshot = await computeSnapshot(client, config, {
    ...(previous ? { since: previous.computedAt } : {}),
    ...(carried ? { previous: carried } : {}),
  });
  const transition = evaluateAlerts({ snapshot, config, ...(previous ? { previous } : {}) });
  const result = buildAnalyticsResult({
    config,
    snapshot,
    ...(previous ? { previous } : {}),
    transition,
    webhook: 'nothing-to-send',
    undelivered: [],
  });
  return { result, scheduled };
}

const byCount = (r: Record<string, number>) => Object.entries(r).sort((a, b) => b[1] - a[1]);

/** The sum of the known buckets, and how many are not known yet (never shown as 0). */
function parksIn(buckets: ParkBucket[], unit: string): string | number {
  const known = buckets.reduce((a, b) => a + (b.parks ?? 0), 0);
  const unknown = buckets.filter((b) => b.parks === null).length;
  return unknown ? `${known} + unknown (${unknown} of ${buckets.length} ${unit} not counted yet)` : known;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('stats')
    .description(
      'DLQ analytics now: totals, breakdowns, oldest, inflow, re-queue success, failure groups, alerts',
    )
    .option('--json', 'print the analytics result as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { result, scheduled } = await statsOnDemand(ctx);
      if (flags.json) {
        ctx.json(result);
        return;
      }
      const s = result.snapshot;
      const pct = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x * 1000) / 10}%`);
      ctx.print(
        table(
          ctx,
          ['measure', 'value'],
          [
            ['parked', s.parked.total],
            ['re-parked after a retry', s.parked.reParked],
            ['retrying now', s.retrying],
            [
              'recovered / discarded / expired',
              `${s.resolved.recovered} / ${s.resolved.discarded} / ${s.resolved.expired}`,
            ],
            ['re-queue success rate', pct(s.requeueSuccessRate)],
            ['average attempts', s.averageAttempts === null ? 'n/a' : s.averageAttempts.toFixed(2)],
            ['oldest parked', s.oldest ? `${s.oldest.workflowId} (${formatAge(s.oldest.ageMs)})` : 'none'],
            ['inflow since last run', s.inflow ? `${s.inflow.parks} since ${s.inflow.since}` : 'n/a'],
            ['growth since last run', result.growth === null ? 'n/a' : result.growth],
            ['parks last 24 h', parksIn(s.hourly, 'hours')],
            ['parks last 14 d', parksIn(s.daily, 'days')],
          ],
        ),
      );
      const breakdown = (title: string, entries: Array<[string, number]>, other: number) =>
        table(
          ctx,
          [title, 'parked'],
          [...entries, ...(other ? [['(other)', other] as [string, number]] : [])],
        );
      ctx.print(breakdown('error class', byCount(s.parked.byClass), 0));
      ctx.print(breakdown('reason', byCount(s.parked.byReason), s.parked.otherReasons));
      ctx.print(breakdown('topic', byCount(s.parked.byTopic), s.parked.otherTopics));
      if (s.topGroups.length) {
        ctx.print(
          table(
            ctx,
            ['failure group', 'count', 'class', 'reason', 'topic', 'sample message'],
            s.topGroups.map((g) => [
              g.fingerprint,
              g.exact === false ? `≥ ${g.count} (listed)` : g.count,
              g.errorClass,
              g.reason,
              g.topic,
              g.sampleMessageId,
            ]),
          ),
        );
      }
      ctx.print(
        result.alerts.active.length
          ? table(
              ctx,
              ['alert', 'severity', 'since', 'message'],
              result.alerts.active.map((a) => [a.id, a.severity, a.firstFiredAt, a.message]),
            )
          : 'No alert condition holds.',
      );
      if (!s.listing.complete)
        ctx.print(
          `${s.listing.listed} of ${s.parked.total} parked messages listed: attempts are from that sample` +
            (s.coverage?.notCounted.length
              ? `; not counted within the visibility budget (in "(other)", or listing counts): ${s.coverage.notCounted.join(', ')}${s.coverage.notCountedMore ? ` and ${s.coverage.notCountedMore} more` : ''}`
              : '') +
            '.',
        );
      ctx.print(
        `${scheduled ? 'Settings of the analytics schedule' : 'Default settings (the analytics schedule does not exist)'}; ${s.serverCalls} of ${s.coverage?.budget ?? s.serverCalls} visibility calls${s.coverage?.rateLimited ? ` (${s.coverage.rateLimited} rate-limited and retried)` : ''}; counts are eventually consistent.`,
      );
    });
}
