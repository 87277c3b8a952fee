/**
 * Fills the DLQ to a parked total: messages spread evenly over three topics and five failure kinds
 * (fifteen failure groups), with the bulk-retry group (`bench.bulk`) interleaved so that it reaches its
 * size exactly at the largest total. Every size therefore has the same topics, reasons and groups.
 */
import { publishMany } from '../../src/client/publish';
import type { PublishInput } from '../../src/contract/envelope';
import { PROCESS_MESSAGE_WORKFLOW } from '../../src/contract/names';
import { PARKED_QUERY } from '../../src/contract/queries';
import { FAIL_TOPICS, FAILURE_KINDS, TOPIC_BULK } from '../handlers';
import { countWhere } from '../context';
import type { BenchContext } from '../context';
import { round, until } from '../stats';

export const DEAD_QUERY = `WorkflowType = '${PROCESS_MESSAGE_WORKFLOW}' AND ${PARKED_QUERY}`;

export interface FillResult {
  target: number;
  /** How the messages were made (`--fill`); runs before the option existed were `real`. */
  fill: 'real' | 'seeded';
  /** Messages published to the worker (`real`), or seeded rows started (`seeded`). */
  published: number;
  /** Of a seeded fill: messages the worker parked for real (one per failure group, in the first fill). */
  reallyParked?: number;
  failedPublishes: number;
  seconds: number;
  /** Messages parked (or seeded) per second, publish (or start) to visibility. */
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
  const publishRange = (from: number, to: number) =>
    publishMany(
      ctx.client,
      (function* () {
        for (let j = from; j < to; j++)
          yield fillerMessage(ctx.runId, j, range.totalFillers, ctx.options.bulk);
      })(),
      { taskQueue, concurrency: ctx.options.publishConcurrency },
    );
  let lastLog = Date.now();
  /** Parked now, with a progress line a minute (a fill of 80 000 on a stock server takes hours). */
  const parkedNow = async () => {
    const n = await countWhere(ctx.client, DEAD_QUERY);
    if (Date.now() - lastLog >= 60_000) {
      lastLog = Date.now();
      ctx.log(`  ${n} parked (${round((Date.now() - t0) / 1000, 0)} s into this fill)`);
    }
    return n;
  };
  const results: Array<{ ok: boolean }> = [];
  const backlog = ctx.options.fillBacklog;
  if (backlog === 0) results.push(...(await publishRange(range.from, range.to)));
  else {
    // Publish in steps, each once fewer than `backlog` published messages wait for the worker, so that the
    // starts do not crowd out the workers' tasks (see the option).
    const step = Math.max(1, Math.floor(backlog / 2));
    const parkedAtStart = await parkedNow();
    for (let j = range.from; j < range.to; j += step) {
      const failed = results.filter((r) => !r.ok).length;
      await until(
        `fewer than ${backlog} messages waiting`,
        async () => (await parkedNow()) >= parkedAtStart + (j - range.from) - failed - backlog,
        2 * 60 * 60_000,
        500,
      );
      results.push(...(await publishRange(j, Math.min(range.to, j + step))));
    }
  }
  const failedPublishes = results.filter((r) => !r.ok).length;
  await until(
    `${target} dead messages in visibility`,
    async () => (await parkedNow()) >= target - failedPublishes,
    // 80 000 messages at a stock server's pace take hours.
    4 * 60 * 60_000,
    500,
  );
  const seconds = (Date.now() - t0) / 1000;
  return {
    target,
    fill: 'real',
    published: results.length,
    failedPublishes,
    seconds: round(seconds, 1),
    parkedPerSecond: round(results.length / seconds, 1),
  };
}
