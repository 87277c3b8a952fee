/**
 * The pure parts of the analytics visibility budget, without a server: whole-second windows, the trend
 * carried from run to run (hour rollover, gap, backfill), the call economy of counting pieces, the budget's
 * cap, pace and rate-limit back-off, old-result compatibility, and the alert rules on partial figures.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import type { AnalyticsResult, DlqSnapshot } from '../src/contract/analytics';
import { asPreviousResult, carriedTrendOf, evaluateRules } from '../src/contract/alert-rules';
import {
  bucketsOut,
  carryTrend,
  countPieces,
  emptySeries,
  HOUR,
  parkedAtWindow,
  previousTrendOf,
  secondLiteral,
  splitAtHours,
  unknownRuns,
} from '../src/analytics/trend';
import type { Piece, PreviousTrend, Series } from '../src/analytics/trend';
import {
  backoffDelay,
  isRateLimited,
  VisibilityBudget,
  VisibilityRateLimitedError,
} from '../src/analytics/visibility-budget';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const MIN = 60_000;

/** A fake visibility store: the park times (DlqParkedAt, last park per message) of every message. */
function store(parks: number[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    count: (piece: Piece): Promise<number> => {
      calls++;
      return Promise.resolve(parks.filter((t) => t >= piece.from && t < piece.to).length);
    },
  };
}

/** One run as computeSnapshot does it: inflow pieces (at most 2 calls), carry, then backfill with `left` calls. */
async function run(
  parks: number[],
  windowEnd: number,
  previous: PreviousTrend | undefined,
  left: number,
): Promise<{ series: Series; calls: number; inflow: number | undefined }> {
  const s = store(parks);
  let budget = left;
  const count = (piece: Piece) => (budget-- > 0 ? s.count(piece) : Promise.resolve(undefined));
  const pieces = previous ? splitAtHours(previous.windowEnd, windowEnd) : [];
  const inflow = await countPieces(pieces, count, { maxCalls: 2 });
  const series = carryTrend(
    windowEnd,
    previous,
    pieces.map((p, i) => ({ ...p, parks: inflow.values[i] ?? null })),
  );
  for (const r of unknownRuns(series)) {
    const { values } = await countPieces(
      r.map((b) => ({ from: b.start, to: Math.min(b.end, windowEnd) })),
      count,
    );
    r.forEach((b, i) => {
      if (values[i] !== null && values[i] !== undefined) b.parks = values[i];
    });
  }
  return { series, calls: s.calls, inflow: previous ? inflow.total : undefined };
}

const asPrevious = (windowEnd: number, series: Series): PreviousTrend =>
  previousTrendOf({
    windowEnd: new Date(windowEnd).toISOString(),
    hourly: bucketsOut(series.hourly),
    daily: bucketsOut(series.daily),
  })!;

/** The true count per bucket, for comparison. */
const truth = (parks: number[], series: Series, windowEnd: number) => ({
  hourly: series.hourly.map(
    (b) => parks.filter((t) => t >= b.start && t < Math.min(b.end, windowEnd)).length,
  ),
  daily: series.daily.map((b) => parks.filter((t) => t >= b.start && t < Math.min(b.end, windowEnd)).length),
});
const values = (series: Series) => ({
  hourly: series.hourly.map((b) => b.parks),
  daily: series.daily.map((b) => b.parks),
});

describe('DlqParkedAt windows', () => {
  it('use whole-second literals and only >= and <', () => {
    assert.equal(
      parkedAtWindow(T0, T0 + 1000),
      "DlqParkedAt >= '2026-03-01T10:00:00.000Z' AND DlqParkedAt < '2026-03-01T10:00:01.000Z'",
    );
    assert.equal(parkedAtWindow(undefined, T0), "DlqParkedAt < '2026-03-01T10:00:00.000Z'");
    assert.throws(() => secondLiteral(T0 + 400), /whole seconds/);
    assert.throws(() => parkedAtWindow(T0 + 1, T0 + 1000), /whole seconds/);
  });

  it('split at hour boundaries', () => {
    assert.deepEqual(splitAtHours(T0 - 5 * MIN, T0 + 5 * MIN), [
      { from: T0 - 5 * MIN, to: T0 },
      { from: T0, to: T0 + 5 * MIN },
    ]);
    assert.deepEqual(splitAtHours(T0, T0), []);
    assert.equal(splitAtHours(T0 - 3 * HOUR + MIN, T0 + MIN).length, 4);
  });

  it('series end with the bucket of the last instant before the window end', () => {
    const s = emptySeries(T0); // exactly on an hour: 10:00 is not covered yet
    assert.equal(s.hourly.length, 24);
    assert.equal(s.daily.length, 14);
    assert.equal(s.hourly.at(-1)?.start, T0 - HOUR);
    assert.equal(s.daily.at(-1)?.start, Date.parse('2026-03-01T00:00:00.000Z'));
  });
});

describe('counting consecutive pieces', () => {
  const pieces = Array.from({ length: 24 }, (_, i) => ({ from: T0 + i * HOUR, to: T0 + (i + 1) * HOUR }));

  it('costs 1 call when nothing parked, 2 when all parks are in the newest piece', async () => {
    const empty = store([]);
    assert.deepEqual((await countPieces(pieces, empty.count)).values, new Array<number>(24).fill(0));
    assert.equal(empty.calls, 1);
    const recent = store([T0 + 23 * HOUR + 5, T0 + 23 * HOUR + 9]);
    assert.deepEqual((await countPieces(pieces, recent.count)).values, [...new Array<number>(23).fill(0), 2]);
    assert.equal(recent.calls, 2);
  });

  it('derives the oldest piece from the total, and stops where the budget does', async () => {
    const parks = pieces.map((p, i) => p.from + i); // one per piece
    const all = store(parks);
    assert.deepEqual((await countPieces(pieces, all.count)).values, new Array<number>(24).fill(1));
    assert.equal(all.calls, 24, 'the span, then 23 pieces; the first is what is left');
    let left = 3;
    const capped = store(parks);
    const { values: v, total } = await countPieces(pieces, (p) =>
      left-- > 0 ? capped.count(p) : Promise.resolve(undefined),
    );
    assert.equal(total, 24);
    assert.deepEqual(v, [...new Array<null>(22).fill(null), 1, 1]);
    const two = await countPieces(pieces.slice(0, 2), store(parks).count, { maxCalls: 2 });
    assert.deepEqual(two.values, [1, 1]);
  });
});

describe('the trend carried from run to run', () => {
  // Parks spread over the last two days, then more while the runs go on.
  const history = Array.from({ length: 60 }, (_, i) => T0 - 40 * HOUR + i * 37 * MIN);

  it('a first run knows no bucket until it counts them; later runs add only their inflow, across an hour rollover', async () => {
    let windowEnd = T0 - 20 * MIN;
    const first = await run(history, windowEnd, undefined, 0);
    assert.ok(
      first.series.hourly.every((b) => b.parks === null),
      'nothing counted: unknown, not 0',
    );
    const backfilled = await run(history, windowEnd, undefined, 100);
    assert.deepEqual(values(backfilled.series), truth(history, backfilled.series, windowEnd));

    // Runs every 5 minutes across 10:00, each with parks of its own; two calls at most per run.
    let previous = asPrevious(windowEnd, backfilled.series);
    const parks = [...history];
    for (let i = 1; i <= 8; i++) {
      parks.push(windowEnd + 60_000, windowEnd + 120_000);
      const end = windowEnd + 5 * MIN;
      const next = await run(parks, end, previous, 2);
      assert.ok(next.calls <= 2, `run ${i}: ${next.calls} calls`);
      assert.equal(next.inflow, 2);
      assert.deepEqual(values(next.series), truth(parks, next.series, end), `run ${i}`);
      previous = asPrevious(end, next.series);
      windowEnd = end;
    }
    assert.ok(windowEnd > T0, 'the runs crossed an hour boundary');
  });

  it('after a gap, the buckets it covers are unknown until budget is left, then filled most recent first', async () => {
    const before = T0 - 6 * HOUR;
    const first = await run(history, before, undefined, 100);
    const previous = asPrevious(before, first.series);
    // Three hours later, parks every 10 minutes in between; only the inflow's 2 calls are spent.
    const parks = [...history, ...Array.from({ length: 18 }, (_, i) => before + 5 * MIN + i * 10 * MIN)];
    const end = before + 3 * HOUR;
    const starved = await run(parks, end, previous, 2);
    assert.equal(
      starved.inflow,
      parks.filter((t) => t >= before && t < end).length,
      'the inflow is exact whatever the gap',
    );
    const unknown = starved.series.hourly.filter((b) => b.parks === null);
    assert.deepEqual(
      unknown.map((b) => b.start),
      [before, before + HOUR],
      'the hours of the gap, except the newest (counted by the inflow)',
    );
    assert.ok(starved.series.daily.some((b) => b.parks === null));
    // The next run has budget left: it fills them in.
    const later = end + 5 * MIN;
    const filled = await run(parks, later, asPrevious(end, starved.series), 20);
    assert.deepEqual(values(filled.series), truth(parks, filled.series, later));
  });

  it('never invents a value: a bucket before the previous window end without a carried value stays unknown', () => {
    const end = T0 + 10 * MIN;
    const previous: PreviousTrend = { windowEnd: T0, hourly: [], daily: [] };
    const s = carryTrend(end, previous, [{ from: T0, to: end, parks: 3 }]);
    assert.equal(
      s.hourly.at(-1)?.parks,
      3,
      '10:00 started at the previous window end: its inflow is all of it',
    );
    assert.equal(s.hourly.at(-2)?.parks, null);
    assert.equal(s.daily.at(-1)?.parks, null, 'today started before it and was not carried');
  });
});

describe('the visibility budget', () => {
  const rateLimited = () =>
    Object.assign(new Error('slow down'), {
      code: 8,
      details: 'namespace rate limit exceeded',
      metadata: {},
    });
  const fakeClock = () => {
    let now = 1_000_000;
    return {
      now: () => now,
      sleep: (ms: number) => {
        now += ms;
        return Promise.resolve();
      },
    };
  };

  it('classifies rate limits by gRPC code, never by message text, through causes', () => {
    assert.equal(isRateLimited(rateLimited()), true);
    assert.equal(isRateLimited(new Error('x', { cause: rateLimited() })), true);
    assert.equal(
      isRateLimited(Object.assign(new Error('RESOURCE_EXHAUSTED'), { code: 14, details: 'x', metadata: {} })),
      false,
    );
    assert.equal(isRateLimited(new Error('RESOURCE_EXHAUSTED: rate limit')), false);
  });

  it('never makes more calls than its limit', async () => {
    const budget = new VisibilityBudget({ limit: 3, ratePerSecond: 100, ...fakeClock() });
    const answers = await Promise.all(Array.from({ length: 5 }, () => budget.call(() => Promise.resolve(1))));
    assert.deepEqual(answers, [1, 1, 1, undefined, undefined]);
    assert.equal(budget.spent, 3);
    await assert.rejects(
      budget.call(() => Promise.resolve(1), true),
      /does not fit the budget/,
    );
  });

  it('paces its calls and keeps at most two in flight', async () => {
    const clock = fakeClock();
    const starts: number[] = [];
    let inFlight = 0;
    let most = 0;
    const budget = new VisibilityBudget({ limit: 20, ratePerSecond: 2, ...clock });
    await Promise.all(
      Array.from({ length: 10 }, () =>
        budget.call(async () => {
          starts.push(clock.now());
          most = Math.max(most, ++inFlight);
          await clock.sleep(10);
          inFlight--;
        }),
      ),
    );
    assert.ok(most <= 2);
    for (let i = 2; i < starts.length; i++)
      assert.ok(starts[i]! - starts[i - 2]! >= 1000, `at most 2 starts per second: ${starts.join(', ')}`);
  });

  it('backs off on a rate limit and finishes; past the deadline an essential call fails, an optional one is skipped', async () => {
    const clock = fakeClock();
    let refusals = 2;
    const waits: number[] = [];
    const budget = new VisibilityBudget({
      limit: 10,
      ratePerSecond: 100,
      ...clock,
      deadline: clock.now() + 60_000,
      onBackoff: (ms) => waits.push(ms),
    });
    const answer = await budget.call(() =>
      refusals-- > 0 ? Promise.reject(rateLimited()) : Promise.resolve(7),
    );
    assert.equal(answer, 7);
    assert.equal(budget.rateLimited, 2);
    assert.equal(budget.spent, 1, 'a call retried after a rate limit is one call');
    assert.equal(waits.length, 2);
    assert.ok(waits[1]! >= 1000 && waits[1]! <= 2000);

    const always = () => Promise.reject(rateLimited());
    assert.equal(await budget.call(always), undefined);
    await assert.rejects(budget.call(always, true), VisibilityRateLimitedError);
    await assert.rejects(
      budget.call(() => Promise.reject(new Error('bad query'))),
      /bad query/,
    );
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      backoffDelay(0, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(0, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(3, () => 1),
      8000,
    );
    assert.equal(
      backoffDelay(30, () => 1),
      20_000,
    );
  });
});

describe('settings and results of older versions', () => {
  it('has the documented defaults and names a budget below the essentials', () => {
    const c = analyticsConfigSchema.parse({});
    assert.equal(c.visibilityBudget, 20);
    assert.equal(c.visibilityRate, 2);
    assert.equal(c.settleLag, '5s');
    const bad = analyticsConfigSchema.safeParse({ visibilityBudget: 5, visibilityRate: 0, settleLag: '1h' });
    assert.equal(bad.success, false);
    const text = JSON.stringify(bad.error?.issues);
    assert.match(text, /visibilityBudget/);
    assert.match(text, /17 or more/);
    assert.match(text, /visibilityRate/);
    assert.match(text, /settleLag/);
    // Settings written before the budget still parse (maxListed up to 100 000).
    assert.equal(analyticsConfigSchema.parse({ maxListed: 5000 }).maxListed, 5000);
  });

  const oldResult = {
    version: 1,
    computedAt: '2026-03-01T09:55:00.123Z',
    config: analyticsConfigSchema.parse({}),
    snapshot: {
      computedAt: '2026-03-01T09:55:00.123Z',
      parked: { total: 3, byClass: { security: 0 } },
      hourly: [{ start: '2026-03-01T09:00:00.000Z', parks: 3 }],
      daily: [{ start: '2026-03-01T00:00:00.000Z', parks: 3 }],
      topGroups: [{ fingerprint: 'a', count: 3 }],
      oldest: { workflowId: 'w', ageMs: 10 },
    },
    growth: null,
    alerts: { active: [], notifications: [], webhook: 'disabled', undelivered: [] },
    summary: '',
  };

  it('accepts a result written before the carried trend: it carries nothing (first-run trend), inflow from its computedAt', () => {
    const previous = asPreviousResult(JSON.parse(JSON.stringify(oldResult)));
    assert.ok(previous);
    assert.equal(carriedTrendOf(previous), undefined);
  });

  it('carries the trend of a current result, and drops one of another shape', () => {
    const current = {
      ...oldResult,
      snapshot: { ...oldResult.snapshot, trend: { windowEnd: '2026-03-01T09:54:55.000Z' } },
    };
    assert.deepEqual(carriedTrendOf(asPreviousResult(current)), {
      windowEnd: '2026-03-01T09:54:55.000Z',
      hourly: oldResult.snapshot.hourly,
      daily: oldResult.snapshot.daily,
    });
    const broken = {
      ...current,
      snapshot: { ...current.snapshot, hourly: [{ start: 'x', parks: -1 }] },
    };
    assert.equal(carriedTrendOf(asPreviousResult(broken)), undefined);
  });

  it('alert rules: an oldest not pinned down alerts from the count over the age; a listing count never makes growth', () => {
    const config = analyticsConfigSchema.parse({ oldestAge: '1h', groupGrowth: 5, parkedTotal: 100_000 });
    const base = {
      computedAt: '2026-03-01T10:00:00.000Z',
      parked: { total: 2000, byClass: { security: 0 } },
      inflow: null,
      topGroups: [],
    } as unknown as DlqSnapshot;
    const oldest = { workflowId: 'msg:t:1', messageId: '1', topic: 't', parkedAt: '', ageMs: 10 * MIN };
    const rules = (snapshot: Partial<DlqSnapshot>, previous?: AnalyticsResult) =>
      evaluateRules({ snapshot: { ...base, ...snapshot }, config, ...(previous ? { previous } : {}) }).map(
        (c) => c.id,
      );
    assert.deepEqual(rules({ oldest: { ...oldest, exact: false, overAge: 4 } }), ['oldest-age']);
    assert.deepEqual(rules({ oldest: { ...oldest, exact: false, overAge: 0 } }), []);
    assert.deepEqual(rules({ oldest: { ...oldest, overAge: 4 } }), [], 'an exact oldest decides alone');

    const group = (count: number, exact?: boolean) => ({
      fingerprint: 'fp',
      count,
      ...(exact === undefined ? {} : { exact }),
      errorClass: 'permanent',
      reason: 'R',
      topic: 't',
      sampleWorkflowId: 'msg:t:1',
      sampleMessageId: '1',
    });
    const previous = (count: number, exact?: boolean) =>
      ({
        snapshot: { ...base, topGroups: [group(count, exact)] },
        alerts: { active: [] },
      }) as unknown as AnalyticsResult;
    assert.deepEqual(rules({ topGroups: [group(100, true)] }, previous(10)), ['group-growth:fp']);
    assert.deepEqual(rules({ topGroups: [group(100, false)] }, previous(10)), []);
    assert.deepEqual(rules({ topGroups: [group(100, true)] }, previous(10, false)), []);
  });
});
