/**
 * Bulk retry rate: the real CLI (`dlq retry --group <fp> --patch <file> --yes --json`) over the bench.bulk
 * failure group, with the rate limit raised out of the way, until visibility counts every message `recovered`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main';
import type { CliContext } from '../../src/cli/context';
import { loadConfig } from '../../src/config';
import { DlqFingerprint, DlqTopic } from '../../src/contract/search-attributes';
import { PARKED_QUERY, statusQuery } from '../../src/contract/queries';
import { BULK_PATCH, TOPIC_BULK } from '../handlers';
import { countWhere, withinVisibilityBudget } from '../context';
import type { BenchContext } from '../context';
import { round, until } from '../stats';

/** "No rate limit": far above anything the machine can do. */
const NO_RATE = '1000000/s';

export interface BulkRetry {
  group: string;
  selected: number;
  accepted: number;
  concurrency: number;
  /** Until the CLI returned (every repair accepted). */
  acceptedSeconds: number;
  /** Until visibility counted every message `recovered`. */
  recoveredSeconds: number;
  perSecond: number;
  exitCode: number;
  sampleIds: string[];
}

function benchCliContext(ctx: BenchContext, out: unknown[]): CliContext {
  return {
    config: () => loadConfig({ TEMPORAL_ADDRESS: ctx.address, LOG_LEVEL: 'silent' }),
    client: () => Promise.resolve(ctx.client),
    print: () => undefined,
    json: (value) => out.push(value),
    warn: (text) => ctx.log(`  dlq retry: ${text}`),
    isTty: false,
    close: () => Promise.resolve(), // the bench owns the connection
  };
}

export async function runBulkRetry(ctx: BenchContext): Promise<BulkRetry> {
  const dead = `${DlqTopic.name} = '${TOPIC_BULK}' AND ${PARKED_QUERY}`;
  const group = await withinVisibilityBudget(async () => {
    for await (const info of ctx.client.workflow.list({ query: dead, pageSize: 1 }))
      return info.typedSearchAttributes.get(DlqFingerprint);
    return undefined;
  });
  if (!group) throw new Error('bench: no parked bench.bulk message to retry');
  const patchFile = join(mkdtempSync(join(tmpdir(), 'dlq-bench-')), 'patch.json');
  writeFileSync(patchFile, JSON.stringify(BULK_PATCH));
  const out: unknown[] = [];
  const concurrency = ctx.options.bulkConcurrency;
  const argv = [
    'retry',
    '--group',
    group,
    '--patch',
    patchFile,
    '--rate',
    NO_RATE,
    '--concurrency',
    String(concurrency),
    '--reason',
    'bench',
    '--operator',
    'bench',
    '--yes',
    '--json',
  ];
  const t0 = Date.now();
  const exitCode = await runCli(argv, benchCliContext(ctx, out));
  const acceptedAt = Date.now();
  const report = (out[0] ?? {}) as { selected?: number; accepted?: number };
  const recovered = `${DlqFingerprint.name} = '${group}' AND ${statusQuery('recovered')}`;
  const expected = report.accepted ?? 0;
  await until(
    `${expected} recovered`,
    async () => (await countWhere(ctx.client, recovered)) >= expected,
    30 * 60_000,
    250,
  );
  const seconds = (Date.now() - t0) / 1000;
  const sampleIds = await withinVisibilityBudget(async () => {
    const ids: string[] = [];
    for await (const info of ctx.client.workflow.list({ query: recovered, pageSize: 10 })) {
      ids.push(info.workflowId);
      if (ids.length >= 5) break;
    }
    return ids;
  });
  return {
    group,
    selected: report.selected ?? 0,
    accepted: expected,
    concurrency,
    acceptedSeconds: round((acceptedAt - t0) / 1000, 2),
    recoveredSeconds: round(seconds, 2),
    perSecond: round(expected / seconds, 1),
    exitCode,
    sampleIds,
  };
}
