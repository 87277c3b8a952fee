/**
 * The seeded fill (`--fill seeded`): the same filler messages as the real fill (./fill.ts: three topics ×
 * five failure kinds, and the bulk group), made cheaply. The worker really parks the first message of each
 * failure group; every other filler becomes a parked-looking `processMessage` workflow
 * (test/support/parked-workflows.ts) with its own id, on a task queue no worker polls, carrying the search
 * attributes and memo its group's real park wrote. Their park times are spread over the past at the pace a
 * real fill parks, so the trend buckets are as many as a real fill's. Visibility then holds real rows,
 * Running, with the same topics, classes, reasons, fingerprints and row size: what analytics reads.
 */
import { publishMany } from '../../src/client/publish';
import type { PublishInput } from '../../src/contract/envelope';
import { messageWorkflowId } from '../../src/contract/names';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqReason,
  DlqStatus,
} from '../../src/contract/search-attributes';
import { startParked } from '../../test/support/parked-workflows';
import type { ParkedFixture } from '../../test/support/parked-workflows';
import { TOPIC_BULK } from '../handlers';
import { countWhere } from '../context';
import type { BenchContext } from '../context';
import { round, until } from '../stats';
import { DEAD_QUERY, fillerMessage } from './fill';
import type { FillResult } from './fill';

/** Park times of seeded rows are this many per second apart: the real fill's pace on the PostgreSQL server (15-25/s). */
export const SEEDED_PARKS_PER_SECOND = 20;
/** Seeded rows started per step (one batch of parallel starts, grouped by topic). */
const STEP = 2000;

/** What a real park wrote for one failure group, copied onto the group's seeded rows. */
type GroupFacts = Pick<
  ParkedFixture,
  'errorClass' | 'reason' | 'fingerprint' | 'attempts' | 'parkCount' | 'memo'
>;

export interface Seeding {
  /** Task queue of the seeded rows, polled by no worker. */
  taskQueue: string;
  /** Task queue of the worker that parks the first filler of each group for real. */
  parkQueue: string;
  totalFillers: number;
  /** The index of each failure group's first filler: that one is parked for real. */
  firstOfGroup: Map<string, number>;
  /** What each group's real park wrote, once it was parked. */
  facts: Map<string, GroupFacts>;
  /** `DlqParkedAt` of the last filler, a whole second; earlier fillers are earlier by the pace above. */
  lastParkedAtMs: number;
}

/** The failure group of a filler: its topic and failure kind (the bulk group has one kind). */
function groupOf(message: PublishInput): string {
  if (message.topic === TOPIC_BULK) return TOPIC_BULK;
  return `${message.topic}/${String((message.payload as { kind?: unknown }).kind)}`;
}

const filler = (ctx: BenchContext, seeding: Seeding, j: number) =>
  fillerMessage(ctx.runId, j, seeding.totalFillers, ctx.options.bulk);

/** A seeded fill of `totalFillers` fillers; the real parks go to the worker polling `parkQueue`. */
export function planSeeding(ctx: BenchContext, parkQueue: string, totalFillers: number): Seeding {
  const seeding: Seeding = {
    taskQueue: `bench-seeded-${ctx.runId}`,
    parkQueue,
    totalFillers,
    firstOfGroup: new Map(),
    facts: new Map(),
    // Every seeded park time is in the past, as a finished real fill's are.
    lastParkedAtMs: Math.floor(Date.now() / 1000) * 1000,
  };
  for (let j = 0; j < totalFillers; j++) {
    const group = groupOf(filler(ctx, seeding, j));
    if (!seeding.firstOfGroup.has(group)) seeding.firstOfGroup.set(group, j);
  }
  return seeding;
}

/** Parks fillers for real through the worker and records what each park wrote (read from the workflow). */
async function parkForReal(ctx: BenchContext, seeding: Seeding, js: readonly number[]): Promise<void> {
  const messages = js.map((j) => filler(ctx, seeding, j));
  const results = await publishMany(ctx.client, messages, {
    taskQueue: seeding.parkQueue,
    concurrency: ctx.options.publishConcurrency,
  });
  if (results.some((r) => !r.ok)) throw new Error('bench: a real park of the seeded fill was not published');
  for (const m of messages) {
    const group = groupOf(m);
    const handle = ctx.client.workflow.getHandle(messageWorkflowId(m.topic, m.id));
    let described: Awaited<ReturnType<typeof handle.describe>> | undefined;
    await until(
      `${m.id} (${group}) parked`,
      async () => {
        described = await handle.describe();
        return described.typedSearchAttributes.get(DlqStatus) === 'dead';
      },
      120_000,
      250,
    );
    const sa = described!.typedSearchAttributes;
    const found: GroupFacts = {
      errorClass: sa.get(DlqErrorClass),
      reason: sa.get(DlqReason),
      fingerprint: sa.get(DlqFingerprint),
      attempts: sa.get(DlqAttempts),
      parkCount: sa.get(DlqParkCount),
    };
    if (described!.memo) found.memo = described!.memo;
    if (!found.fingerprint || !found.errorClass || !found.reason)
      throw new Error(`bench: the real park of ${group} wrote no fingerprint, class or reason`);
    seeding.facts.set(group, found);
  }
}

/** The seeded row of filler `j`: its own id, its group's facts, its place in the paced past. */
function seededRow(ctx: BenchContext, seeding: Seeding, j: number): { topic: string; row: ParkedFixture } {
  const m = filler(ctx, seeding, j);
  const facts = seeding.facts.get(groupOf(m));
  if (!facts) throw new Error(`bench: no real park for the group of filler ${j}`);
  const secondsBeforeLast = Math.ceil((seeding.totalFillers - 1 - j) / SEEDED_PARKS_PER_SECOND);
  return {
    topic: m.topic,
    row: {
      id: m.id,
      parkedAt: seeding.lastParkedAtMs - secondsBeforeLast * 1000,
      withMessageId: true,
      ...facts,
    },
  };
}

/**
 * Fills `from` (inclusive) to `to` (exclusive): the first filler of each failure group is parked by the
 * worker, the others are seeded. Then waits until visibility counts `target` dead.
 */
export async function seedTo(
  ctx: BenchContext,
  seeding: Seeding,
  range: { from: number; to: number },
  target: number,
): Promise<FillResult> {
  const t0 = Date.now();
  const isReal = (j: number) => seeding.firstOfGroup.get(groupOf(filler(ctx, seeding, j))) === j;
  const real: number[] = [];
  for (let j = range.from; j < range.to; j++) if (isReal(j)) real.push(j);
  if (real.length > 0) {
    ctx.log(`  parking ${real.length} fillers for real (the first of each failure group)`);
    await parkForReal(ctx, seeding, real);
  }
  let seeded = 0;
  let lastLog = Date.now();
  for (let j = range.from; j < range.to; j += STEP) {
    const byTopic = new Map<string, ParkedFixture[]>();
    for (let k = j; k < Math.min(range.to, j + STEP); k++) {
      if (isReal(k)) continue;
      const { topic, row } = seededRow(ctx, seeding, k);
      const rows = byTopic.get(topic) ?? [];
      rows.push(row);
      byTopic.set(topic, rows);
    }
    for (const [topic, rows] of byTopic) {
      await startParked(ctx.client, topic, seeding.taskQueue, rows, ctx.options.publishConcurrency);
      seeded += rows.length;
    }
    if (Date.now() - lastLog >= 60_000) {
      lastLog = Date.now();
      ctx.log(`  ${seeded} seeded (${round(seeded / ((Date.now() - t0) / 1000), 0)} starts/s)`);
    }
  }
  const startedSeconds = (Date.now() - t0) / 1000;
  ctx.log(`  ${seeded} seeded in ${round(startedSeconds, 0)} s; waiting for visibility to count ${target}`);
  await until(
    `${target} dead messages in visibility`,
    async () => (await countWhere(ctx.client, DEAD_QUERY)) >= target,
    30 * 60_000,
    2000,
  );
  const seconds = (Date.now() - t0) / 1000;
  return {
    target,
    fill: 'seeded',
    published: seeded,
    failedPublishes: 0,
    reallyParked: real.length,
    seconds: round(seconds, 1),
    parkedPerSecond: round((seeded + real.length) / seconds, 1),
  };
}
