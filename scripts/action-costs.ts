/**
 * `npm run action-costs`: the Temporal Cloud action cost of one message on each path, measured, not estimated.
 *
 * Starts a Temporal dev server (the CLI's, which embeds server 1.29.1, the production tier's version) with
 * its Prometheus endpoint, the project's real worker in this process and the real `dlq` CLI, then sends one
 * message down each path, one at a time:
 *
 *   succeeded   succeeds at once
 *   parked      fails validation at its first attempt and parks (then waits: the path ends there)
 *   parked-temporary  fails temporarily at every attempt (the default 5), parks, waits for its re-drive
 *   repaired    parks (as `parked`), then `dlq retry <id> --patch` repairs it and it succeeds (`recovered`)
 *   re-driven   fails temporarily 5 times, parks, is re-driven automatically and succeeds (`recovered`)
 *   discarded   parks (as `parked`), then `dlq discard <id>` resolves it
 *
 * Each message's history is counted by `historyActions` (scripts/billable-actions.ts, which cites the page
 * and says which event counts as what); what no history shows (heartbeats, queries, rejected updates) comes
 * from the server's `action` metric over the same window, which also gives an independent total. Then the
 * operator side: `dlq list` of `--rows` parked messages, `dlq show <message id>` and `dlq show <workflow id>`,
 * counted by the metric alone (they write no history).
 *
 * Retry intervals are shortened (100 ms, at most 1 s) and the re-drive delay is 1 s instead of 5 min: the
 * number of attempts, timers and heartbeats is the same with the defaults. Prints a Markdown table and
 * writes the figures as JSON (`--out`, default bench/results/action-costs-<time>.json).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { z } from 'zod';
import { WORKFLOWS_ENTRY } from '../src/worker/bundle-path';
import { runCli } from '../src/cli/main';
import type { CliContext } from '../src/cli/context';
import { loadConfig } from '../src/config';
import { freePort, startDevServer } from '../src/ops/dev-server';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { setupServer } from '../src/ops/setup';
import { TemporaryError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { ensureTemporalCli } from '../src/ops/temporal-cli';
import { createWorker } from '../src/worker/create-worker';
import {
  eventTypeName,
  expectedMetricTotal,
  historyActions,
  metricDelta,
  metricTotal,
  notInHistory,
  parseActionMetric,
} from './billable-actions';
import type { HistoryActions } from './billable-actions';

const NAMESPACE = 'default';
const TOPIC = {
  ok: 'cost.ok',
  invalid: 'cost.invalid',
  temporary: 'cost.temporary',
  redrive: 'cost.redrive',
  list: 'cost.list',
} as const;
const FAST_RETRY = { initialInterval: '100ms', maximumInterval: '1s' };
const amountSchema = z.object({ amount: z.number().positive() });

const handlers = [
  defineHandler({ topic: TOPIC.ok, handle: () => ({ ok: true }) }),
  // The schema is checked by the first attempt: amount 0 parks as VALIDATION_ERROR, a patch repairs it.
  defineHandler({ topic: TOPIC.invalid, schema: amountSchema, handle: () => ({ ok: true }) }),
  defineHandler({ topic: TOPIC.list, schema: amountSchema, handle: () => ({ ok: true }) }),
  defineHandler({
    topic: TOPIC.temporary,
    retry: FAST_RETRY,
    handle: () => {
      throw new TemporaryError('downstream unavailable', { reason: 'HTTP_503' });
    },
  }),
  defineHandler({
    topic: TOPIC.redrive,
    retry: FAST_RETRY,
    redrive: { baseDelay: '1s' },
    handle: ({ cycle }) => {
      if (cycle === 0) throw new TemporaryError('downstream unavailable', { reason: 'HTTP_503' });
      return { ok: true };
    },
  }),
];

const optionsSchema = z.object({
  rows: z.coerce.number().int().min(1).max(1000).default(20),
  out: z.string().min(1).optional(),
});

const log = (text: string) => process.stderr.write(`[action-costs] ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PathCost {
  path: string;
  workflowId: string;
  status: string;
  history: HistoryActions;
  /** The server's `action` metric over the path's window, by action type. */
  metric: Record<string, number>;
  /** Billed actions that no history shows (from the metric). */
  notInHistory: Record<string, number>;
  /** History actions + those not in history. */
  total: number;
  /** The metric's own total (markers batched): a cross-check, see `expectedMetricTotal`. */
  metricTotal: number;
  /** Whether the metric's total is what the history and the metric's extras explain. */
  agrees: boolean;
}

interface OperatorCost {
  command: string;
  metric: Record<string, number>;
  total: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const parsed = optionsSchema.safeParse({ rows: flag('rows'), out: flag('out') });
  if (!parsed.success)
    throw new Error(
      `Invalid options: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const options = parsed.data;

  const cliPath = await ensureTemporalCli();
  const metricsPort = await freePort();
  const server = await startDevServer({
    cliPath,
    uiPort: false,
    extraArgs: ['--metrics-port', String(metricsPort)],
  });
  log(`dev server ${server.address}, metrics on :${metricsPort}`);
  const noop = (): void => undefined;
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop } });
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  let worker: Awaited<ReturnType<typeof createWorker>> | undefined;
  let running: Promise<void> | undefined;
  try {
    await setupServer(connection, { namespace: NAMESPACE, retention: '1d' });
    const dir = mkdtempSync(join(tmpdir(), 'dlq-action-costs-'));
    const bundlePath = join(dir, 'workflow-bundle.js');
    const { code } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_ENTRY,
      logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error },
    });
    writeFileSync(bundlePath, code);
    const taskQueue = `cost-${randomUUID().slice(0, 8)}`;
    const config = loadConfig({
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LOG_LEVEL: 'silent',
    });
    worker = await createWorker({
      handlers,
      config,
      logger: pino({ level: 'silent' }),
      connection: nativeConnection,
      installRuntimeLogger: false,
      workflowBundlePath: bundlePath,
    });
    running = worker.run();
    const client = new Client({ connection, namespace: NAMESPACE });
    const patchFile = join(dir, 'patch.json');
    writeFileSync(patchFile, JSON.stringify({ amount: 1 }));
    const cli = (argv: string[]) => runCli(argv, cliContext(config, client));

    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      return parseActionMetric(await response.text(), NAMESPACE);
    };
    /** The metric once it stops moving: the server reports counters on an interval. */
    const settledMetric = async () => {
      let last = await scrape();
      for (;;) {
        await sleep(1500);
        const now = await scrape();
        if (JSON.stringify(now) === JSON.stringify(last)) return now;
        last = now;
      }
    };

    const historyOf = async (workflowId: string) =>
      (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    /** Parked and waiting: the park's search-attribute upsert, then the timer of the wait. */
    const untilParked = async (workflowId: string) => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const types = (await historyOf(workflowId)).map(eventTypeName);
        const upsert = types.lastIndexOf('UpsertWorkflowSearchAttributes');
        if (upsert >= 0 && types.indexOf('TimerStarted', upsert) > upsert) return;
        await sleep(100);
      }
      throw new Error(`${workflowId} did not park within 60 s`);
    };
    const send = async (topic: string, id: string, payload: unknown) => {
      await publish(client, { id, topic, payload }, { taskQueue });
      return messageWorkflowId(topic, id);
    };
    const expectExit = (what: string, code: number) => {
      if (code !== 0) throw new Error(`${what} exited with ${code}`);
    };

    const paths: Array<{ path: string; run: (id: string) => Promise<string> }> = [
      {
        path: 'succeeded',
        run: async (id) => {
          const wf = await send(TOPIC.ok, id, { amount: 1 });
          await client.workflow.getHandle(wf).result();
          return wf;
        },
      },
      {
        path: 'parked',
        run: async (id) => {
          const wf = await send(TOPIC.invalid, id, { amount: 0 });
          await untilParked(wf);
          return wf;
        },
      },
      {
        path: 'parked-temporary',
        run: async (id) => {
          const wf = await send(TOPIC.temporary, id, { amount: 1 });
          await untilParked(wf);
          return wf;
        },
      },
      {
        path: 'repaired',
        run: async (id) => {
          const wf = await send(TOPIC.invalid, id, { amount: 0 });
          await untilParked(wf);
          const argv = [
            'retry',
            wf,
            '--patch',
            patchFile,
            '--reason',
            'cost',
            '--operator',
            'cost',
            '--json',
          ];
          expectExit('dlq retry', await cli(argv));
          await client.workflow.getHandle(wf).result();
          return wf;
        },
      },
      {
        path: 're-driven',
        run: async (id) => {
          const wf = await send(TOPIC.redrive, id, { amount: 1 });
          await client.workflow.getHandle(wf).result();
          return wf;
        },
      },
      {
        path: 'discarded',
        run: async (id) => {
          const wf = await send(TOPIC.invalid, id, { amount: 0 });
          await untilParked(wf);
          const argv = ['discard', wf, '--reason', 'cost', '--operator', 'cost', '--yes', '--json'];
          expectExit('dlq discard', await cli(argv));
          await client.workflow.getHandle(wf).result();
          return wf;
        },
      },
    ];

    const costs: PathCost[] = [];
    for (const { path, run } of paths) {
      const before = await settledMetric();
      const workflowId = await run(`${path}-${randomUUID().slice(0, 8)}`);
      const metric = metricDelta(before, await settledMetric());
      const events = await historyOf(workflowId);
      const history = historyActions(events);
      const extra = notInHistory(metric);
      const extraTotal = Object.values(extra).reduce((a, b) => a + b, 0);
      const description = await client.workflow.getHandle(workflowId).describe();
      const cost: PathCost = {
        path,
        workflowId,
        status: description.status.name,
        history,
        metric,
        notInHistory: extra,
        total: history.total + extraTotal,
        metricTotal: metricTotal(metric),
        agrees: metricTotal(metric) === expectedMetricTotal(history, extraTotal),
      };
      costs.push(cost);
      log(
        `${path}: ${cost.total} actions (${history.events} events; metric ${cost.metricTotal}, ${cost.agrees ? 'agrees' : 'DOES NOT AGREE'})`,
      );
    }

    // Operator reads: a listing of `rows` parked messages, and `dlq show` by message id and by workflow id.
    const ids = Array.from({ length: options.rows }, (_, i) => `list-${i}-${randomUUID().slice(0, 6)}`);
    const listed = await Promise.all(ids.map((id) => send(TOPIC.list, id, { amount: 0 })));
    for (const wf of listed) await untilParked(wf);
    const operator: OperatorCost[] = [];
    const reads: Array<[string, string[]]> = [
      [
        `dlq list (${options.rows} rows)`,
        ['list', '--topic', TOPIC.list, '--limit', String(options.rows), '--json'],
      ],
      ['dlq show <message id>', ['show', ids[0]!, '--json']],
      ['dlq show <workflow id>', ['show', listed[0]!, '--json']],
    ];
    for (const [command, argv] of reads) {
      const before = await settledMetric();
      expectExit(command, await cli(argv));
      const metric = metricDelta(before, await settledMetric());
      operator.push({ command, metric, total: metricTotal(metric) });
      log(`${command}: ${metricTotal(metric)} actions ${JSON.stringify(metric)}`);
    }

    const info = await connection.workflowService.getSystemInfo({});
    const result = {
      measuredAt: new Date().toISOString(),
      server: `Temporal dev server (CLI), server ${info.serverVersion ?? 'unknown'}`,
      definition: 'https://docs.temporal.io/evaluate/cloud/actions',
      paths: costs,
      operator,
    };
    const out =
      options.out ?? join('bench', 'results', `action-costs-${result.measuredAt.replace(/[:.]/g, '-')}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${renderTable(costs, operator)}\n\nResults: ${out}\n`);
  } finally {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await nativeConnection.close();
    await connection.close();
    await server.stop();
  }
}

/** A CLI context on this script's client, printing nothing (the figures come from the server). */
function cliContext(config: ReturnType<typeof loadConfig>, client: Client): CliContext {
  return {
    config: () => config,
    client: () => Promise.resolve(client),
    print: () => undefined,
    json: () => undefined,
    warn: (text) => log(`dlq: ${text}`),
    isTty: false,
    close: () => Promise.resolve(), // the script owns the connection
  };
}

function renderTable(costs: PathCost[], operator: OperatorCost[]): string {
  const fmt = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '–';
  const lines = [
    '| Path | Actions | From the history | Not in the history (metric) | Server metric | Events | Not billed, of note |',
    '| ---- | ------: | ---------------- | --------------------------- | ------------: | -----: | ------------------- |',
    ...costs.map(
      (c) =>
        `| ${c.path} (${c.status}) | **${c.total}** | ${fmt(c.history.byAction)} | ${fmt(c.notInHistory)} | ${c.metricTotal}${c.agrees ? '' : ' (does not agree)'} | ${c.history.events} | ${fmt(
          Object.fromEntries(
            Object.entries(c.history.free).filter(
              ([k]) => k in c.history.unlisted || k.includes('TemporalChangeVersion'),
            ),
          ),
        )} |`,
    ),
    '',
    '| Operator command | Actions | Metric by type |',
    '| ---------------- | ------: | -------------- |',
    ...operator.map((o) => `| ${o.command} | **${o.total}** | ${fmt(o.metric)} |`),
  ];
  return lines.join('\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
