/**
 * The visibility budget of one analytics run: a hard cap on calls, a pace (calls per second, at most two
 * in flight) that leaves most of a stock server's 10 calls/s to operators, and a back-off on rate limits.
 * A call the server refuses with RESOURCE_EXHAUSTED (gRPC code 8, classified by code, never by message) is
 * made again after a jittered exponential delay, for as long as the deadline allows: the run finishes
 * later instead of failing. The client's own gRPC retry (up to 10 attempts) runs first, inside each call.
 */
import { isGrpcServiceError } from '@temporalio/client';

/** gRPC status of a call refused by the server's rate limiter. */
export const GRPC_RESOURCE_EXHAUSTED = 8;
/** Calls in flight at most. */
export const VISIBILITY_CONCURRENCY = 2;
/** First back-off delay after a rate limit; doubled per attempt (with jitter), at most `MAX_BACKOFF_MS`. */
export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 20_000;

/** True when `err` (or a cause of it) is a gRPC RESOURCE_EXHAUSTED answer. */
export function isRateLimited(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (isGrpcServiceError(current) && Number(current.code) === GRPC_RESOURCE_EXHAUSTED) return true;
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return false;
}

/** An essential call stayed rate-limited until the deadline. Retryable: the activity's retry runs it again. */
export class VisibilityRateLimitedError extends Error {
  constructor(readonly attempts: number) {
    super(
      `The visibility store kept refusing an essential analytics call (RESOURCE_EXHAUSTED, ${attempts} attempts) until the run's deadline`,
    );
    this.name = 'VisibilityRateLimitedError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Options of a `VisibilityBudget`. */
export interface VisibilityBudgetOptions {
  /** Calls allowed in all. */
  limit: number;
  /** Calls started per second, at most. */
  ratePerSecond: number;
  /** @defaultValue {@link VISIBILITY_CONCURRENCY} */
  concurrency?: number;
  /** No back-off past this time (epoch ms). @defaultValue 60 s from construction */
  deadline?: number;
  /** Aborts waits (activity cancellation). */
  signal?: AbortSignal;
  /** Called before each back-off wait (the activity heartbeats). */
  onBackoff?: (delayMs: number) => void;
  /** Clock, sleep and randomness: injectable for unit tests. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Jittered exponential delay before attempt `attempt + 1` (between half and all of the doubled delay). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/**
 * A run's visibility calls: cap, pace, concurrency and rate-limit back-off in one object.
 * Ours because one count serves all four and its clock, sleep and randomness are injectable (p-queue's timers are not).
 */
export class VisibilityBudget {
  /** Calls made (each once, however often a rate limit sent it back). */
  spent = 0;
  /** Attempts refused by a rate limit. */
  rateLimited = 0;
  private readonly starts: number[] = [];
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly deadline: number;
  private readonly burst: number;
  private readonly period: number;

  constructor(private readonly options: VisibilityBudgetOptions) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.deadline = options.deadline ?? this.now() + 60_000;
    // At most `burst` starts in any `period` ms: `ratePerSecond` on average, whole calls at a time.
    this.burst = Math.max(1, Math.floor(options.ratePerSecond));
    this.period = (this.burst * 1000) / options.ratePerSecond;
  }

  /** Calls still allowed. */
  get left(): number {
    return this.options.limit - this.spent;
  }

  /**
   * Makes one call, paced, retried after rate limits until the deadline. Answers undefined when no call is
   * left, or when an optional call is still rate-limited at the deadline; an essential one throws
   * `VisibilityRateLimitedError` then (and a budget too small for it is a programming error).
   */
  async call<T>(fn: () => Promise<T>, essential = false): Promise<T | undefined> {
    if (this.left <= 0) {
      if (essential) throw new Error('Analytics: an essential visibility call does not fit the budget');
      return undefined;
    }
    this.spent++;
    await this.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        await this.pace();
        try {
          return await fn();
        } catch (err) {
          if (!isRateLimited(err)) throw err;
          this.rateLimited++;
          const delay = backoffDelay(attempt, this.random);
          if (this.now() + delay > this.deadline) {
            if (essential) throw new VisibilityRateLimitedError(attempt + 1);
            return undefined;
          }
          this.options.onBackoff?.(delay);
          await this.sleep(delay, this.options.signal);
        }
      }
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    const limit = this.options.concurrency ?? VISIBILITY_CONCURRENCY;
    if (this.inFlight < limit) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** Waits for this call's start slot, reserved at once so that concurrent callers never share one. */
  private async pace(): Promise<void> {
    const now = this.now();
    const earlier = this.starts[this.starts.length - this.burst];
    const at = earlier === undefined ? now : Math.max(now, earlier + this.period);
    this.starts.push(at);
    if (this.starts.length > this.burst) this.starts.splice(0, this.starts.length - this.burst);
    if (at > now) await this.sleep(at - now, this.options.signal);
  }
}
