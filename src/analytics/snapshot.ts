/**
 * Computes a `DlqSnapshot` from the server's visibility store within a hard budget of visibility calls
 * (`visibilityBudget`, default 20) at any number of parked messages, paced (`visibilityRate`) and backing
 * off on rate limits (./visibility-budget.ts). SQL visibility groups only by `ExecutionStatus`, so a
 * breakdown is either read from a listing or counted one value at a time:
 *
 * 1. One list page (at most 1000) of parked messages. When it holds all of them, every breakdown, the
 *    failure groups, the attempts and the oldest come from it exactly, with no count.
 * 2. Essentials, counted: resolved and retrying totals; when the page did not hold every parked message,
 *    the parked total, the five error classes, the re-parked count and a bounded search for the oldest.
 *    Inflow: parks since the previous run's window end (one or two counts), added to the carried trend.
 * 3. With what is left: failure groups, topics and reasons seen in the listing, registered topics, then
 *    trend buckets still unknown, most recent first. What the budget did not cover is marked
 *    (`coverage`, `exact: false`, `parks: null`), and "other" buckets stay exact.
 */
import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import type { temporal } from '@temporalio/proto';
import { ERROR_CLASSES } from '../contract/errors';
import type { ErrorClass } from '../contract/errors';
import { PROCESS_MESSAGE_WORKFLOW, parseMessageWorkflowId } from '../contract/names';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqTopic,
  DlqUndelivered,
} from '../contract/search-attributes';
import { PARKED_QUERY, statusQuery } from '../contract/queries';
import { parseDuration } from '../contract/duration';
import type {
  AnalyticsConfig,
  CarriedTrend,
  Coverage,
  DlqSnapshot,
  FailureGroup,
  OldestParked,
} from '../contract/analytics';
import { VisibilityBudget } from './visibility-budget';
import {
  bucketsOut,
  carryTrend,
  countPieces,
  floorSecond,
  parkedAtWindow,
  previousTrendOf,
  SECOND,
  splitAtHours,
  unknownRuns,
} from './trend';
import type { Piece } from './trend';

/** A list page holds at most this many executions. */
const PAGE_LIMIT = 1000;
/** Pages of messages older than the listing's oldest read to prove the oldest. */
const OLDEST_PAGES = 2;
/** Attempts counted one by one up to this; beyond, they fall in the last bucket (`"50+"`). */
const MAX_ATTEMPTS_BUCKET = 50;
/** At most this many reasons or topics are reported (the rest are in the "other" bucket). */
const MAX_KEYS = 100;
/** At most this many uncounted values are named in `coverage.notCounted`. */
const MAX_NOT_COUNTED = 50;
/** Values safe to put inside a quoted visibility literal. */
const SAFE_LITERAL = /^[A-Za-z0-9._:/ -]{1,200}$/;

const quote = (value: string): string => `'${value}'`;
const iso = (ms: number): string => new Date(ms).toISOString();

interface ListedRow {
  workflowId: string;
  fingerprint?: string;
  errorClass?: string;
  reason?: string;
  topic?: string;
  parkedAt?: number;
  attempts?: number;
  parkCount?: number;
}

function rowOf(raw: temporal.api.workflow.v1.IWorkflowExecutionInfo): ListedRow {
  const sa = decodeTypedSearchAttributes(raw.searchAttributes?.indexedFields);
  const row: ListedRow = { workflowId: raw.execution?.workflowId ?? '' };
  const fingerprint = sa.get(DlqFingerprint);
  const errorClass = sa.get(DlqErrorClass);
  const reason = sa.get(DlqReason);
  const topic = sa.get(DlqTopic);
  const parkedAt = sa.get(DlqParkedAt)?.getTime();
  const attempts = sa.get(DlqAttempts);
  const parkCount = sa.get(DlqParkCount);
  if (fingerprint !== undefined) row.fingerprint = fingerprint;
  if (errorClass !== undefined) row.errorClass = errorClass;
  if (reason !== undefined) row.reason = reason;
  if (topic !== undefined) row.topic = topic;
  if (parkedAt !== undefined && Number.isFinite(parkedAt)) row.parkedAt = parkedAt;
  if (attempts !== undefined) row.attempts = attempts;
  if (parkCount !== undefined) row.parkCount = parkCount;
  return row;
}

/** One page of a listing (one visibility call) and whether more pages follow. */
async function listPage(
  client: Client,
  query: string,
  pageSize: number,
): Promise<{ rows: ListedRow[]; more: boolean }> {
  const response = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query,
    pageSize,
  });
  return {
    rows: (response.executions ?? []).map(rowOf),
    more: (response.nextPageToken?.length ?? 0) > 0,
  };
}

/** The base query: message workflows, narrowed by the configured filter. */
export function scopeQuery(config: Pick<AnalyticsConfig, 'filter'>): string {
  const base = `WorkflowType = ${quote(PROCESS_MESSAGE_WORKFLOW)}`;
  return config.filter.trim() ? `${base} AND (${config.filter.trim()})` : base;
}

/** Options of `computeSnapshot`. */
export interface SnapshotOptions {
  /** The clock. @defaultValue now */
  now?: Date;
  /** What the previous run carries (its `snapshot.trend` window end and buckets). @defaultValue none (a first run) */
  previous?: CarriedTrend;
  /**
   * The previous run's `computedAt`, for a previous result without a carried trend: inflow counts from
   * this second on, and the buckets start unknown. Ignored when `previous` is given.
   */
  since?: string;
  /** Rate-limit back-off stops at this time (epoch ms). @defaultValue 60 s from the start */
  deadline?: number;
  /** Aborts back-off waits. */
  signal?: AbortSignal;
  /** Called before each back-off wait (the activity heartbeats). */
  onBackoff?: (delayMs: number) => void;
}

/** A value to count with what is left of the budget. */
interface Wanted {
  what: string;
  query?: string;
  done?: (n: number) => void;
}

/** Rows grouped by a key, most frequent first (ties by key). */
function tally(rows: ListedRow[], key: (row: ListedRow) => string | undefined): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const k = key(row);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

const olderFirst = (a: ListedRow, b: ListedRow): number =>
  (a.parkedAt ?? Infinity) - (b.parkedAt ?? Infinity) || a.workflowId.localeCompare(b.workflowId);

function oldestOf(rows: ListedRow[]): ListedRow | undefined {
  let best: ListedRow | undefined;
  for (const row of rows) if (row.parkedAt !== undefined && (!best || olderFirst(row, best) < 0)) best = row;
  return best;
}

/** Computes the snapshot. */
export async function computeSnapshot(
  client: Client,
  config: AnalyticsConfig,
  options: SnapshotOptions = {},
): Promise<DlqSnapshot> {
  const nowMs = (options.now ?? new Date()).getTime();
  const scope = scopeQuery(config);
  // Running workflows only: a terminated one keeps its last `DlqStatus` (see src/contract/queries.ts).
  const parked = `${scope} AND ${PARKED_QUERY}`;
  const budget = new VisibilityBudget({
    limit: config.visibilityBudget,
    ratePerSecond: config.visibilityRate,
    deadline: options.deadline ?? Date.now() + 60_000,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onBackoff ? { onBackoff: options.onBackoff } : {}),
  });
  const count = (query: string, essential = false) =>
    budget.call(async () => (await client.workflow.count(query)).count, essential);
  const essentialCount = async (query: string): Promise<number> => (await count(query, true)) ?? 0;
  const list = async (query: string, pageSize: number) =>
    (await budget.call(() => listPage(client, query, pageSize), true)) ?? { rows: [], more: false };
  const parksIn = (piece: Piece) => `${scope} AND ${parkedAtWindow(piece.from, piece.to)}`;

  // The trend window: from the previous run's end to now minus the settle lag, on whole seconds.
  const previous = options.previous ? previousTrendOf(options.previous) : undefined;
  const since = options.previous ? undefined : options.since ? Date.parse(options.since) : undefined;
  const previousEnd =
    previous?.windowEnd ?? (since !== undefined && Number.isFinite(since) ? floorSecond(since) : undefined);
  const lagMs = parseDuration(config.settleLag) ?? 5 * SECOND;
  const windowEnd = Math.max(previousEnd ?? -Infinity, floorSecond(nowMs - lagMs));

  // 1. One page of parked messages.
  const page = await list(parked, Math.min(config.maxListed, PAGE_LIMIT));
  const rows = page.rows;

  // 2. Essentials, concurrently (the budget paces them).
  const pieces = previousEnd !== undefined ? splitAtHours(previousEnd, windowEnd) : [];
  const [resolvedCounts, inflowCounts, counted, oldestSearch] = await Promise.all([
    Promise.all(
      [
        `${scope} AND ${statusQuery('retrying')}`,
        `${scope} AND ${statusQuery('recovered')}`,
        `${scope} AND ${statusQuery('discarded')}`,
        `${scope} AND ${statusQuery('expired')}`,
      ].map(essentialCount),
    ),
    countPieces(pieces, (piece) => count(parksIn(piece), true), { maxCalls: 2 }),
    page.more
      ? Promise.all([
          essentialCount(parked),
          essentialCount(`${parked} AND ${DlqParkCount.name} > 1`),
          Promise.all(
            ERROR_CLASSES.map((c) => essentialCount(`${parked} AND ${DlqErrorClass.name} = ${quote(c)}`)),
          ),
        ])
      : undefined,
    page.more ? searchOldest(rows, parked, list) : undefined,
  ]);
  const [retrying = 0, recovered = 0, discarded = 0, expired = 0] = resolvedCounts;
  // A full page with nothing after it, or a count no larger than the page: the listing holds every one.
  const complete = !counted || counted[0] <= rows.length;
  const total = complete ? rows.length : counted[0];

  const notCounted: string[] = [];
  const byClass = Object.fromEntries(
    ERROR_CLASSES.map((c, i) => [
      c,
      complete ? rows.filter((r) => r.errorClass === c).length : (counted[2][i] ?? 0),
    ]),
  ) as Record<ErrorClass, number>;
  const reParked = complete ? rows.filter((r) => (r.parkCount ?? 0) > 1).length : counted[1];

  // The oldest: from the listing, or proved by the bounded search; the alert's count when it was not.
  let oldest: OldestParked | null = null;
  const oldestRow = complete ? oldestOf(rows) : oldestSearch?.row;
  if (oldestRow?.parkedAt !== undefined) {
    oldest = {
      workflowId: oldestRow.workflowId,
      messageId: parseMessageWorkflowId(oldestRow.workflowId)?.messageId ?? oldestRow.workflowId,
      topic: oldestRow.topic ?? '',
      parkedAt: iso(oldestRow.parkedAt),
      ageMs: Math.max(0, nowMs - oldestRow.parkedAt),
      exact: complete || (oldestSearch?.exact ?? false),
    };
    if (!oldest.exact) {
      const threshold = floorSecond(nowMs - (parseDuration(config.oldestAge) ?? 0));
      oldest.overAge = await essentialCount(`${parked} AND ${parkedAtWindow(undefined, threshold)}`);
    }
  }

  // Messages whose mirror events or immediate alert no sink took (open or closed): the first call after the
  // essentials, so it never takes one of theirs; null when the budget has none left.
  const undeliveredCount = await count(`${scope} AND ${DlqUndelivered.name} IS NOT NULL`);

  // 3. Groups, topics and reasons: exact from a complete listing, else counted as far as the budget goes.
  const groupsListed = tally(rows, (r) => r.fingerprint).slice(0, config.topGroups);
  const topicsListed = tally(rows, (r) => r.topic);
  const reasonsListed = tally(rows, (r) => r.reason);
  const byTopic: Record<string, number> = {};
  const byReason: Record<string, number> = {};
  const groupCounts = new Map<string, number>();
  if (complete) {
    for (const [topic, n] of topicsListed.slice(0, MAX_KEYS)) byTopic[topic] = n;
    for (const topic of config.topics) byTopic[topic] ??= 0;
    for (const [reason, n] of reasonsListed.slice(0, MAX_KEYS)) byReason[reason] = n;
    for (const [fingerprint, n] of groupsListed) groupCounts.set(fingerprint, n);
  } else {
    const seen = new Set(topicsListed.map(([t]) => t));
    // Each value to count, in the order the budget goes to them; one that is not a safe literal is not counted.
    const item = (what: string, value: string, query: string, done: (n: number) => void): Wanted =>
      SAFE_LITERAL.test(value) ? { what, query, done } : { what };
    const wanted: Wanted[] = [
      ...groupsListed.map(([fp]) =>
        item(`group:${fp}`, fp, `${parked} AND ${DlqFingerprint.name} = ${quote(fp)}`, (n) => {
          groupCounts.set(fp, n);
        }),
      ),
      ...[...topicsListed.map(([t]) => t), ...config.topics.filter((t) => !seen.has(t))]
        .slice(0, MAX_KEYS)
        .map((topic) =>
          item(`topic:${topic}`, topic, `${parked} AND ${DlqTopic.name} = ${quote(topic)}`, (n) => {
            if (n > 0 || config.topics.includes(topic)) byTopic[topic] = n;
          }),
        ),
      ...reasonsListed.slice(0, MAX_KEYS).map(([reason]) =>
        item(`reason:${reason}`, reason, `${parked} AND ${DlqReason.name} = ${quote(reason)}`, (n) => {
          if (n > 0) byReason[reason] = n;
        }),
      ),
    ];
    // Calls are reserved in this order, so the budget goes to the first ones.
    await Promise.all(
      wanted.map(async ({ what, query, done }) => {
        const n = query !== undefined ? await count(query) : undefined;
        if (n === undefined || !done) notCounted.push(what);
        else done(n);
      }),
    );
  }
  const groupRows = new Map<string, ListedRow>();
  for (const row of rows)
    if (row.fingerprint && !groupRows.has(row.fingerprint)) groupRows.set(row.fingerprint, row);
  const topGroups: FailureGroup[] = groupsListed
    .map(([fingerprint, listed]): FailureGroup => {
      const row = groupRows.get(fingerprint)!;
      const exact = groupCounts.get(fingerprint);
      return {
        fingerprint,
        count: exact ?? listed,
        exact: exact !== undefined,
        errorClass: row.errorClass ?? '',
        reason: row.reason ?? '',
        topic: row.topic ?? '',
        sampleWorkflowId: row.workflowId,
        sampleMessageId: parseMessageWorkflowId(row.workflowId)?.messageId ?? row.workflowId,
      };
    })
    .sort((a, b) => b.count - a.count || a.fingerprint.localeCompare(b.fingerprint));

  // Attempts, from the listing: exact when it holds every parked message, a sample otherwise.
  const attemptsDistribution: Record<string, number> = {};
  let attemptSum = 0;
  let withAttempts = 0;
  for (const row of rows) {
    if (row.attempts === undefined) continue;
    attemptSum += row.attempts;
    withAttempts++;
    const key = row.attempts >= MAX_ATTEMPTS_BUCKET ? `${MAX_ATTEMPTS_BUCKET}+` : String(row.attempts);
    attemptsDistribution[key] = (attemptsDistribution[key] ?? 0) + 1;
  }

  // 4. The trend: the carried buckets plus this run's inflow, then unknown buckets with what is left.
  const inflowPieces = pieces.map((piece, i) => ({ ...piece, parks: inflowCounts.values[i] ?? null }));
  const series = carryTrend(windowEnd, previous, inflowPieces);
  let backfilled = 0;
  for (const run of unknownRuns(series)) {
    if (budget.left <= 0) break;
    const runPieces = run.map((b) => ({ from: b.start, to: Math.min(b.end, windowEnd) }));
    const { values } = await countPieces(runPieces, (piece) => count(parksIn(piece)));
    run.forEach((bucket, i) => {
      const value = values[i];
      if (value === null || value === undefined) return;
      bucket.parks = value;
      backfilled++;
    });
  }

  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const coverage: Coverage = {
    budget: config.visibilityBudget,
    rateLimited: budget.rateLimited,
    sampled: complete ? [] : ['attempts'],
    notCounted: notCounted.slice(0, MAX_NOT_COUNTED),
    notCountedMore: Math.max(0, notCounted.length - MAX_NOT_COUNTED),
  };
  return {
    computedAt: iso(nowMs),
    scope,
    parked: {
      total,
      byClass,
      byReason,
      otherReasons: Math.max(0, total - sum(byReason)),
      byTopic,
      otherTopics: Math.max(0, total - sum(byTopic)),
      reParked,
    },
    retrying,
    resolved: { recovered, discarded, expired },
    undeliveredMirror: undeliveredCount ?? null,
    requeueSuccessRate: recovered + reParked > 0 ? recovered / (recovered + reParked) : null,
    averageAttempts: withAttempts > 0 ? attemptSum / withAttempts : null,
    attemptsDistribution,
    oldest,
    hourly: bucketsOut(series.hourly),
    daily: bucketsOut(series.daily),
    inflow:
      previousEnd !== undefined && inflowCounts.total !== undefined
        ? { since: iso(previousEnd), until: iso(windowEnd), parks: inflowCounts.total }
        : null,
    trend: {
      windowEnd: iso(windowEnd),
      unknownHours: series.hourly.filter((b) => b.parks === null).length,
      unknownDays: series.daily.filter((b) => b.parks === null).length,
      backfilled,
    },
    topGroups,
    listing: { listed: rows.length, complete },
    coverage,
    serverCalls: budget.spent,
  };
}

/**
 * The oldest parked message when the listing did not hold them all: pages of messages parked before the
 * end of the listing's oldest second, each narrowing to what is older than the oldest found so far, until
 * a page holds every such message (then it is exact) or `OLDEST_PAGES` pages were read.
 */
async function searchOldest(
  rows: ListedRow[],
  parked: string,
  list: (query: string, pageSize: number) => Promise<{ rows: ListedRow[]; more: boolean }>,
): Promise<{ row: ListedRow | undefined; exact: boolean }> {
  let best = oldestOf(rows);
  for (let i = 0; i < OLDEST_PAGES && best?.parkedAt !== undefined; i++) {
    const second = floorSecond(best.parkedAt);
    const page = await list(`${parked} AND ${parkedAtWindow(undefined, second + SECOND)}`, PAGE_LIMIT);
    const found = oldestOf([best, ...page.rows])!;
    if (!page.more) return { row: found, exact: true };
    // A full page inside one second cannot be narrowed by a whole-second bound.
    const narrowed = found.parkedAt !== undefined && found.parkedAt < second;
    best = found;
    if (!narrowed) break;
  }
  return { row: best, exact: false };
}
