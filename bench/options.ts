/** Bench options: flags (commander), then `BENCH_*` environment variables, then defaults; checked with zod. */
import { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../src/config';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../src/worker/memory-settings';
import { workerTuningSchema } from './ipc';

const positive = z.coerce.number().int().positive();
const sizes = z
  .string()
  .transform((v) => v.split(',').map((s) => Number(s.trim())))
  .pipe(z.array(z.number().int().positive()).min(1));

export const benchOptionsSchema = z.object({
  quick: z.boolean(),
  /**
   * The server measured against (see bench/server.ts): `dev`, the CLI's dev server; `postgres`, server
   * 1.29.1 on PostgreSQL with its stock dynamic config (the suite's production tier). @defaultValue `dev`
   */
  server: z.enum(['dev', 'postgres'], { message: "must be 'dev' or 'postgres'" }),
  /**
   * Park latency: interval of the visibility list poll. A stock server allows 10 visibility calls/s per
   * namespace, so the default there leaves room for the other polls. @defaultValue 50 ms (postgres: 250 ms)
   */
  listPollMs: z.coerce.number().int().min(10),
  /** Happy-path messages per round (and baseline workflows per round). */
  happy: positive,
  /**
   * Warm-up messages per mode, run once before the measured rounds and not counted. A fresh dev server ran
   * its first burst about 25 % faster than the same mode later. @defaultValue 1000 (quick: 100)
   */
  warmup: z.coerce.number().int().min(0),
  /** Rounds of baseline then DLQ, interleaved; figures sum all rounds. */
  rounds: positive.max(10),
  /** Messages that park, for the park latency percentiles. */
  park: positive,
  /** Park latency: messages in flight at once. */
  parkConcurrency: positive,
  /**
   * Parked totals at which analytics is measured, ascending; the last is also the worker-memory size.
   * @defaultValue `1000,5000,20000` (postgres: `1000,20000,100000`)
   */
  analyticsSizes: sizes,
  /**
   * How the DLQ is filled to each analytics size. `real`: every message parked by the worker (15-25 parks/s
   * on the PostgreSQL server, over an hour for 100 000). `seeded`: one message per failure group is really
   * parked, and the rest are parked-looking `processMessage` workflows started on a task queue no worker
   * polls with the search attributes and memo of their group's real park (test/support/parked-workflows.ts):
   * real visibility rows, which is all analytics reads. A seeded fill measures analytics only: the bulk
   * retry is skipped (no worker would run the seeded messages' retries) and the worker's memory at the
   * largest size is not reported. @defaultValue `real`
   */
  fill: z.enum(['real', 'seeded'], { message: "must be 'real' or 'seeded'" }),
  /**
   * Phases left out: `throughput` (warm-up, happy-path rounds and their CPU profiles), `ingestion` (broker
   * sources against `publishMany`), `bulk` (the bulk retry). Park latency, the fill and analytics always run. @defaultValue none
   */
  skip: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.enum(['throughput', 'ingestion', 'bulk'], {
          message: "must be a list of 'throughput', 'ingestion' and 'bulk'",
        }),
      ),
    ),
  /** Ingestion: messages loaded into each broker (and published from memory for the ratio). */
  ingest: positive,
  /**
   * Ingestion: the brokers read through their sources (src/connectors/), each on this machine's default
   * port. @defaultValue `nats,rabbitmq,outbox`
   */
  ingestSources: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z.enum(['nats', 'rabbitmq', 'outbox'], {
            message: "must be a list of 'nats', 'rabbitmq' and 'outbox'",
          }),
        )
        .min(1),
    ),
  /** PostgreSQL for the ingestion phase's outbox (a database of its own, dropped afterwards). */
  postgresUrl: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL'),
  /** RabbitMQ for the ingestion phase (a queue and exchange of its own, deleted afterwards). */
  rabbitmqUrl: z.string().regex(/^amqps?:\/\/\S+$/, 'must be an amqp:// URL'),
  /** NATS with JetStream for the ingestion phase. */
  natsUrl: z.string().regex(/^(nats:\/\/)?(127\.0\.0\.1|localhost):\d+$/, 'must be host:port on 127.0.0.1'),
  /** Parked messages in the failure group the bulk retry repairs (part of the largest size). */
  bulk: positive,
  /** Bulk retry: repairs in flight (the CLI's `--concurrency`). */
  bulkConcurrency: positive.max(256),
  /**
   * Filling: publish in steps so that at most this many published messages wait for the worker (0: publish
   * each size's messages at once). On the PostgreSQL server, 80 000 published at once left 39 000 workflow
   * tasks queued and the worker was given 1.6 of them per second while starts went on at 24/s (one
   * history shard, one database); within a bounded backlog tasks meet a waiting poller.
   * @defaultValue 0 (postgres: 1000)
   */
  fillBacklog: z.coerce.number().int().min(0),
  /** publishMany's concurrency, the same for the baseline's starts. */
  publishConcurrency: positive,
  /** DLQ_MAX_CACHED_WORKFLOWS of both workers. */
  maxCached: z.coerce.number().int().min(0),
  /** BullMQ: happy-path jobs and failed jobs. */
  bullmq: z.coerce.number().int().min(0),
  bullmqFailed: z.coerce.number().int().min(0),
  redisUrl: z
    .string()
    .regex(/^redis:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/, 'must be a redis:// URL on 127.0.0.1'),
  /** Profile a separate happy-path run of each worker with --cpu-prof. */
  profile: z.boolean(),
  /** Messages of the profiled run. */
  profileMessages: positive,
  /** Node flags of both worker children. @defaultValue the production worker's (`WORKER_NODE_FLAGS`) */
  workerNodeOptions: z
    .string()
    .transform((v) => v.split(/\s+/).filter(Boolean))
    .pipe(z.array(z.string().regex(/^--[a-z0-9-]+(=\S+)?$/, 'must be node flags like --name=value'))),
  /** Environment of both worker children, `NAME=value` items. @defaultValue the production worker's (`WORKER_ENV`) */
  workerEnv: z
    .string()
    .transform((v) => v.split(/\s+/).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[A-Z_][A-Z0-9_]*=\S*$/, 'must be NAME=value items')))
    .transform((items) =>
      Object.fromEntries(items.map((i) => [i.slice(0, i.indexOf('=')), i.slice(i.indexOf('=') + 1)])),
    ),
  /** Extra WorkerOptions for both workers, as JSON. */
  workerOptions: z
    .string()
    .transform((v, ctx) => {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(workerTuningSchema),
  /** Where the result JSON goes. */
  resultsDir: z.string().min(1),
});
export type BenchOptions = z.output<typeof benchOptionsSchema>;

const DEFAULTS = {
  server: 'dev',
  listPollMs: '50',
  happy: '2000',
  warmup: '1000',
  rounds: '2',
  park: '300',
  parkConcurrency: '1',
  analyticsSizes: '1000,5000,20000',
  fill: 'real',
  skip: '',
  ingest: '2000',
  ingestSources: 'nats,rabbitmq,outbox',
  rabbitmqUrl: 'amqp://guest:guest@127.0.0.1:5672',
  postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  natsUrl: '127.0.0.1:4222',
  bulk: '5000',
  bulkConcurrency: '8',
  publishConcurrency: '32',
  fillBacklog: '0',
  maxCached: String(DEFAULT_MAX_CACHED_WORKFLOWS),
  bullmq: '2000',
  bullmqFailed: '1000',
  redisUrl: 'redis://127.0.0.1:6379',
  profileMessages: '1000',
  workerOptions: '{}',
  workerNodeOptions: WORKER_NODE_FLAGS.join(' '),
  workerEnv: Object.entries(WORKER_ENV)
    .map(([name, value]) => `${name}=${value}`)
    .join(' '),
} as const;

const QUICK = {
  happy: '200',
  warmup: '100',
  rounds: '1',
  park: '40',
  ingest: '200',
  analyticsSizes: '100,300,600',
  bulk: '150',
  bullmq: '200',
  bullmqFailed: '100',
  profileMessages: '200',
} as const;

/** Defaults of `--server postgres` that differ: the issue's sizes, and a list poll within the budget. */
const POSTGRES = {
  analyticsSizes: '1000,20000,100000',
  listPollMs: '250',
  fillBacklog: '1000',
} as const;

type Key = keyof typeof DEFAULTS;
const envName = (key: string) => `BENCH_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** Parses argv (without node and script) and the environment. Throws with every problem listed. */
export function parseBenchOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const program = new Command('bench')
    .description('temporal-dlq benchmark against a bare-Temporal baseline, in one run')
    .option('--quick', 'small sizes, for development')
    .option(
      '--server <kind>',
      'dev (the CLI dev server, default) or postgres (server 1.29.1 on PostgreSQL, stock dynamic config)',
    )
    .option('--list-poll-ms <n>', 'park latency: visibility list poll interval (default 50; postgres 250)')
    .option('--happy <n>', `happy-path messages per round (env ${envName('happy')})`)
    .option('--warmup <n>', 'warm-up messages per mode before the measured rounds, not counted (0: none)')
    .option('--rounds <n>', 'interleaved baseline/DLQ rounds')
    .option('--park <n>', 'messages measured for park latency')
    .option('--park-concurrency <n>', 'park latency: messages in flight')
    .option('--analytics-sizes <list>', 'parked totals for analytics, e.g. 1000,5000,20000')
    .option(
      '--fill <how>',
      'real (every message parked by the worker, default) or seeded (one real park per failure group, the rest started as parked-looking workflows with their search attributes; analytics only, no bulk retry)',
    )
    .option('--skip <phases>', 'phases left out, a list of throughput, ingestion and bulk (default: none)')
    .option('--ingest <n>', 'ingestion: messages loaded into each broker')
    .option(
      '--ingest-sources <list>',
      'ingestion: brokers read through their sources (default nats,rabbitmq,outbox)',
    )
    .option('--rabbitmq-url <url>', 'ingestion: RabbitMQ')
    .option('--postgres-url <url>', "ingestion: PostgreSQL for the outbox's database of its own")
    .option('--nats-url <host:port>', 'NATS with JetStream for the ingestion phase')
    .option('--bulk <n>', 'messages in the bulk-retried failure group')
    .option('--bulk-concurrency <n>', "bulk retry's --concurrency")
    .option('--publish-concurrency <n>', 'publishMany concurrency (and baseline starts)')
    .option(
      '--fill-backlog <n>',
      'filling: at most this many published messages waiting for the worker (0: all at once; default 0, postgres 1000)',
    )
    .option('--max-cached <n>', 'DLQ_MAX_CACHED_WORKFLOWS of both workers')
    .option('--bullmq <n>', 'BullMQ happy-path jobs (0 skips BullMQ)')
    .option('--bullmq-failed <n>', 'BullMQ failed jobs retried')
    .option('--redis-url <url>', 'Redis for BullMQ')
    .option('--no-profile', 'skip the CPU profile runs')
    .option('--profile-messages <n>', 'messages in each profiled run')
    .option(
      '--worker-options <json>',
      'extra WorkerOptions for both workers, e.g. {"maxConcurrentWorkflowTaskPolls":4}',
    )
    .option(
      '--worker-node-options <flags>',
      `node flags for both worker children (default: the production worker's, "${WORKER_NODE_FLAGS.join(' ')}"; "" for none)`,
    )
    .option(
      '--worker-env <items>',
      `environment of both worker children, NAME=value items (default: the production worker's, "${Object.entries(
        WORKER_ENV,
      )
        .map(([n, v]) => `${n}=${v}`)
        .join(' ')}"; "" for none)`,
    )
    .option('--results-dir <dir>', 'where the result JSON goes')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const flags = program.opts<Record<string, unknown>>();
  const quick = flags.quick === true || env.BENCH_QUICK === '1';
  const server = flags.server ?? env[envName('server')] ?? DEFAULTS.server;
  const pick = (key: Key): unknown =>
    flags[key] ??
    env[envName(key)] ??
    (quick ? (QUICK as Partial<Record<Key, string>>)[key] : undefined) ??
    (server === 'postgres' ? (POSTGRES as Partial<Record<Key, string>>)[key] : undefined) ??
    DEFAULTS[key];
  const raw = {
    quick,
    ...Object.fromEntries((Object.keys(DEFAULTS) as Key[]).map((k) => [k, pick(k)])),
    profile: flags.profile !== false && env.BENCH_PROFILE !== '0',
    resultsDir: flags.resultsDir ?? env.BENCH_RESULTS_DIR ?? 'bench/results',
  };
  const parsed = benchOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `Invalid bench options:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  const o = parsed.data;
  const sorted = [...o.analyticsSizes].sort((a, b) => a - b);
  if (sorted.join() !== o.analyticsSizes.join()) throw new Error('--analytics-sizes must be ascending');
  const largest = sorted[sorted.length - 1] ?? 0;
  if (!o.skip.includes('bulk') && o.bulk + o.park > largest)
    throw new Error(
      `--bulk (${o.bulk}) plus --park (${o.park}) must not exceed the largest analytics size (${largest})`,
    );
  if (o.park > (sorted[0] ?? 0))
    throw new Error(`--park (${o.park}) must not exceed the smallest analytics size`);
  // A seeded bench.bulk group sits on a task queue no worker polls: its retries would never run.
  if (o.fill === 'seeded' && !o.skip.includes('bulk')) o.skip.push('bulk');
  return o;
}
