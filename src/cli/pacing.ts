/** Rate limiting and bounded concurrency for bulk operations. */
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

/** Spaces operations evenly: at most `perSecond` starts per second, across all callers. */
export class RateLimiter {
  private next = 0;
  private readonly intervalMs: number;
  constructor(perSecond: number) {
    this.intervalMs = 1000 / perSecond;
  }
  async take(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + this.intervalMs;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }
}

/**
 * Runs `work` for each item of a (possibly endless) stream with at most `concurrency` in flight.
 * Reads ahead no further than needed, so memory stays bounded.
 */
export async function forEachBounded<T>(
  items: AsyncIterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  for await (const item of items) {
    if (failure) break;
    const task: Promise<void> = work(item).then(
      () => undefined,
      (err: unknown) => {
        failure ??= { err };
      },
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) throw failure.err;
}

/**
 * Maps a stream with bounded concurrency while keeping input order: at most `window` items are being
 * fetched or waiting to be yielded at any time.
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
