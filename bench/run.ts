/**
 * `npm run bench`: starts its own server and the real worker, measures every figure of issue 7 against a
 * bare-Temporal baseline on the same server in the same run, prints a table and writes
 * bench/results/<timestamp>.json. The server is the CLI's dev server (in-memory, free ports, headless), or
 * with `--server postgres` Temporal 1.29.1 on PostgreSQL with its stock dynamic config (bench/server.ts).
 * `--fill seeded` fills the DLQ for analytics with parked-looking rows instead of real parks (bench/phases/seed.ts),
 * `--skip` leaves phases out; `--quick` for small sizes; `--help` for every option.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { CommanderError } from 'commander';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_ENTRY } from '../src/worker/bundle-path';
import { prepareNamespace, startBenchServer } from './server';
import type { BenchServer } from './server';
import { parseBenchOptions } from './options';
import type { BenchOptions } from './options';
import { countingClient } from './counting-client';
import { startWorker } from './context';
import { compileWorkerChild } from './worker-process';
import type { BenchContext } from './context';
import { historyEvents, runThroughput } from './phases/throughput';
import type { ThroughputRun } from './phases/throughput';
import { runParkLatency } from './phases/park-latency';
import { fillTo } from './phases/fill';
import type { FillResult } from './phases/fill';
import { planSeeding, seedTo } from './phases/seed';
import type { Seeding } from './phases/seed';
import { measureAnalytics } from './phases/analytics';
import type { AnalyticsCost } from './phases/analytics';
import { runBulkRetry } from './phases/bulk-retry';
import type { BulkRetry } from './phases/bulk-retry';
import { ingestionLabel, runIngestion } from './phases/ingestion';
import type { IngestionBroker, IngestionRun } from './phases/ingestion';
import { natsBroker } from './brokers/nats';
import { outboxBroker } from './brokers/outbox';
import { rabbitmqBroker } from './brokers/rabbitmq';
import type { Memory } from './ipc';
import { runBullmq } from './phases/bullmq';
import { summariseProfiles } from './profile';
import type { ThreadProfile } from './profile';
import {
  machine,
  memoryPoint,
  rate,
  renderProfile,
  renderTable,
  writePartialResults,
  writeResults,
} from './report';
import type { BenchResults, MemoryPoint } from './report';
import { round } from './stats';

const log = (text: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

async function bundle(
  workflowsPath: string,
  file: string,
  interceptorModules: string[] = [],
): Promise<string> {
  const noop = (): void => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: interceptorModules,
    logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error },
  });
  writeFileSync(file, code);
  return file;
}

/** Round numbers of the runs that are not measured rounds (they only make ids and task queues unique). */
const WARMUP_ROUND = 98;
const PROFILE_ROUND = 99;

async function measure(
  ctx: BenchContext,
  options: BenchOptions,
  temporalServer: string,
  server: BenchResults['server'],
  startedAt: Date,
): Promise<BenchResults> {
  const skipThroughput = options.skip.includes('throughput');
  // 1. Happy path against the baseline, interleaved rounds on fresh workers, after a warm-up of each mode.
  if (options.warmup > 0 && !skipThroughput) {
    for (const mode of ['baseline', 'dlq'] as const) {
      log(`warm-up: ${mode}, ${options.warmup} messages (not counted)`);
      const run = await runThroughput(ctx, mode, WARMUP_ROUND, options.warmup);
      log(`  ${run.perSecond} msg/s`);
    }
  }
  const progress: Record<string, unknown> = { server, options, machine: machine(temporalServer) };
  const checkpoint = (fields: Record<string, unknown>) => {
    Object.assign(progress, fields);
    writePartialResults(options.resultsDir, startedAt.toISOString(), progress);
  };
  const runs: ThroughputRun[] = [];
  if (skipThroughput) log('happy path and CPU profiles: skipped (--skip throughput)');
  for (let r = 0; r < (skipThroughput ? 0 : options.rounds); r++) {
    const order: Array<'dlq' | 'baseline'> = r % 2 === 0 ? ['baseline', 'dlq'] : ['dlq', 'baseline'];
    for (const mode of order) {
      log(`round ${r + 1}/${options.rounds}: ${mode}, ${options.happy} messages`);
      const run = await runThroughput(ctx, mode, r, options.happy);
      log(`  ${run.perSecond} msg/s (${run.seconds} s, p50 ${run.latencyMs.p50} ms)`);
      runs.push(run);
      checkpoint({ throughputRuns: runs });
    }
  }
  const sampleOf = (mode: ThroughputRun['mode']) => runs.find((r) => r.mode === mode)?.sampleIds ?? [];
  const baselineEvents = skipThroughput ? null : await historyEvents(ctx.client, sampleOf('baseline'));
  const dlqHappyEvents = skipThroughput ? null : await historyEvents(ctx.client, sampleOf('dlq'));

  // 2. CPU profiles of separate happy-path runs (profiling slows the worker, so not the measured rounds).
  let profile: BenchResults['profile'] = null;
  if (options.profile && !skipThroughput) {
    const profiles: Record<'dlq' | 'baseline', ThreadProfile[]> = { dlq: [], baseline: [] };
    for (const mode of ['baseline', 'dlq'] as const) {
      const dir = mkdtempSync(join(tmpdir(), `dlq-bench-prof-${mode}-`));
      log(`profiling ${mode}: ${options.profileMessages} messages → ${dir}`);
      await runThroughput(ctx, mode, PROFILE_ROUND, options.profileMessages, dir);
      profiles[mode] = summariseProfiles(dir);
    }
    profile = profiles;
  }

  // 3. Ingestion: each broker's source against publishMany from memory, on fresh workers.
  let ingestion: IngestionRun[] | null = null;
  if (options.skip.includes('ingestion')) log('ingestion: skipped (--skip ingestion)');
  else {
    const brokers: IngestionBroker[] = [];
    try {
      for (const kind of options.ingestSources)
        brokers.push(
          kind === 'nats'
            ? await natsBroker(options.natsUrl, options.publishConcurrency)
            : kind === 'rabbitmq'
              ? await rabbitmqBroker(options.rabbitmqUrl, options.publishConcurrency)
              : await outboxBroker(options.postgresUrl),
        );
      ingestion = await runIngestion(ctx, brokers, options.ingest);
      for (const run of ingestion)
        log(
          `  ${ingestionLabel(run)}: ${run.startedPerSecond} msg/s started, ${run.completedPerSecond} completed (ratio ${run.ratioStarted} · ${run.ratioCompleted})`,
        );
      checkpoint({ ingestion });
    } finally {
      for (const broker of brokers) await broker.close();
    }
  }

  // 4. Park latency, then the DLQ filled size by size with analytics at each, on one long-lived worker.
  const taskQueue = `bench-dlq-park-${ctx.runId}`;
  const worker = await startWorker(ctx, 'dlq', taskQueue);
  const points: MemoryPoint[] = [];
  try {
    points.push(memoryPoint('idle', 0, await worker.memory()));
    log(`park latency: ${options.park} messages, ${options.parkConcurrency} in flight`);
    const parkLatency = await runParkLatency(ctx, taskQueue);
    log(
      `  to dead p50 ${parkLatency.toDeadByQueryMs.p50} ms; to visibility p50 ${parkLatency.toVisibilityMs.p50} ms`,
    );
    const parkedEvents = await historyEvents(ctx.client, parkLatency.sampleIds);
    checkpoint({
      parkLatency,
      historyEvents: { baseline: baselineEvents, dlqHappy: dlqHappyEvents, dlqParked: parkedEvents },
    });

    const largest = options.analyticsSizes[options.analyticsSizes.length - 1]!;
    const totalFillers = largest - options.park;
    const fills: FillResult[] = [];
    const analytics: AnalyticsCost[] = [];
    const seeded = options.fill === 'seeded';
    let seeding: Seeding | undefined;
    let filled = 0;
    for (const size of options.analyticsSizes) {
      const to = size - options.park;
      log(`${seeded ? 'seeding' : 'parking'} up to ${size} (${to - filled} more)`);
      let fill: FillResult;
      if (seeded) {
        seeding ??= planSeeding(ctx, taskQueue, totalFillers);
        fill = await seedTo(ctx, seeding, { from: filled, to }, size);
      } else fill = await fillTo(ctx, taskQueue, { from: filled, to, totalFillers }, size);
      filled = to;
      fills.push(fill);
      checkpoint({ fills });
      log(`  ${fill.parkedPerSecond} msg/s ${seeded ? 'seeded' : 'parked'}`);
      // A seeded fill leaves the worker with the real parks only: its memory is not that of `size` parked.
      points.push(
        memoryPoint(seeded ? `parked ${size} (seeded)` : `parked ${size}`, size, await worker.memory()),
      );
      const cost = await measureAnalytics(ctx, size);
      log(
        `  analytics: ${cost.wallMs.median} ms, ${cost.countCalls} counts + ${cost.listCalls} lists (total ${cost.snapshotTotal})`,
      );
      analytics.push(cost);
      checkpoint({ fills, analytics, memoryPoints: points });
    }
    const atLargest = await worker.memory();

    let bulkRetry: BulkRetry | null = null;
    let afterBulk: Memory | null = null;
    let recoveredEvents: number | null = null;
    if (options.skip.includes('bulk')) log(`bulk retry: skipped (${seeded ? 'seeded fill' : '--skip bulk'})`);
    else {
      log(`bulk retry of the bench.bulk group (${options.bulk}), concurrency ${options.bulkConcurrency}`);
      bulkRetry = await runBulkRetry(ctx);
      log(
        `  ${bulkRetry.perSecond} msg/s to recovered (${bulkRetry.recoveredSeconds} s; CLI returned after ${bulkRetry.acceptedSeconds} s)`,
      );
      afterBulk = await worker.memory();
      points.push(memoryPoint('after bulk retry', largest - bulkRetry.accepted, afterBulk));
      recoveredEvents = await historyEvents(ctx.client, bulkRetry.sampleIds);
    }
    await worker.stop();

    const dlqPerSecond = rate(runs, 'dlq');
    const baselinePerSecond = rate(runs, 'baseline');
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: '',
      seconds: 0,
      machine: machine(temporalServer),
      server,
      options,
      throughput: skipThroughput
        ? null
        : { runs, dlqPerSecond, baselinePerSecond, ratio: round(dlqPerSecond / baselinePerSecond, 3) },
      historyEvents: {
        baseline: baselineEvents,
        dlqHappy: dlqHappyEvents,
        dlqParked: parkedEvents,
        dlqRecovered: recoveredEvents,
      },
      parkLatency,
      fills,
      analytics,
      bulkRetry,
      workerMemory: {
        maxCachedWorkflows: options.maxCached,
        points,
        peakAtLargestMiB: seeded ? null : memoryPoint('', largest, atLargest).peakRssMiB,
        peakAfterBulkMiB: afterBulk ? memoryPoint('', 0, afterBulk).peakRssMiB : null,
      },
      ingestion,
      bullmq: null,
      profile,
    };
  } finally {
    await worker.stop();
  }
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv.slice(2));
  const startedAt = new Date();
  const runId = randomUUID().slice(0, 8);
  log(`run ${runId}${options.quick ? ' (quick)' : ''}: ${JSON.stringify(options)}`);
  let server: BenchServer | undefined;
  let results: BenchResults;
  try {
    server = await startBenchServer(options.server, log);
    log(`${options.server} server ${server.address}: ${server.description}`);
    const connection = await Connection.connect({ address: server.address });
    await prepareNamespace(connection, 'default');
    const info = await connection.workflowService.getSystemInfo({});
    const dir = mkdtempSync(join(tmpdir(), 'dlq-bench-'));
    log('bundling the workflow code (production bundle and baseline bundle)');
    const bundles = {
      // As scripts/bundle-workflows.ts builds the production bundle: with the tracing interceptors.
      dlq: await bundle(WORKFLOWS_ENTRY, join(dir, 'dlq-workflow-bundle.js'), WORKFLOW_INTERCEPTOR_MODULES),
      baseline: await bundle(
        require.resolve('./baseline-workflows'),
        join(dir, 'baseline-workflow-bundle.js'),
      ),
    };
    log('compiling the worker child (plain node, as in production)');
    const workerChildScript = compileWorkerChild(join(dir, 'compiled'));
    const ctx: BenchContext = {
      options,
      workerChildScript,
      runId,
      address: server.address,
      serverPid: server.pid,
      connection,
      client: new Client({ connection, namespace: 'default' }),
      counting: countingClient(connection),
      bundles,
      log,
    };
    results = await measure(
      ctx,
      options,
      info.serverVersion ?? 'unknown',
      { kind: server.kind, description: server.description },
      startedAt,
    );
    await connection.close();
  } finally {
    await server?.stop();
  }
  // BullMQ last, with the Temporal server stopped, so neither competes for the two cores.
  if (options.bullmq > 0) {
    log(`BullMQ: ${options.bullmq} jobs, ${options.bullmqFailed} failed and retried`);
    results.bullmq = await runBullmq({ options, runId, log });
  }
  const finishedAt = new Date();
  results.finishedAt = finishedAt.toISOString();
  results.seconds = round((finishedAt.getTime() - startedAt.getTime()) / 1000, 0);
  process.stdout.write(
    `\ntemporal-dlq bench, ${results.startedAt} · ${results.machine.cpus} × ${results.machine.cpuModel} · ${results.machine.memoryMiB} MiB · Node ${results.machine.node} · Temporal ${results.machine.temporalServer} · ${results.server.description}\n`,
  );
  process.stdout.write(`${renderTable(results)}\n`);
  if (results.profile) {
    process.stdout.write(
      `\nWorker CPU profile (self time), DLQ happy path:\n${renderProfile(results.profile.dlq)}\n`,
    );
    process.stdout.write(`Baseline:\n${renderProfile(results.profile.baseline)}\n`);
  }
  const file = writeResults(options.resultsDir, results);
  process.stdout.write(`\nResults: ${file} (${results.seconds} s)\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // Commander has already printed the help or the usage error.
    if (err instanceof CommanderError) process.exit(err.exitCode);
    console.error(err);
    process.exit(1);
  },
);
