/**
 * The bench topics: a no-op happy path, a parking topic for latency, a failure group the bulk retry
 * repairs with a patch, and a spread of failure groups for analytics.
 */
import { defineHandler } from '../src/worker/handlers';
import { PermanentError, ValidationError } from '../src/contract/errors';

export const TOPIC_OK = 'bench.ok';
export const TOPIC_PARK = 'bench.park';
export const TOPIC_BULK = 'bench.bulk';
/** Analytics filler topics: `bench.fail.0` … `bench.fail.2`. */
export const FAIL_TOPICS = ['bench.fail.0', 'bench.fail.1', 'bench.fail.2'] as const;
/** The merge patch that repairs a `bench.bulk` message. */
export const BULK_PATCH = { amount: 1 };

/** Five failure kinds, each its own reason (and failure group per topic). */
const FAILURES: ReadonlyArray<() => Error> = [
  () => new ValidationError('amount must be positive', { reason: 'VALIDATION_ERROR' }),
  () => new PermanentError('customer not found', { reason: 'HTTP_404' }),
  () => new PermanentError('resource is gone', { reason: 'HTTP_410' }),
  () => new ValidationError('payload does not match schema v2', { reason: 'SCHEMA_MISMATCH' }),
  () => new PermanentError('order cannot be processed', { reason: 'HTTP_422' }),
];

const kindOf = (payload: unknown): number => {
  const kind = (payload as { kind?: unknown }).kind;
  return typeof kind === 'number' ? kind : 0;
};

export const benchHandlers = [
  defineHandler({ topic: TOPIC_OK, handle: () => ({ ok: true }) }),
  defineHandler({
    topic: TOPIC_PARK,
    handle: () => {
      throw new ValidationError('amount must be positive', { reason: 'VALIDATION_ERROR' });
    },
  }),
  defineHandler({
    topic: TOPIC_BULK,
    handle: ({ payload }) => {
      const amount = (payload as { amount?: unknown }).amount;
      if (typeof amount !== 'number' || amount <= 0)
        throw new ValidationError('amount must be positive', { reason: 'VALIDATION_ERROR' });
      return { ok: true };
    },
  }),
  ...FAIL_TOPICS.map((topic) =>
    defineHandler({
      topic,
      handle: ({ payload }) => {
        throw (FAILURES[kindOf(payload) % FAILURES.length] ?? FAILURES[0]!)();
      },
    }),
  ),
];

/** Number of failure kinds a `bench.fail.*` message can carry. */
export const FAILURE_KINDS = FAILURES.length;
