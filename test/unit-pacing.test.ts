/**
 * The CLI's pacing helpers without a server: forEachBounded (p-queue) keeps its concurrency, its rate and its
 * read-ahead bounded, and stops on the first failure; mapOrdered keeps input order within its window.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBounded, mapOrdered } from '../src/cli/pacing';

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A stream of 0..n-1 that counts how many items were read; `slow`: each item takes a timer tick. */
function counted(n: number, slow = true): { items: AsyncIterable<number>; read: () => number } {
  let read = 0;
  return {
    items: (async function* () {
      for (let i = 0; i < n; i++) {
        if (slow) await tick();
        read++;
        yield i;
      }
    })(),
    read: () => read,
  };
}

/** Work that records how many run at once, and how far the reader got ahead of the finished ones. */
function probe(read: () => number) {
  const stats = {
    inFlight: 0,
    maxInFlight: 0,
    done: 0,
    maxAhead: 0,
    starts: [] as number[],
    seen: [] as number[],
  };
  const work = async (item: number, ms = 5) => {
    stats.starts.push(Date.now());
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.maxAhead = Math.max(stats.maxAhead, read() - stats.done);
    await tick(ms);
    stats.inFlight--;
    stats.done++;
    stats.seen.push(item);
  };
  return { stats, work };
}

describe('forEachBounded', () => {
  it('runs every item with at most `concurrency` in flight, reading ahead at most one more', async () => {
    const { items, read } = counted(60, false);
    const { stats, work } = probe(read);
    await forEachBounded(items, { concurrency: 4 }, (i) => work(i, i % 3 === 0 ? 15 : 2));
    assert.deepEqual(
      [...stats.seen].sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i),
    );
    assert.equal(stats.maxInFlight, 4);
    // In flight (4) plus the one item read while every slot was busy: the stream is not drained into memory.
    assert.ok(stats.maxAhead <= 5, `read ahead of the finished ones by ${stats.maxAhead}`);
  });

  it('never starts more than `perSecond` per second (at most one start per 1/perSecond window)', async () => {
    const perSecond = 40;
    const window = Math.ceil(1000 / perSecond);
    const { items, read } = counted(16);
    const { stats, work } = probe(read);
    await forEachBounded(items, { concurrency: 8, perSecond }, (i) => work(i, 1));
    assert.equal(stats.starts.length, 16);
    // k + 1 starts need k + 1 distinct windows, so the first and last are more than k - 1 windows apart
    // (1 ms of slack for the clock's granularity).
    for (let i = 0; i < stats.starts.length; i++)
      for (let j = i + 1; j < stats.starts.length; j++) {
        const span = stats.starts[j]! - stats.starts[i]!;
        assert.ok(
          (j - i - 1) * window <= span + 1,
          `${j - i + 1} starts within ${span} ms exceed ${perSecond}/s (window ${window} ms)`,
        );
      }
  });

  it('stops reading at the first failure, lets those in flight finish, and throws that failure', async () => {
    const { items, read } = counted(1000);
    let finished = 0;
    let started = 0;
    await assert.rejects(
      forEachBounded(items, { concurrency: 3 }, async (i) => {
        started++;
        await tick(3);
        if (i === 5) throw new RangeError('item 5');
        finished++;
      }),
      (err: unknown) => err instanceof RangeError && err.message === 'item 5',
    );
    assert.ok(read() < 20, `read ${read()} of 1000 items`);
    assert.equal(finished, started - 1, 'every started item but the failed one finished before the throw');
  });

  it('throws a failure of the stream itself after those in flight finish', async () => {
    let finished = 0;
    async function* broken() {
      await tick();
      yield 1;
      yield 2;
      throw new TypeError('stream broke');
    }
    await assert.rejects(
      forEachBounded(broken(), { concurrency: 2 }, async () => {
        await tick(5);
        finished++;
      }),
      TypeError,
    );
    assert.equal(finished, 2);
  });
});

describe('mapOrdered', () => {
  it('yields in input order with at most `window` in flight, reading lazily', async () => {
    const { items, read } = counted(40, false);
    const { stats, work } = probe(read);
    const out: number[] = [];
    for await (const v of mapOrdered(items, 5, async (i) => {
      await work(i, (i * 7) % 11); // finish out of order
      return i * 10;
    }))
      out.push(v);
    assert.deepEqual(
      out,
      Array.from({ length: 40 }, (_, i) => i * 10),
    );
    assert.ok(stats.maxInFlight <= 5, `${stats.maxInFlight} in flight`);
    assert.ok(stats.maxAhead <= 5, `read ahead of the finished ones by ${stats.maxAhead}`);
  });

  it('reads no further than the window when the consumer stops', async () => {
    const { items, read } = counted(1000);
    for await (const v of mapOrdered(items, 4, (i) => Promise.resolve(i))) if (v === 2) break;
    assert.ok(read() <= 4 + 3, `read ${read()} items for 3 yielded`);
  });
});
