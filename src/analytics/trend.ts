/**
 * The hourly (24) and daily (14) park trend, carried from run to run: each run counts only its own inflow
 * (parks since the previous run's window end, split at hour boundaries) and adds it to the buckets the
 * previous run returned, so a steady run spends 1-2 visibility calls on the trend instead of 38. Buckets
 * not known (first run, a gap, an old result) stay `null` until a run has budget left to count them.
 *
 * Every `DlqParkedAt` window is `>= <whole second>` and `< <whole second>`: on SQLite visibility (the dev
 * server) a stored value equal to the literal compares as greater, so `=`, `>` and `<=` disagree with
 * PostgreSQL at the boundary, while `>=` and `<` agree (docs/visibility.md). Pure functions, no I/O.
 */
import { DlqParkedAt } from '../contract/search-attributes';
import type { ParkBucket } from '../contract/analytics';

export const SECOND = 1000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** Buckets of each series. */
export const HOURS = 24;
export const DAYS = 14;

/** `ms` rounded down to a whole second. */
export const floorSecond = (ms: number): number => Math.floor(ms / SECOND) * SECOND;

/** The visibility literal of a whole second, e.g. `'2026-01-01T02:00:00.000Z'`. Throws on a fraction. */
export function secondLiteral(ms: number): string {
  if (!Number.isInteger(ms) || ms % SECOND !== 0)
    throw new RangeError(`DlqParkedAt windows use whole seconds only, got ${ms}`);
  return `'${new Date(ms).toISOString()}'`;
}

/** `DlqParkedAt >= from AND DlqParkedAt < to` (either side may be left open), with whole-second literals. */
export function parkedAtWindow(from: number | undefined, to: number | undefined): string {
  const parts: string[] = [];
  if (from !== undefined) parts.push(`${DlqParkedAt.name} >= ${secondLiteral(from)}`);
  if (to !== undefined) parts.push(`${DlqParkedAt.name} < ${secondLiteral(to)}`);
  return parts.join(' AND ');
}

/** A time bucket: `parks` covers `[start, min(end, windowEnd))`, or is null when unknown. */
export interface Bucket {
  start: number;
  end: number;
  parks: number | null;
}

/** The two series, oldest bucket first. */
export interface Series {
  hourly: Bucket[];
  daily: Bucket[];
}

/** A window `[from, to)`. */
export interface Piece {
  from: number;
  to: number;
}

/** The 24 hours and 14 days ending with the one that holds the last instant before `windowEnd`, all unknown. */
export function emptySeries(windowEnd: number): Series {
  const lastHour = Math.floor((windowEnd - 1) / HOUR) * HOUR;
  const lastDay = Math.floor((windowEnd - 1) / DAY) * DAY;
  return {
    hourly: Array.from({ length: HOURS }, (_, i) => {
      const start = lastHour - (HOURS - 1 - i) * HOUR;
      return { start, end: start + HOUR, parks: null };
    }),
    daily: Array.from({ length: DAYS }, (_, i) => {
      const start = lastDay - (DAYS - 1 - i) * DAY;
      return { start, end: start + DAY, parks: null };
    }),
  };
}

/** `[from, to)` split at hour boundaries, oldest first; empty when `to <= from`. */
export function splitAtHours(from: number, to: number): Piece[] {
  const pieces: Piece[] = [];
  for (let at = from; at < to;) {
    const next = Math.min(to, Math.floor(at / HOUR) * HOUR + HOUR);
    pieces.push({ from: at, to: next });
    at = next;
  }
  return pieces;
}

/** The previous run's trend, as numbers. */
export interface PreviousTrend {
  windowEnd: number;
  hourly: Array<{ start: number; parks: number | null }>;
  daily: Array<{ start: number; parks: number | null }>;
}

/** Reads a carried trend; undefined when a start or the window end is not a time. */
export function previousTrendOf(carried: {
  windowEnd: string;
  hourly: ParkBucket[];
  daily: ParkBucket[];
}): PreviousTrend | undefined {
  const windowEnd = Date.parse(carried.windowEnd);
  if (!Number.isFinite(windowEnd)) return undefined;
  const read = (buckets: ParkBucket[]) =>
    buckets
      .map((b) => ({ start: Date.parse(b.start), parks: b.parks }))
      .filter((b) => Number.isFinite(b.start));
  return { windowEnd: floorSecond(windowEnd), hourly: read(carried.hourly), daily: read(carried.daily) };
}

/**
 * The new series from the previous run's buckets plus this run's inflow pieces (`[previous.windowEnd,
 * windowEnd)` split at hours; a piece's `parks` is null when it was not counted). A bucket is known when
 * everything it covers is: the previous run knew it up to its window end (or it starts at or after that
 * end) and every inflow piece inside it was counted.
 */
export function carryTrend(
  windowEnd: number,
  previous: PreviousTrend | undefined,
  pieces: Array<Piece & { parks: number | null }>,
): Series {
  const series = emptySeries(windowEnd);
  const fill = (buckets: Bucket[], before: Array<{ start: number; parks: number | null }>) => {
    const known = new Map(before.map((b) => [b.start, b.parks]));
    for (const bucket of buckets) {
      if (!previous) continue;
      let parks: number | null = bucket.start >= previous.windowEnd ? 0 : (known.get(bucket.start) ?? null);
      for (const piece of pieces) {
        if (parks === null) break;
        if (piece.from >= bucket.end || piece.to <= bucket.start) continue;
        parks = piece.parks === null ? null : parks + piece.parks;
      }
      bucket.parks = parks;
    }
  };
  fill(series.hourly, previous?.hourly ?? []);
  fill(series.daily, previous?.daily ?? []);
  return series;
}

/** Contiguous runs of unknown buckets (each oldest first), the most recent run first; hours before days. */
export function unknownRuns(series: Series): Bucket[][] {
  const runs: Array<{ buckets: Bucket[]; hourly: boolean }> = [];
  for (const [buckets, hourly] of [
    [series.hourly, true],
    [series.daily, false],
  ] as const) {
    let run: Bucket[] = [];
    for (const bucket of buckets) {
      if (bucket.parks === null) run.push(bucket);
      else if (run.length) {
        runs.push({ buckets: run, hourly });
        run = [];
      }
    }
    if (run.length) runs.push({ buckets: run, hourly });
  }
  const endOf = (r: { buckets: Bucket[] }) => r.buckets[r.buckets.length - 1]!.end;
  return runs
    .sort((a, b) => endOf(b) - endOf(a) || Number(b.hourly) - Number(a.hourly))
    .map((r) => r.buckets);
}

/**
 * Counts consecutive pieces with as few calls as it can: the span first (unless `total` is known), then
 * piece by piece from the most recent, stopping when what is left is 0 (the older pieces are 0) or one
 * piece is left (it is the rest). `count` answers undefined when no call is left: the pieces not reached
 * stay null. Returns the pieces' values and the span's total (undefined if it could not be counted).
 */
export async function countPieces(
  pieces: Piece[],
  count: (piece: Piece) => Promise<number | undefined>,
  options: { total?: number; maxCalls?: number } = {},
): Promise<{ values: Array<number | null>; total: number | undefined }> {
  const values: Array<number | null> = pieces.map(() => null);
  if (pieces.length === 0) return { values, total: 0 };
  let calls = 0;
  const counted = async (piece: Piece): Promise<number | undefined> => {
    if (options.maxCalls !== undefined && calls >= options.maxCalls) return undefined;
    calls++;
    return count(piece);
  };
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const total = options.total ?? (await counted({ from: first.from, to: last.to }));
  if (total === undefined) return { values, total };
  let left = total;
  for (let i = pieces.length - 1; i >= 0; i--) {
    if (left === 0) {
      for (let j = 0; j <= i; j++) values[j] = 0;
      break;
    }
    if (i === 0) {
      values[0] = left;
      break;
    }
    const value = await counted(pieces[i]!);
    if (value === undefined) break;
    values[i] = value;
    // Counts are eventually consistent: a piece above what is left leaves nothing for the older ones.
    left = Math.max(0, left - value);
  }
  return { values, total };
}

/** Series as the snapshot reports them. */
export function bucketsOut(buckets: Bucket[]): ParkBucket[] {
  return buckets.map((b) => ({ start: new Date(b.start).toISOString(), parks: b.parks }));
}
