/**
 * Fills the DLQ to a parked total: messages spread evenly over three topics and five failure kinds
 * (fifteen failure groups), with the bulk-retry group (`bench.bulk`) interleaved so that it reaches its
 * size exactly at the largest total. Every size therefore has the same topics, reasons and groups.
 */
import { publishMany } from '../../src/publish';
import type { PublishInput } from '../../src/shared/envelope';
import { PROCESS_MESSAGE_WORKFLOW } from '../../src/shared/names';
import { PARKED_QUERY } from '../../src/shared/queries';
import { FAIL_TOPICS, FAILURE_KINDS, TOPIC_BULK } from '../handlers';
import { countWhere } from '../context';
import type { BenchContext } from '../context';
import { round, until } from '../stats';

export const DEAD_QUERY = `WorkflowType = '${PROCESS_MESSAGE_WORKFLOW}' AND ${PARKED_QUERY}`;

export interface FillResult {
  target: number;
  published: number;
  failedPublishes: number;
  seconds: number;
  /** Messages parked per second, publish to visibility. */
  parkedPerSecond: number;
}

/** The j-th filler message of `total` fillers, `bulk` of which go to the bulk group. */
export function fillerMessage(runId: string, j: number, total: number, bulk: number): PublishInput {
  const isBulk = Math.floor(((j + 1) * bulk) / total) > Math.floor((j * bulk) / total);
  const id = `${runId}-fill-${j}`;
  if (isBulk) return { id, topic: TOPIC_BULK, payload: { amount: 0, j } };
  return {
    id,
    topic: FAIL_TOPICS[j % FAIL_TOPICS.length]!,
    payload: { kind: Math.floor(j / FAIL_TOPICS.length) % FAILURE_KINDS, j },
  };
}

/** Publishes fillers `from` (inclusive) to `to` (exclusive) and waits until visibility counts `target` dead. */
export async function fillTo(
  ctx: BenchContext,
  taskQueue: string,
  range: { from: number; to: number; totalFillers: number },
  target: number,
): Promise<FillResult> {
  const t0 = Date.now();
  const messages = (function* () {
    for (let j = range.from; j < range.to; j++)
      yield fillerMessage(ctx.runId, j, range.totalFillers, ctx.options.bulk);
  })();
  const results = await publishMany(ctx.client, messages, {
    taskQueue,
    concurrency: ctx.options.publishConcurrency,
  });
  const failedPublishes = results.filter((r) => !r.ok).length;
  await until(
    `${target} dead messages in visibility`,
    async () => (await countWhere(ctx.client, DEAD_QUERY)) >= target - failedPublishes,
    // 80 000 messages at a stock server's pace take most of an hour.
    2 * 60 * 60_000,
    500,
  );
  const seconds = (Date.now() - t0) / 1000;
  return {
    target,
    published: results.length,
    failedPublishes,
    seconds: round(seconds, 1),
    parkedPerSecond: round(results.length / seconds, 1),
  };
}
