/** Rate limiting and bounded concurrency for bulk operations (p-queue), and the CLI's rate and count options. */
import PQueue from 'p-queue';
import { UserError } from './context';

const PER = { s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** The rate of client-side bulk runs when `--rate` is not given. */
export const DEFAULT_RATE = '20/s';

/** Parses `20/s`, `600/m`, `1000/h` or a bare number (per second) into operations per second. */
export function parseRate(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|h))?\s*$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (!match || !Number.isFinite(value) || value <= 0)
    throw new UserError(`--rate ${JSON.stringify(text)}: must be a positive rate such as 20/s, 600/m or 5`);
  const unit = (match[2] ?? 's') as keyof typeof PER;
  return (value * 1000) / PER[unit];
}

/** Parses a positive whole number option. */
export function parsePositiveInt(flag: string, text: string, max = 1000): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > max)
    throw new UserError(`${flag} ${JSON.stringify(text)}: must be a whole number from 1 to ${max}`);
  return n;
}

/** Options of {@link forEachBounded}. */
export interface BoundedOptions {
  /** Operations in flight at most (a whole number of at least 1). */
  concurrency: number;
  /**
   * Operations started per second, at most, spaced evenly (one start per `ceil(1000 / perSecond)` ms window).
   * @defaultValue unlimited
   */
  perSecond?: number;
}

/**
 * Runs `work` for each item of a (possibly endless) stream with at most `concurrency` in flight and at most
 * `perSecond` starts per second, on p-queue. Reads ahead one item at most, so memory stays bounded. The
 * first failure stops reading, drops the items not yet started, lets those in flight finish, then throws.
 */
export async function forEachBounded<T>(
  items: AsyncIterable<T>,
  options: BoundedOptions,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = new PQueue({
    concurrency: options.concurrency,
    ...(options.perSecond !== undefined
      ? { interval: Math.ceil(1000 / options.perSecond), intervalCap: 1 }
      : {}),
  });
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown) => {
    failure ??= { err };
    queue.clear();
  };
  try {
    for await (const item of items) {
      if (failure) break;
      queue.add(() => work(item)).catch(fail);
      // Backpressure: read the next item only when nothing waits for a slot.
      await queue.onEmpty();
    }
  } catch (err) {
    fail(err);
  }
  await queue.onIdle();
  if (failure) throw failure.err;
}

/**
 * Maps a stream with bounded concurrency while keeping input order: at most `window` items are being
 * fetched or waiting to be yielded at any time.
 * Ours because the library version (p-map's pMapIterable, p-map 7+) is ESM-only and p-queue yields no ordered stream.
 */
export async function* mapOrdered<T, R>(
  items: AsyncIterable<T>,
  window: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const queue: Array<Promise<R>> = [];
  for await (const item of items) {
    const p = fn(item);
    p.catch(() => undefined); // handled when it is yielded
    queue.push(p);
    if (queue.length >= window) yield await queue.shift()!;
  }
  while (queue.length) yield await queue.shift()!;
}
