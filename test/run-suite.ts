/**
 * `npm test`'s suite runner, in two tiers, one after the other (the machine has 2 cores):
 *
 * 1. dev: one real Temporal dev server (the CLI's, SQLite, its raised limits) on free ports; every test
 *    file runs against it.
 * 2. production: a Temporal 1.29.1 server on PostgreSQL persistence and visibility with its stock dynamic
 *    config (src/ops/production-server.ts), on fresh databases dropped afterwards; the files in
 *    PRODUCTION_FILES run against it again. Needs PostgreSQL (PGHOST/PGPORT/PGUSER/PGPASSWORD, else
 *    postgres@127.0.0.1:5432); without one the tier is skipped with one loud line, unless `CI` is set or
 *    DLQ_REQUIRE_PRODUCTION_TIER=1, then the suite fails. The server binaries are built with Go on first use.
 *
 * Each tier runs the same set-up (`setupServer`) and the same workflow bundle, and passes DLQ_TEST_TIER
 * (`dev` or `production`) to its test files. Arguments name test files (both tiers run those of them that
 * they run); DLQ_TEST_TIERS=dev or =production runs one tier. The end prints each tier's time and counts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureTemporalCli } from '../src/ops/temporal-cli';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../src/worker/bundle-path';
import { startDevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes';
import { formatDuration } from '../src/contract/duration';
import { ensureTemporalServer, TemporalServerUnavailableError } from '../src/ops/temporal-server';
import type { TemporalServerBinaries } from '../src/ops/temporal-server';
import { checkPostgres, postgresFromEnv, startProductionServer } from '../src/ops/production-server';

/**
 * The files that also run on the production server: the message lifecycle, analytics (visibility counts
 * and schedules), the CLI and its reads from park memos, worker crashes and poison messages, the core's
 * reliability cases, and a rolling restart of several workers (which runs on this tier only, and skips
 * itself on the dev tier). The
 * others stay dev-only: they start servers of their own (guards' continue-as-new, server restarts,
 * upgrades), drive the dev server's Web UI (browser tests), or test no server behaviour (unit, lint, docs).
 */
const PRODUCTION_FILES = [
  'analytics.test.ts',
  'cli.test.ts',
  'core-reliability.test.ts',
  'crash.test.ts',
  'lifecycle.test.ts',
  'park-memo.test.ts',
  'poison.test.ts',
  'rolling-restart.test.ts',
  // The undelivered count (`DlqUndelivered IS NOT NULL`) on PostgreSQL visibility too.
  'sinks.test.ts',
  'immediate-alerts.test.ts',
];

const RETENTION_MS = 30 * 86_400_000;

interface Counts {
  pass: number;
  fail: number;
  skipped: number;
}

interface TierResult {
  name: string;
  code: number;
  ms: number;
  counts?: Counts;
  note?: string;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;

/** Ctrl+C or SIGTERM of the suite: stop the tests, then the servers (and drop the databases). */
const interrupt = new AbortController();
let testChild: ChildProcess | undefined;
let signals = 0;
function onSignal(signal: NodeJS.Signals): void {
  signals++;
  if (signals === 1) {
    process.stderr.write(`\n${signal}: stopping the tests, then the servers (again to force)\n`);
    interrupt.abort();
    testChild?.kill(signal);
    // Workers trap SIGINT/SIGTERM for a graceful shutdown, which waits on the server: do not wait forever.
    const child = testChild;
    setTimeout(() => child?.kill('SIGKILL'), 10_000).unref();
  } else {
    testChild?.kill('SIGKILL');
    // production-server.ts's exit handler kills its server and drops its databases synchronously.
    process.exit(130);
  }
}

/** Runs `files` with node's test runner, echoing its output and reading its closing counts. */
function runTestFiles(files: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; counts?: Counts }> {
  return new Promise((resolve) => {
    // Piped to read the counts: ask for the spec reporter (and colours) that a terminal would get.
    const tty = process.stdout.isTTY;
    const args = [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=2',
      ...(tty ? ['--test-reporter=spec'] : []),
    ];
    const child = spawn(process.execPath, [...args, ...files], {
      stdio: ['inherit', 'pipe', 'inherit'],
      env: { ...(tty ? { FORCE_COLOR: '1' } : {}), ...env },
    });
    testChild = child;
    const counts: Partial<Record<'pass' | 'fail' | 'cancelled' | 'skipped', number>> = {};
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // The closing lines: "ℹ pass 98" (spec reporter) or "# pass 98" (TAP, when not on a terminal).
        const m = /^(?:ℹ|#) (pass|fail|cancelled|skipped) (\d+)$/.exec(
          line.replace(/\x1b\[[0-9;]*m/g, '').trim(),
        );
        if (m) counts[m[1] as keyof typeof counts] = Number(m[2]);
      }
    });
    child.on('exit', (code, signal) => {
      testChild = undefined;
      const { pass, fail, cancelled = 0, skipped = 0 } = counts;
      resolve({
        code: code ?? (signal ? 1 : 0),
        ...(pass !== undefined && fail !== undefined
          ? { counts: { pass, fail: fail + cancelled, skipped } }
          : {}),
      });
    });
  });
}

function testEnv(tier: string, address: string, bundlePath: string, cliPath: string, uiUrl = '') {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    DLQ_TEST_TIER: tier,
    DLQ_TEST_UI_URL: uiUrl,
    DLQ_TEST_WORKFLOW_BUNDLE: bundlePath,
    DLQ_TEST_TEMPORAL_CLI: cliPath,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
  };
}

/**
 * Waits until a visibility query naming every Dlq* attribute is accepted. A stock server caches the
 * attribute list per service for up to 60 s (the dev server refreshes it on every read); registered on a
 * fresh server before any query, the frontend sees them at once, and this checks it.
 */
async function searchAttributesQueryable(connection: Connection): Promise<void> {
  const query = ALL_SEARCH_ATTRIBUTES.map((k) => `${k.name} IS NULL`).join(' AND ');
  const deadline = Date.now() + 70_000;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace: 'default', query });
      return;
    } catch (err) {
      if (interrupt.signal.aborted) throw new Error('interrupted');
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function devTier(files: string[], bundlePath: string, cliPath: string): Promise<TierResult> {
  const started = Date.now();
  const server = await startDevServer({ cliPath });
  try {
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retention: formatDuration(RETENTION_MS) });
    await connection.close();
    say(
      `\n=== Tier dev: Temporal dev server ${server.address} (UI ${server.uiUrl}); ${files.length} test files`,
    );
    const run = await runTestFiles(files, testEnv('dev', server.address, bundlePath, cliPath, server.uiUrl));
    return { name: 'dev', ...run, ms: Date.now() - started };
  } finally {
    await server.stop();
  }
}

async function productionTier(files: string[], bundlePath: string, cliPath: string): Promise<TierResult> {
  const started = Date.now();
  const required = Boolean(process.env.CI) || process.env.DLQ_REQUIRE_PRODUCTION_TIER === '1';
  const why = required ? (process.env.CI ? 'CI is set' : 'DLQ_REQUIRE_PRODUCTION_TIER=1') : '';
  const pg = postgresFromEnv();
  const prerequisites = async (): Promise<{ reason: string } | { binaries: TemporalServerBinaries }> => {
    const noPostgres = await checkPostgres(pg);
    if (noPostgres) return { reason: noPostgres };
    try {
      return { binaries: await ensureTemporalServer(process.env, say) };
    } catch (err) {
      // Only a missing toolchain or binary is a missing prerequisite; a build that fails is an error.
      if (err instanceof TemporalServerUnavailableError && /no Go toolchain|does not exist/.test(err.message))
        return { reason: err.message.split('\n')[0]! };
      throw err;
    }
  };
  const found = await prerequisites();
  if ('reason' in found) {
    const { reason } = found;
    if (required) {
      say(`\n!!! PRODUCTION TIER FAILED: it is required (${why}), but ${reason}`);
      return { name: 'production', code: 1, ms: Date.now() - started, note: `required, but ${reason}` };
    }
    say(
      `\n!!! PRODUCTION TIER SKIPPED: ${reason}. Start PostgreSQL (bash .ci/run does) to run ${files.length} test file(s) on a Temporal server with PostgreSQL.`,
    );
    return { name: 'production', code: 0, ms: Date.now() - started, note: `skipped: ${reason}` };
  }
  const { binaries } = found;
  const built = Date.now();
  const server = await startProductionServer({
    binaries,
    postgres: pg,
    retentionMs: RETENTION_MS,
    signal: interrupt.signal,
    log: say,
  });
  let code = 1;
  try {
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retention: formatDuration(RETENTION_MS) });
    const setUp = Date.now();
    await searchAttributesQueryable(connection);
    say(`  search attributes queryable after ${Date.now() - setUp} ms`);
    await connection.close();
    say(
      `\n=== Tier production: Temporal server 1.29.1 on PostgreSQL ${server.address} ` +
        `(databases ${server.databases.persistence}, ${server.databases.visibility}; stock dynamic config; ` +
        `log ${server.logFile}); started in ${seconds(Date.now() - built)}; ${files.length} test files`,
    );
    const run = await runTestFiles(files, testEnv('production', server.address, bundlePath, cliPath));
    code = run.code;
    return {
      name: 'production',
      ...run,
      ms: Date.now() - started,
      ...(code !== 0 ? { note: `server log kept: ${server.logFile}` } : {}),
    };
  } finally {
    await server.stop({ keepFiles: code !== 0 });
  }
}

async function main(): Promise<number> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const tiers = (process.env.DLQ_TEST_TIERS ?? 'dev,production').split(',').map((t) => t.trim());
  const unknown = tiers.filter((t) => t !== 'dev' && t !== 'production');
  if (unknown.length) throw new Error(`DLQ_TEST_TIERS: unknown tier ${unknown.join(', ')} (dev, production)`);

  const cliPath = await ensureTemporalCli();
  const dir = mkdtempSync(join(tmpdir(), 'dlq-test-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  const noop = (): void => undefined;
  const { code: bundle } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // The same interceptor module as the shipped bundle (scripts/bundle-workflows.ts): tracing of traced messages.
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error },
  });
  writeFileSync(bundlePath, bundle);

  const only = process.argv.slice(2);
  const files = (
    only.length
      ? only
      : readdirSync(__dirname)
          .filter((f) => f.endsWith('.test.ts'))
          .sort()
  ).map((f) => (f.includes('/') ? f : join('test', f)));
  const productionFiles = files.filter((f) => PRODUCTION_FILES.includes(basename(f)));

  const results: TierResult[] = [];
  const runTier = async (name: string, run: () => Promise<TierResult>) => {
    if (interrupt.signal.aborted) return;
    const started = Date.now();
    try {
      results.push(await run());
    } catch (err) {
      // A tier that cannot start fails alone: the other still runs, and the summary names why.
      console.error(err);
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      results.push({ name, code: 1, ms: Date.now() - started, note: message });
    }
  };
  if (tiers.includes('dev') && files.length) await runTier('dev', () => devTier(files, bundlePath, cliPath));
  if (tiers.includes('production') && productionFiles.length)
    await runTier('production', () => productionTier(productionFiles, bundlePath, cliPath));

  say('\n=== Tiers');
  const total: Counts = { pass: 0, fail: 0, skipped: 0 };
  for (const r of results) {
    const counts = r.counts
      ? `${r.counts.pass} passed, ${r.counts.fail} failed, ${r.counts.skipped} skipped`
      : 'no counts';
    say(
      `  ${r.name.padEnd(10)} ${seconds(r.ms).padStart(7)}  ${r.code !== 0 ? 'FAILED ' : r.note?.startsWith('skipped') ? 'SKIPPED' : 'ok     '}  ${counts}${r.note ? `  (${r.note})` : ''}`,
    );
    if (r.counts) {
      total.pass += r.counts.pass;
      total.fail += r.counts.fail;
      total.skipped += r.counts.skipped;
    }
  }
  // One closing line for both tiers, only when every tier that ran tests reported its counts.
  if (interrupt.signal.aborted) say('interrupted');
  else if (results.every((r) => r.counts || (r.code === 0 && r.note?.startsWith('skipped'))))
    say(`tests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped`);
  return interrupt.signal.aborted ? 130 : results.some((r) => r.code !== 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
