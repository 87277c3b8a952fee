/**
 * Context, not a target: the same flows on BullMQ against the local Redis. Happy path (jobs with attempts
 * and backoff), a failed-job flow (UnrecoverableError straight to the failed set) and a fix-and-retry of
 * every failed job (updateData + retry, with the bulk retry's concurrency). Failed jobs are timed like the
 * park latency: `parkConcurrency` in flight, from add to the `failed` event. Own prefix; obliterated after.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { BenchContext } from '../context';
import { mapLimit, percentile, round, sleep } from '../stats';

/** Same as the Temporal worker's default maxConcurrentActivityTaskExecutions. */
const WORKER_CONCURRENCY = 100;
const JOB_OPTIONS = { attempts: 5, backoff: { type: 'exponential', delay: 1000 } } as const;

export interface BullmqContext {
  happy: { n: number; seconds: number; perSecond: number };
  failed: { n: number; toFailedMs: { p50: number; p95: number; p99: number } };
  retry: { n: number; seconds: number; perSecond: number; concurrency: number };
  workerConcurrency: number;
}

async function waitCount(what: string, read: () => number, target: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (read() < target) {
    if (Date.now() > deadline) throw new Error(`bench: BullMQ timed out waiting for ${what}`);
    await sleep(5);
  }
}

export async function runBullmq(
  ctx: Pick<BenchContext, 'options' | 'runId' | 'log'>,
): Promise<BullmqContext> {
  const url = new URL(ctx.options.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const prefix = `dlq-bench-${ctx.runId}`;
  const concurrency = ctx.options.publishConcurrency;
  const n = ctx.options.bullmq;
  const m = ctx.options.bullmqFailed;

  const happyQueue = new Queue('happy', { connection, prefix });
  const failQueue = new Queue('fail', { connection, prefix });
  let completed = 0;
  let failedCount = 0;
  let retried = 0;
  const addedAt = new Map<string, number>();
  const failedAfter: number[] = [];
  const happyWorker = new Worker('happy', () => Promise.resolve({ ok: true }), {
    connection,
    prefix,
    concurrency: WORKER_CONCURRENCY,
  });
  happyWorker.on('completed', () => (completed += 1));
  const failWorker = new Worker(
    'fail',
    (job: Job<{ i: number; amount: number }>) => {
      if (job.data.amount <= 0) throw new UnrecoverableError('amount must be positive');
      return Promise.resolve({ ok: true });
    },
    { connection, prefix, concurrency: WORKER_CONCURRENCY },
  );
  const onFailed = new Map<string, () => void>();
  failWorker.on('failed', (job) => {
    failedCount += 1;
    const t0 = job?.id ? addedAt.get(job.id) : undefined;
    if (t0 !== undefined) failedAfter.push(Date.now() - t0);
    if (job?.id) onFailed.get(job.id)?.();
  });
  failWorker.on('completed', () => (retried += 1));
  try {
    await Promise.all([happyWorker.waitUntilReady(), failWorker.waitUntilReady()]);
    const t0 = Date.now();
    await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      concurrency,
      (i) => happyQueue.add('message', { i }, JOB_OPTIONS),
    );
    await waitCount('happy completions', () => completed, n, 10 * 60_000);
    const happySeconds = (Date.now() - t0) / 1000;

    // Like the park latency: parkConcurrency messages in flight, each timed from add to the failed event.
    await mapLimit(
      Array.from({ length: m }, (_, i) => i),
      ctx.options.parkConcurrency,
      async (i) => {
        const jobId = `f-${i}`;
        const failedEvent = new Promise<void>((resolve) => onFailed.set(jobId, resolve));
        addedAt.set(jobId, Date.now());
        await failQueue.add('message', { i, amount: 0 }, { ...JOB_OPTIONS, jobId });
        await Promise.race([failedEvent, sleep(60_000)]);
      },
    );
    await waitCount('failed jobs', () => failedCount, m, 10 * 60_000);

    const t1 = Date.now();
    const failed: Job[] = [];
    for (let start = 0; failed.length < m; start += 1000) {
      const page = await failQueue.getFailed(start, start + 999);
      if (page.length === 0) break;
      failed.push(...page);
    }
    await mapLimit(failed, ctx.options.bulkConcurrency, async (job) => {
      await job.updateData({ ...(job.data as object), amount: 1 });
      await job.retry('failed');
    });
    await waitCount('retried completions', () => retried, failed.length, 10 * 60_000);
    const retrySeconds = (Date.now() - t1) / 1000;
    return {
      happy: { n, seconds: round(happySeconds, 2), perSecond: round(n / happySeconds, 1) },
      failed: {
        n: m,
        toFailedMs: {
          p50: percentile(failedAfter, 50),
          p95: percentile(failedAfter, 95),
          p99: percentile(failedAfter, 99),
        },
      },
      retry: {
        n: failed.length,
        seconds: round(retrySeconds, 2),
        perSecond: round(failed.length / retrySeconds, 1),
        concurrency: ctx.options.bulkConcurrency,
      },
      workerConcurrency: WORKER_CONCURRENCY,
    };
  } finally {
    await Promise.allSettled([happyWorker.close(), failWorker.close()]);
    await Promise.allSettled([happyQueue.obliterate({ force: true }), failQueue.obliterate({ force: true })]);
    await Promise.allSettled([happyQueue.close(), failQueue.close()]);
  }
}
