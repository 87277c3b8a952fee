/**
 * Computes a `DlqSnapshot` from the server's visibility store. SQL visibility groups only by
 * `ExecutionStatus`, so every breakdown is one count per value. Totals, breakdowns, hourly and daily
 * figures, the average attempts and the oldest message cost a number of calls that does not grow with the
 * number of parked messages; only the failure groups list, in bounded pages (`maxListed`).
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { ERROR_CLASSES, REASON_CODES } from '../shared/errors';
import type { ErrorClass } from '../shared/errors';
import { PROCESS_MESSAGE_WORKFLOW, parseMessageWorkflowId } from '../shared/names';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqTopic,
} from '../shared/search-attributes';
import { PARKED_QUERY, statusQuery } from '../shared/queries';
import type { AnalyticsConfig, DlqSnapshot, FailureGroup, ParkBucket } from '../shared/analytics';

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Counts run at most this many at a time. */
const CONCURRENCY = 8;
/** At most this many extra reasons or topics (seen while listing) get their own count. */
const MAX_DISCOVERED = 50;
/** Attempts counted one by one up to this; beyond, they fall in the last bucket (`"50+"`). */
const MAX_ATTEMPTS_BUCKET = 50;
/** Values safe to put inside a quoted visibility literal. */
const SAFE_LITERAL = /^[A-Za-z0-9._:/ -]{1,200}$/;

const quote = (value: string): string => `'${value}'`;
const iso = (ms: number): string => new Date(ms).toISOString();

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return out;
}

interface ListedRow {
  workflowId: string;
  fingerprint?: string;
  errorClass?: string;
  reason?: string;
  topic?: string;
  parkedAt?: Date;
}

function rowOf(info: WorkflowExecutionInfo): ListedRow {
  const sa = info.typedSearchAttributes;
  const fingerprint = sa.get(DlqFingerprint);
  const errorClass = sa.get(DlqErrorClass);
  const reason = sa.get(DlqReason);
  const topic = sa.get(DlqTopic);
  const parkedAt = sa.get(DlqParkedAt);
  return {
    workflowId: info.workflowId,
    ...(fingerprint !== undefined ? { fingerprint } : {}),
    ...(errorClass !== undefined ? { errorClass } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(topic !== undefined ? { topic } : {}),
    ...(parkedAt !== undefined ? { parkedAt } : {}),
  };
}

/** The base query: message workflows, narrowed by the configured filter. */
export function scopeQuery(config: Pick<AnalyticsConfig, 'filter'>): string {
  const base = `WorkflowType = ${quote(PROCESS_MESSAGE_WORKFLOW)}`;
  return config.filter.trim() ? `${base} AND (${config.filter.trim()})` : base;
}

/** Computes the snapshot. `now` is injectable for tests. */
export async function computeSnapshot(
  client: Client,
  config: AnalyticsConfig,
  options: { since?: string; now?: Date } = {},
): Promise<DlqSnapshot> {
  const nowMs = (options.now ?? new Date()).getTime();
  const scope = scopeQuery(config);
  // Running workflows only: a terminated one keeps its last `DlqStatus` (see src/shared/queries.ts).
  const parked = `${scope} AND ${PARKED_QUERY}`;
  let calls = 0;
  const count = async (where: string): Promise<number> => {
    calls++;
    return (await client.workflow.count(where)).count;
  };
  const counts = (queries: string[]) => mapLimit(queries, CONCURRENCY, count);

  // 1. The bounded listing of parked messages: failure groups, plus reasons and topics to count.
  const rows: ListedRow[] = [];
  const pageSize = Math.min(config.maxListed, 1000);
  calls++;
  for await (const info of client.workflow.list({ query: parked, pageSize })) {
    rows.push(rowOf(info));
    if (rows.length >= config.maxListed) break;
    if (rows.length % pageSize === 0) calls++;
  }

  const reasons = new Set<string>(REASON_CODES);
  const topics = new Set<string>(config.topics);
  for (const row of rows) {
    if (row.reason && SAFE_LITERAL.test(row.reason) && reasons.size < REASON_CODES.length + MAX_DISCOVERED)
      reasons.add(row.reason);
    if (row.topic && SAFE_LITERAL.test(row.topic) && topics.size < config.topics.length + MAX_DISCOVERED)
      topics.add(row.topic);
  }
  const reasonList = [...reasons];
  const topicList = [...topics];

  // 2. Totals and breakdowns: one count per value.
  const hourStart = Math.floor(nowMs / HOUR) * HOUR - 23 * HOUR;
  const dayStart = Math.floor(nowMs / DAY) * DAY - 13 * DAY;
  const between = (from: number, to: number) =>
    `${scope} AND ${DlqParkedAt.name} >= ${quote(iso(from))} AND ${DlqParkedAt.name} < ${quote(iso(to))}`;
  const fixed = [
    parked,
    `${parked} AND ${DlqParkCount.name} > 1`,
    `${scope} AND ${statusQuery('retrying')}`,
    `${scope} AND ${statusQuery('recovered')}`,
    `${scope} AND ${statusQuery('discarded')}`,
    `${scope} AND ${statusQuery('expired')}`,
    ...ERROR_CLASSES.map((c) => `${parked} AND ${DlqErrorClass.name} = ${quote(c)}`),
    ...reasonList.map((r) => `${parked} AND ${DlqReason.name} = ${quote(r)}`),
    ...topicList.map((t) => `${parked} AND ${DlqTopic.name} = ${quote(t)}`),
    ...Array.from({ length: 24 }, (_, i) => between(hourStart + i * HOUR, hourStart + (i + 1) * HOUR)),
    ...Array.from({ length: 14 }, (_, i) => between(dayStart + i * DAY, dayStart + (i + 1) * DAY)),
    ...(options.since ? [between(Date.parse(options.since), nowMs + 1)] : []),
  ];
  const values = await counts(fixed);
  let at = 0;
  const take = (n: number) => values.slice(at, (at += n));
  const [total = 0, reParked = 0, retrying = 0, recovered = 0, discarded = 0, expired = 0] = take(6);
  const byClass = Object.fromEntries(ERROR_CLASSES.map((c) => [c, take(1)[0] ?? 0])) as Record<
    ErrorClass,
    number
  >;
  const reasonCounts = take(reasonList.length);
  const topicCounts = take(topicList.length);
  const hourly: ParkBucket[] = take(24).map((parks, i) => ({ start: iso(hourStart + i * HOUR), parks }));
  const daily: ParkBucket[] = take(14).map((parks, i) => ({ start: iso(dayStart + i * DAY), parks }));
  const inflowParks = options.since ? take(1)[0] : undefined;

  const byReason: Record<string, number> = {};
  reasonList.forEach((r, i) => {
    const n = reasonCounts[i] ?? 0;
    if (n > 0) byReason[r] = n;
  });
  const byTopic: Record<string, number> = {};
  topicList.forEach((t, i) => {
    const n = topicCounts[i] ?? 0;
    if (n > 0 || config.topics.includes(t)) byTopic[t] = n;
  });
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

  // 3. Attempts: sum over k of count(DlqAttempts >= k) is the total of attempts; bounded by MAX_ATTEMPTS_BUCKET.
  const atLeast: number[] = [total];
  for (let k = 2; k <= MAX_ATTEMPTS_BUCKET && (atLeast[atLeast.length - 1] ?? 0) > 0; k += CONCURRENCY) {
    const ks = Array.from({ length: CONCURRENCY }, (_, i) => k + i).filter((x) => x <= MAX_ATTEMPTS_BUCKET);
    atLeast.push(...(await counts(ks.map((x) => `${parked} AND ${DlqAttempts.name} >= ${x}`))));
  }
  const attemptsDistribution: Record<string, number> = {};
  let attemptSum = 0;
  atLeast.forEach((n, i) => {
    const k = i + 1;
    attemptSum += n;
    const exact = n - (atLeast[i + 1] ?? 0);
    const last = k === MAX_ATTEMPTS_BUCKET;
    const value = last ? n : exact;
    if (value > 0) attemptsDistribution[last ? `${k}+` : String(k)] = value;
  });

  // 4. Failure groups: the largest groups of the listing, each counted exactly.
  const seen = new Map<string, { n: number; row: ListedRow }>();
  for (const row of rows) {
    if (!row.fingerprint) continue;
    const entry = seen.get(row.fingerprint);
    if (entry) entry.n++;
    else seen.set(row.fingerprint, { n: 1, row });
  }
  const candidates = [...seen.entries()]
    .sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0]))
    .slice(0, config.topGroups);
  // A fingerprint that is not a safe literal (this project never writes one) is not counted: it keeps its
  // count from the listing. A constant `AND false` in its place is refused by SQL visibility stores.
  const countable = candidates.map(([fp]) => fp).filter((fp) => SAFE_LITERAL.test(fp));
  const countedValues = await counts(
    countable.map((fp) => `${parked} AND ${DlqFingerprint.name} = ${quote(fp)}`),
  );
  const counted = new Map(countable.map((fp, i) => [fp, countedValues[i]]));
  const topGroups: FailureGroup[] = candidates
    .map(([fingerprint, { n, row }]) => ({
      fingerprint,
      count: counted.get(fingerprint) ?? n,
      errorClass: row.errorClass ?? '',
      reason: row.reason ?? '',
      topic: row.topic ?? '',
      sampleWorkflowId: row.workflowId,
      sampleMessageId: parseMessageWorkflowId(row.workflowId)?.messageId ?? row.workflowId,
    }))
    .sort((a, b) => b.count - a.count || a.fingerprint.localeCompare(b.fingerprint));

  // 5. The oldest parked message: narrow the time window with counts, then list the few at its edge.
  const oldest = total > 0 ? await findOldest(parked, nowMs, count, client, () => calls++) : null;

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
    requeueSuccessRate: recovered + reParked > 0 ? recovered / (recovered + reParked) : null,
    averageAttempts: total > 0 ? attemptSum / total : null,
    attemptsDistribution,
    oldest,
    hourly,
    daily,
    inflow: options.since && inflowParks !== undefined ? { since: options.since, parks: inflowParks } : null,
    topGroups,
    listing: { listed: rows.length, complete: rows.length >= total },
    serverCalls: calls,
  };
}

async function findOldest(
  parked: string,
  nowMs: number,
  count: (q: string) => Promise<number>,
  client: Client,
  onList: () => void,
): Promise<DlqSnapshot['oldest']> {
  const upTo = (t: number) => count(`${parked} AND ${DlqParkedAt.name} <= ${quote(iso(t))}`);
  // Widen backwards until the window [lo, hi] holds the oldest: count(<= lo) = 0 < count(<= hi).
  let hi = nowMs + 1000;
  let span = HOUR;
  let lo = nowMs - span;
  while ((await upTo(lo)) > 0) {
    hi = lo;
    span *= 4;
    lo = nowMs - span;
    if (span > 100 * 365 * DAY) break;
  }
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await upTo(mid)) > 0) hi = mid;
    else lo = mid;
  }
  onList();
  let best: { row: ListedRow; at: number } | undefined;
  let listed = 0;
  for await (const info of client.workflow.list({
    query: `${parked} AND ${DlqParkedAt.name} <= ${quote(iso(hi))}`,
    pageSize: 100,
  })) {
    const row = rowOf(info);
    const at = row.parkedAt?.getTime();
    if (
      at !== undefined &&
      (!best || at < best.at || (at === best.at && row.workflowId < best.row.workflowId))
    )
      best = { row, at };
    if (++listed >= 100) break;
  }
  if (!best) return null;
  return {
    workflowId: best.row.workflowId,
    messageId: parseMessageWorkflowId(best.row.workflowId)?.messageId ?? best.row.workflowId,
    topic: best.row.topic ?? '',
    parkedAt: iso(best.at),
    ageMs: Math.max(0, nowMs - best.at),
  };
}
