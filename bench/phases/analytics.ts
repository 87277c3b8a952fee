/**
 * Analytics cost: one `computeSnapshot` (the function the `dlqAnalytics` workflow's activity runs) at a
 * parked total. Server calls are counted on the client's WorkflowService, by method; the snapshot's own
 * `serverCalls` is reported beside them.
 */
import { computeSnapshot } from '../../src/analytics/snapshot';
import { analyticsConfigSchema } from '../../src/contract/analytics-config';
import type { DlqSnapshot } from '../../src/contract/analytics';
import { FAIL_TOPICS, TOPIC_BULK, TOPIC_PARK } from '../handlers';
import type { BenchContext } from '../context';
import { median, round, sleep } from '../stats';

export interface AnalyticsCost {
  parked: number;
  /** What the snapshot counted as parked (should equal `parked`). */
  snapshotTotal: number;
  repeats: number;
  wallMs: { median: number; min: number; max: number };
  /** WorkflowService calls of one computation, by method. */
  callsByMethod: Record<string, number>;
  countCalls: number;
  listCalls: number;
  snapshotServerCalls: number;
  /** Calls the server's visibility rate limit refused and the client made again (counted in `callsByMethod`). */
  rateLimited: number;
  /** Pause before each repeat but the first, so that each starts with the budget a scheduled run has. */
  pauseMs: number;
  /** What the last run's budget left uncounted or sampled (snapshots that report it). */
  coverage: DlqSnapshot['coverage'] | null;
  topGroups: number;
}

export async function measureAnalytics(
  ctx: BenchContext,
  parked: number,
  repeats = 3,
): Promise<AnalyticsCost> {
  const config = analyticsConfigSchema.parse({ topics: [TOPIC_PARK, TOPIC_BULK, ...FAIL_TOPICS] });
  const walls: number[] = [];
  let last: Awaited<ReturnType<typeof computeSnapshot>> | undefined;
  let calls: Record<string, number> = {};
  // A stock server refills its visibility budget at 10 calls/s: each repeat starts with a full one, as a
  // scheduled run (every 5 minutes) does. The dev server's budget is ten times larger: no pause.
  const pauseMs = ctx.options.server === 'postgres' ? 5000 : 0;
  for (let i = 0; i < repeats; i++) {
    if (i > 0 && pauseMs > 0) await sleep(pauseMs);
    ctx.counting.reset();
    const t0 = performance.now();
    last = await computeSnapshot(ctx.counting.client, config);
    walls.push(performance.now() - t0);
    calls = ctx.counting.calls();
  }
  return {
    parked,
    snapshotTotal: last?.parked.total ?? 0,
    repeats,
    wallMs: {
      median: round(median(walls), 0),
      min: round(Math.min(...walls), 0),
      max: round(Math.max(...walls), 0),
    },
    callsByMethod: calls,
    countCalls: calls.countWorkflowExecutions ?? 0,
    listCalls: calls.listWorkflowExecutions ?? 0,
    snapshotServerCalls: last?.serverCalls ?? 0,
    rateLimited: last?.coverage?.rateLimited ?? 0,
    coverage: last?.coverage ?? null,
    pauseMs,
    topGroups: last?.topGroups.length ?? 0,
  };
}
