/**
 * `dlq retry`: fix-and-retry one message through the validated `repair` update, or a whole failure
 * group / query with the same merge patch (bulk: rate-limited, resumable, one verdict per message).
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { retryInputSchema } from '../../contract/operator-input';
import type { RetryInput } from '../../contract/types';
import { formatIssues } from '../../contract/validation-issues';
import { DURATION_HINT, parseDuration } from '../../contract/duration';
import { repairedPayload } from '../../contract/merge-patch';
import { retrySignal } from '../../contract/definitions';
import type { CliContext } from '../context';
import { UserError } from '../context';
import { addFilterOptions, buildQuery, hasSelector } from '../filters';
import type { FilterFlags } from '../filters';
import { countMessages, listMessages, loadMessage, resolveWorkflowId } from '../messages';
import { confirm, operatorName, paint, readJsonFile } from '../output';
import { DEFAULT_RATE, parsePositiveInt, parseRate } from '../pacing';
import { repairOne, runBulk, WorkerPresence } from '../bulk';
import type { BulkReport, RepairOptions } from '../bulk';
import { jsonDiff } from '../diff';
import { runServerSideBatch, SERVER_SIDE_RATE_REFUSED } from '../batch';

interface RetryFlags extends Omit<FilterFlags, 'reason'> {
  reasonCode?: string;
  patch?: string;
  payload?: string;
  reason?: string;
  operator?: string;
  rate?: string;
  concurrency: string;
  dryRun?: boolean;
  sample: string;
  timeout: string;
  yes?: boolean;
  serverSide?: boolean;
  json?: boolean;
}

/** Default of `--timeout`: how long each repair waits for a worker's answer. */
export const DEFAULT_RETRY_TIMEOUT = '30s';
const MIN_TIMEOUT_MS = 1_000;
const MAX_TIMEOUT_MS = 10 * 60_000;

/** Parses `--timeout`: a duration from 1s to 10m. */
export function parseTimeout(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS)
    throw new UserError(`--timeout ${JSON.stringify(text)}: must be ${DURATION_HINT}, from 1s to 10m`);
  return ms;
}

/** Builds and validates the repair input from the flags, before anything is sent. */
async function repairInput(flags: RetryFlags): Promise<RetryInput> {
  if (flags.patch !== undefined && flags.payload !== undefined)
    throw new UserError('give either --patch or --payload, not both');
  const raw: Record<string, unknown> = { operator: operatorName(flags.operator) };
  if (flags.patch !== undefined) raw.patch = await readJsonFile('--patch', flags.patch);
  if (flags.payload !== undefined) raw.payload = await readJsonFile('--payload', flags.payload);
  if (flags.reason !== undefined) raw.reason = flags.reason;
  const parsed = retryInputSchema.safeParse(raw);
  if (!parsed.success)
    throw new UserError(
      `invalid repair:\n${formatIssues(parsed.error.issues)
        .map((p) => `  - ${p}`)
        .join('\n')}`,
    );
  return parsed.data;
}

async function retrySingle(
  ctx: CliContext,
  client: Client,
  workflowId: string,
  input: RetryInput,
  options: RepairOptions,
  json?: boolean,
) {
  const verdict = await repairOne(client, workflowId, input, options);
  if (json) ctx.json(verdict);
  if (verdict.verdict === 'accepted') {
    if (!json)
      ctx.print(
        verdict.note
          ? `${paint(ctx, 'green', 'accepted')} ${workflowId}: ${verdict.note}.`
          : `${paint(ctx, 'green', 'accepted')} ${workflowId}: retrying with payload v${verdict.payloadVersion ?? '?'}. Follow it with \`dlq show ${workflowId}\`.`,
      );
    return;
  }
  if (verdict.verdict === 'skipped') {
    // Tell apart an unknown id from a message that is not parked.
    const view = await loadMessage(client, workflowId);
    throw new UserError(`${workflowId} is ${view.status}, not dead: nothing to retry`);
  }
  throw new UserError(
    `repair ${verdict.verdict === 'rejected' ? 'rejected' : 'failed'} for ${workflowId}; nothing changed:\n${(verdict.problems ?? []).map((p) => `  - ${p}`).join('\n')}`,
  );
}

/**
 * Bulk `--dry-run`: every selected message gets the `repair` update with `dryRun: true`, so a worker checks
 * it as the real run would (the topic's schema included) and changes nothing; plus a diff of the first
 * payloads. Exit 1 when any would be rejected or could not be checked.
 */
async function dryRun(
  ctx: CliContext,
  client: Client,
  query: string,
  input: RetryInput,
  options: { sample: number; perSecond: number; concurrency: number; timeoutMs: number; json?: boolean },
) {
  const count = await countMessages(client, query);
  const previews: Array<{ workflowId: string; before: unknown; after: unknown; diff: string[] }> = [];
  for await (const row of listMessages(client, query, options.sample)) {
    const view = await loadMessage(client, row.workflowId);
    const before = view.payload;
    const after = repairedPayload(before, input);
    previews.push({ workflowId: row.workflowId, before, after, diff: jsonDiff(before, after) });
  }
  const workers = new WorkerPresence(client);
  const checked = await runBulk(ctx, client, {
    query,
    label: 'dry run',
    perSecond: options.perSecond,
    concurrency: options.concurrency,
    showProgress: !options.json,
    act: (row) =>
      repairOne(client, row.workflowId, input, {
        timeoutMs: options.timeoutMs,
        taskQueue: row.taskQueue,
        workers,
        dryRun: true,
      }),
  });
  const failed = () =>
    new UserError(
      `${checked.rejected} would be rejected and ${checked.errors} could not be checked; nothing was changed`,
    );
  if (options.json) {
    ctx.json({ dryRun: true, query, count, checked, previews });
    if (checked.rejected + checked.errors > 0) throw failed();
    return;
  }
  ctx.print(`Dry run: ${count} dead message(s) match ${query}`);
  ctx.print(
    `Checked by a worker, schema included: ${paint(ctx, 'green', `${checked.accepted} would be accepted`)}, ${checked.rejected ? paint(ctx, 'red', `${checked.rejected} would be rejected`) : '0 would be rejected'}, ${checked.skipped} skipped (no longer dead), ${checked.errors} not checked`,
  );
  printFailures(ctx, checked);
  ctx.print('Nothing was changed. The first payloads would become:');
  for (const p of previews) {
    ctx.print('');
    ctx.print(paint(ctx, 'bold', p.workflowId));
    for (const line of p.diff)
      ctx.print(
        line.startsWith('+')
          ? paint(ctx, 'green', line)
          : line.startsWith('-')
            ? paint(ctx, 'red', line)
            : line,
      );
  }
  if (checked.rejected + checked.errors > 0) throw failed();
}

function printReport(ctx: CliContext, report: BulkReport) {
  ctx.print(
    `${report.selected} selected: ${paint(ctx, 'green', `${report.accepted} accepted`)}, ${report.rejected ? paint(ctx, 'red', `${report.rejected} rejected`) : '0 rejected'}, ${report.skipped} skipped (no longer dead), ${report.errors} errors`,
  );
  printFailures(ctx, report);
}

/** The messages that were not accepted, with their reasons (at most 50; `--json` has all). */
function printFailures(ctx: CliContext, report: BulkReport) {
  for (const f of report.failures.slice(0, 50))
    ctx.print(`  ${f.verdict} ${f.workflowId}: ${(f.problems ?? []).join('; ')}`);
  if (report.failures.length > 50)
    ctx.print(`  … and ${report.failures.length - 50} more (use --json for all)`);
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('retry')
    .description(
      'Fix and retry: one message by id, or in bulk by --group/--query/filters (only dead messages; the same merge patch for each)',
    )
    .argument('[id]', 'workflow id (msg:<topic>:<id>) or message id of a single message')
    .option('--patch <file>', 'RFC 7386 JSON merge patch applied to the current payload')
    .option('--payload <file>', 'replacement payload (JSON), single message only')
    .option('--reason <text>', 'why: recorded in the audit trail')
    .option('--operator <name>', 'who: recorded in the audit trail (default: your OS user)');
  addFilterOptions(command, { withStatus: false, reasonFlag: '--reason-code' })
    .option(
      '--rate <rate>',
      'bulk: at most this many messages per second, e.g. 20/s or 600/m (default 20/s; not with --server-side)',
    )
    .option('--concurrency <n>', 'bulk: repairs in flight at once', '8')
    .option(
      '--timeout <duration>',
      'how long each repair waits for a worker to answer; past it the repair is refused and reported as not retried',
      DEFAULT_RETRY_TIMEOUT,
    )
    .option(
      '--dry-run',
      'bulk: have a worker check every repair (schema included) and print the verdicts, the count and a diff of the first payloads; change nothing',
    )
    .option('--sample <n>', 'bulk --dry-run: how many payload diffs to show', '3')
    .option(
      '--server-side',
      "bulk without a patch: use Temporal's batch operation (retry signal; counts, no per-message verdicts)",
    )
    .option('--yes', 'bulk: do not ask for confirmation')
    .option('--json', 'machine output')
    .addHelpText(
      'after',
      '\nExamples:\n  dlq retry msg:orders:o-17 --patch fix.json --reason "quantity was a string"\n  dlq retry --group 3f2a9c0d1e2b4a5c --patch fix.json --dry-run\n  dlq retry --group 3f2a9c0d1e2b4a5c --patch fix.json --rate 50/s --yes\nRunning a bulk retry again skips the messages that are no longer dead.',
    )
    .action(async (id: string | undefined, flags: RetryFlags) => {
      // With an id, --topic names the id's topic; any other filter means bulk.
      const { reason: _reason, reasonCode, ...rest } = flags;
      const filters: FilterFlags = { ...rest, ...(reasonCode !== undefined ? { reason: reasonCode } : {}) };
      const bulk = hasSelector({ ...filters, topic: id === undefined ? flags.topic : undefined });
      if (id !== undefined && bulk)
        throw new UserError('give a message id or bulk filters (--group, --query, …), not both');
      const input = await repairInput(flags);
      const timeoutMs = parseTimeout(flags.timeout);
      if (id !== undefined) {
        const client = await ctx.client();
        const workflowId = await resolveWorkflowId(client, id, flags.topic);
        await retrySingle(
          ctx,
          client,
          workflowId,
          input,
          { timeoutMs, workers: new WorkerPresence(client) },
          flags.json,
        );
        return;
      }
      if (!bulk)
        throw new UserError('give a message id, or select messages with --group, --query or other filters');
      if (input.payload !== undefined)
        throw new UserError('--payload replaces one payload; use --patch for bulk');
      if (flags.serverSide && flags.rate !== undefined) throw new UserError(SERVER_SIDE_RATE_REFUSED);
      const perSecond = parseRate(flags.rate ?? DEFAULT_RATE);
      const concurrency = parsePositiveInt('--concurrency', flags.concurrency, 256);
      const sample = parsePositiveInt('--sample', flags.sample, 50);
      // Only dead messages: a re-run skips everything already retried.
      const query = buildQuery(filters, { forceStatus: 'dead' });
      const client = await ctx.client();
      if (flags.dryRun) {
        await dryRun(ctx, client, query, input, {
          sample,
          perSecond,
          concurrency,
          timeoutMs,
          json: flags.json,
        });
        return;
      }
      const count = await countMessages(client, query);
      if (count === 0) {
        if (flags.json)
          ctx.json({ query, selected: 0, accepted: 0, rejected: 0, skipped: 0, errors: 0, failures: [] });
        else ctx.print(`No dead messages match ${query}: nothing to retry.`);
        return;
      }
      await confirm(ctx, `Retry ${count} dead message(s)${input.patch ? ' with the patch' : ''}?`, flags.yes);
      if (flags.serverSide) {
        if (input.patch !== undefined)
          throw new UserError(
            '--server-side sends one signal to all; it cannot give per-message verdicts for a patch. Drop --patch or --server-side.',
          );
        await runServerSideBatch(ctx, client, Boolean(flags.json), {
          query,
          signal: retrySignal.name,
          input,
          reason: input.reason ?? 'dlq retry --server-side',
          identity: input.operator ?? 'dlq',
        });
        return;
      }
      const workers = new WorkerPresence(client);
      const report = await runBulk(ctx, client, {
        query,
        label: 'retry',
        perSecond,
        concurrency,
        showProgress: !flags.json,
        act: (row) =>
          repairOne(client, row.workflowId, input, { timeoutMs, taskQueue: row.taskQueue, workers }),
      });
      if (flags.json) ctx.json(report);
      else printReport(ctx, report);
      if (report.rejected + report.errors > 0)
        throw new UserError(
          `${report.rejected} rejected and ${report.errors} failed; they stay dead (nothing changed for them)`,
        );
    });
}
