/** The result document (bench/results/<timestamp>.json) and the printed table. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import type { BenchOptions } from './options';
import type { ThroughputRun } from './phases/throughput';
import type { ParkLatency } from './phases/park-latency';
import type { FillResult } from './phases/fill';
import type { AnalyticsCost } from './phases/analytics';
import type { BulkRetry } from './phases/bulk-retry';
import { ingestionLabel } from './phases/ingestion';
import type { IngestionRun } from './phases/ingestion';
import type { BullmqContext } from './phases/bullmq';
import type { ThreadProfile } from './profile';
import type { Memory } from './ipc';
import { mib, round } from './stats';

export interface MemoryPoint {
  at: string;
  parked: number;
  rssMiB: number;
  peakRssMiB: number;
  /** Main thread's V8 heap: used, and reserved (used plus garbage not yet collected). */
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** The workflow thread's V8 heap, the same two figures. */
  workflowHeapUsedMiB: number;
  workflowHeapTotalMiB: number;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  seconds: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryMiB: number;
    node: string;
    platform: string;
    temporalServer: string;
  };
  /** The server measured against (`--server`); runs before it existed used the dev server. */
  server: { kind: BenchOptions['server']; description: string };
  options: BenchOptions;
  /** Null with `--skip throughput`. */
  throughput: {
    runs: ThroughputRun[];
    dlqPerSecond: number;
    baselinePerSecond: number;
    ratio: number;
  } | null;
  /** Null where the phase that makes the sample was skipped. */
  historyEvents: {
    baseline: number | null;
    dlqHappy: number | null;
    dlqParked: number;
    dlqRecovered: number | null;
  };
  parkLatency: ParkLatency;
  fills: FillResult[];
  analytics: AnalyticsCost[];
  /** Null with `--skip bulk` or `--fill seeded`. */
  bulkRetry: BulkRetry | null;
  workerMemory: {
    maxCachedWorkflows: number;
    points: MemoryPoint[];
    /** Null for a seeded fill (the worker parked only a few of them). */
    peakAtLargestMiB: number | null;
    peakAfterBulkMiB: number | null;
  };
  /** Null with `--skip ingestion` (and in results written before the phase existed). */
  ingestion?: IngestionRun[] | null;
  bullmq: BullmqContext | null;
  profile: { dlq: ThreadProfile[]; baseline: ThreadProfile[] } | null;
}

export function machine(temporalServer: string): BenchResults['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    temporalServer,
  };
}

export function memoryPoint(at: string, parked: number, m: Memory): MemoryPoint {
  return {
    at,
    parked,
    rssMiB: mib(m.rss),
    peakRssMiB: mib(m.peakRss),
    heapUsedMiB: mib(m.heapUsed),
    heapTotalMiB: mib(m.heapTotal),
    workflowHeapUsedMiB: mib(m.workflowHeapUsed),
    workflowHeapTotalMiB: mib(m.workflowHeapTotal),
  };
}

/** Sums runs of one mode: total messages over total seconds. */
export function rate(runs: readonly ThroughputRun[], mode: ThroughputRun['mode']): number {
  const mine = runs.filter((r) => r.mode === mode);
  const n = mine.reduce((a, r) => a + r.n - r.failedPublishes, 0);
  const s = mine.reduce((a, r) => a + r.seconds, 0);
  return s > 0 ? round(n / s, 1) : NaN;
}

const ok = (pass: boolean) => (pass ? 'met' : 'MISSED');

/** Issue 14: at most this many visibility calls per analytics run, at any number of parked messages. */
const ANALYTICS_CALL_BUDGET = 20;

/** The mean of the ingestion phase's memory runs, the baseline of its ratios. */
function memoryMean(runs: IngestionRun[], pick: (run: IngestionRun) => number): number {
  const memory = runs.filter((m) => m.source === 'memory');
  return round(memory.reduce((sum, m) => sum + pick(m), 0) / Math.max(1, memory.length), 1);
}

export function renderTable(r: BenchResults): string {
  const table = new Table({
    style: { head: [], border: [] },
    head: ['Figure', 'temporal-dlq', 'Baseline / context', 'Ratio', 'Target', 'Verdict'],
  });
  const t = r.throughput;
  if (t) pushThroughput(table, r, t);
  for (const run of r.ingestion ?? []) {
    if (run.source === 'memory') continue;
    table.push([
      `Ingestion ${ingestionLabel(run)} → started · completed, msg/s (n=${run.n})${run.mode === 'worker, eager' ? `, ${run.eagerlyStarted} eager` : ''}`,
      `${run.startedPerSecond} · ${run.completedPerSecond}`,
      `publishMany from memory ${memoryMean(r.ingestion!, (m) => m.startedPerSecond)} · ${memoryMean(r.ingestion!, (m) => m.completedPerSecond)}`,
      `${run.ratioStarted} · ${run.ratioCompleted}`,
      '≥ 0.9',
      ok(run.ratioCompleted >= 0.9),
    ]);
  }
  const h = r.historyEvents;
  const events = (n: number | null, what: string) => (n === null ? [] : [`${n} ${what}`]);
  table.push([
    'History events per message',
    [
      ...events(h.dlqHappy, 'happy'),
      ...events(h.dlqParked, 'parked'),
      ...events(h.dlqRecovered, 'recovered'),
    ].join(' · '),
    h.baseline === null ? '' : `${h.baseline} bare`,
    h.baseline === null || h.dlqHappy === null ? '' : round(h.dlqHappy / h.baseline, 2),
    '',
    '',
  ]);
  const p = r.parkLatency;
  table.push([
    `Park → dead (state query), ms (n=${p.n})`,
    `p50 ${p.toDeadByQueryMs.p50} · p95 ${p.toDeadByQueryMs.p95} · p99 ${p.toDeadByQueryMs.p99}`,
    '',
    '',
    'p50 ≤ 150',
    ok(p.toDeadByQueryMs.p50 <= 150),
  ]);
  table.push([
    'Park → dead (history upsert), ms',
    `p50 ${p.toDeadInHistoryMs.p50} · p95 ${p.toDeadInHistoryMs.p95} · p99 ${p.toDeadInHistoryMs.p99}`,
    '',
    '',
    '',
    '',
  ]);
  table.push([
    'Park → visibility list, ms',
    `p50 ${p.toVisibilityMs.p50} · p95 ${p.toVisibilityMs.p95} · p99 ${p.toVisibilityMs.p99}`,
    '',
    '',
    '',
    '',
  ]);
  if (r.bullmq)
    table.push([
      'BullMQ add → failed set, ms',
      '',
      `p50 ${r.bullmq.failed.toFailedMs.p50} · p95 ${r.bullmq.failed.toFailedMs.p95}`,
      round(p.toDeadByQueryMs.p50 / r.bullmq.failed.toFailedMs.p50, 1),
      'context',
      '',
    ]);
  const counts = new Set(r.analytics.map((a) => a.countCalls));
  for (const a of r.analytics) {
    const largest = a === r.analytics[r.analytics.length - 1];
    const calls = a.countCalls + a.listCalls;
    // On a stock server the target is issue 14's visibility budget: at most 20 calls per run, any size.
    const [target, pass] =
      r.server.kind === 'postgres'
        ? [`≤ ${ANALYTICS_CALL_BUDGET} calls`, calls <= ANALYTICS_CALL_BUDGET]
        : largest
          ? ['calls constant; ≤ 3000 ms', counts.size === 1 && a.wallMs.median <= 3000]
          : ['calls constant', counts.size === 1];
    table.push([
      `Analytics at ${a.parked} parked`,
      `${a.wallMs.median} ms · ${a.countCalls} counts + ${a.listCalls} lists${a.rateLimited ? ` (${a.rateLimited} rate-limited)` : ''}`,
      '',
      '',
      target,
      ok(pass),
    ]);
  }
  for (const f of r.fills)
    table.push(
      f.fill === 'seeded'
        ? [
            `Seeding to ${f.target} (start → visible)`,
            `${f.parkedPerSecond} rows/s${f.reallyParked ? ` (${f.reallyParked} parked for real)` : ''}`,
            '',
            '',
            '',
            '',
          ]
        : [`Parking to ${f.target} (publish → visible)`, `${f.parkedPerSecond} msg/s`, '', '', '', ''],
    );
  const b = r.bulkRetry;
  if (b)
    table.push([
      `Bulk retry of ${b.accepted} (CLI, concurrency ${b.concurrency})`,
      `${b.perSecond} msg/s to recovered`,
      r.bullmq ? `${r.bullmq.retry.perSecond} BullMQ retry/s` : '',
      r.bullmq ? round(b.perSecond / r.bullmq.retry.perSecond, 2) : '',
      'context',
      '',
    ]);
  const w = r.workerMemory;
  const largest = r.analytics[r.analytics.length - 1]?.parked ?? 0;
  if (w.peakAtLargestMiB !== null)
    table.push([
      `Worker peak RSS, ${largest} parked (cache ${w.maxCachedWorkflows}${r.options.workerNodeOptions.length || Object.keys(r.options.workerEnv).length ? ', worker settings' : ', no worker settings'})`,
      `${w.peakAtLargestMiB} MiB${w.peakAfterBulkMiB === null ? '' : ` (${w.peakAfterBulkMiB} after bulk retry)`}`,
      '',
      '',
      '≤ 300 MB',
      ok(w.peakAtLargestMiB * 1.048576 <= 300),
    ]);
  if (r.bullmq && t)
    table.push([
      'BullMQ happy path, jobs/s',
      t.dlqPerSecond,
      `${r.bullmq.happy.perSecond} BullMQ`,
      round(t.dlqPerSecond / r.bullmq.happy.perSecond, 3),
      'context',
      '',
    ]);
  return table.toString();
}

/** The happy-path rows: rate and CPU per message against the baseline. */
function pushThroughput(
  table: InstanceType<typeof Table>,
  r: BenchResults,
  t: NonNullable<BenchResults['throughput']>,
): void {
  table.push([
    `Happy path, msg/s (N=${r.options.happy} × ${r.options.rounds})`,
    t.dlqPerSecond,
    `${t.baselinePerSecond} bare Temporal`,
    t.ratio,
    '≥ 0.9',
    ok(t.ratio >= 0.9),
  ]);
  const cpu = (mode: 'dlq' | 'baseline') => {
    const runs = t.runs.filter((run) => run.mode === mode);
    const mean = (pick: (run: ThroughputRun) => number) =>
      round(runs.reduce((sum, run) => sum + pick(run), 0) / Math.max(runs.length, 1), 1);
    return {
      server: mean((run) => run.cpuMsPerMessage.server),
      worker: mean((run) => run.cpuMsPerMessage.worker),
    };
  };
  const [dlqCpu, baseCpu] = [cpu('dlq'), cpu('baseline')];
  table.push([
    'CPU per message, ms (server · worker)',
    `${dlqCpu.server} · ${dlqCpu.worker}`,
    `${baseCpu.server} · ${baseCpu.worker} bare`,
    round((dlqCpu.server + dlqCpu.worker) / (baseCpu.server + baseCpu.worker), 2),
    '',
    '',
  ]);
}

export function renderProfile(profiles: ThreadProfile[]): string {
  const lines: string[] = [];
  for (const p of profiles) {
    lines.push(
      `  ${p.thread} (${p.totalMs} ms sampled): ${Object.entries(p.areas)
        .slice(0, 6)
        .map(([k, v]) => `${k} ${v}%`)
        .join(', ')}`,
    );
    for (const f of p.top.slice(0, 6)) lines.push(`    ${String(f.pct).padStart(5)}%  ${f.fn}  ${f.where}`);
  }
  return lines.join('\n');
}

const resultsFile = (dir: string, startedAt: string, suffix = '') =>
  join(dir, `${startedAt.replace(/[:.]/g, '-')}${suffix}.json`);

/** Writes the result JSON (and removes the run's partial file); returns its path. */
export function writeResults(dir: string, results: BenchResults): string {
  mkdirSync(dir, { recursive: true });
  const file = resultsFile(dir, results.startedAt);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  rmSync(resultsFile(dir, results.startedAt, '.partial'), { force: true });
  return file;
}

/**
 * Writes what a run has measured so far to `<startedAt>.partial.json`, after each phase: a run that is
 * stopped before its end (a long `--server postgres` fill, a killed process) keeps its figures.
 */
export function writePartialResults(dir: string, startedAt: string, partial: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  const doc = { partial: true, startedAt, writtenAt: new Date().toISOString(), ...partial };
  writeFileSync(resultsFile(dir, startedAt, '.partial'), `${JSON.stringify(doc, null, 2)}\n`);
}
