/**
 * `dlq discard`: give up on one message or a whole selection, with a reason kept in the audit trail.
 * Bulk asks for confirmation unless `--yes`, and refuses without a terminal to ask on.
 */
import type { Command } from 'commander';
import { discardInputSchema } from '../../contract/operator-input';
import type { DiscardInput } from '../../contract/types';
import { formatIssues } from '../../contract/validation-issues';
import { discardSignal } from '../../contract/definitions';
import type { CliContext } from '../context';
import { UserError } from '../context';
import { addFilterOptions, buildQuery, hasSelector } from '../filters';
import type { FilterFlags } from '../filters';
import { countMessages, loadMessage, resolveWorkflowId } from '../messages';
import { confirm, operatorName, paint } from '../output';
import { DEFAULT_RATE, parsePositiveInt, parseRate } from '../pacing';
import { discardOne, runBulk } from '../bulk';
import { runServerSideBatch, SERVER_SIDE_RATE_REFUSED } from '../batch';

interface DiscardFlags extends Omit<FilterFlags, 'reason'> {
  reasonCode?: string;
  reason?: string;
  operator?: string;
  rate?: string;
  concurrency: string;
  yes?: boolean;
  serverSide?: boolean;
  json?: boolean;
}

function discardInput(flags: DiscardFlags): DiscardInput {
  const parsed = discardInputSchema.safeParse({
    reason: flags.reason,
    operator: operatorName(flags.operator),
  });
  if (!parsed.success)
    throw new UserError(
      `--reason ${formatIssues(parsed.error.issues)
        .map((p) => p.replace(/^reason: /, ''))
        .join('; ')}`,
    );
  return parsed.data;
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('discard')
    .description(
      'Discard one dead message, or all dead messages of a group/query, with a reason (kept as evidence)',
    )
    .argument('[id]', 'workflow id (msg:<topic>:<id>) or message id of a single message')
    .option('--reason <text>', 'why the message is discarded (required)')
    .option('--operator <name>', 'who: recorded in the audit trail (default: your OS user)');
  addFilterOptions(command, { withStatus: false, reasonFlag: '--reason-code' })
    .option(
      '--rate <rate>',
      'bulk: at most this many messages per second (default 20/s; not with --server-side)',
    )
    .option('--concurrency <n>', 'bulk: signals in flight at once', '8')
    .option('--server-side', "bulk: use Temporal's batch operation (counts, no per-message verdicts)")
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'machine output')
    .addHelpText(
      'after',
      '\nExamples:\n  dlq discard msg:orders:o-17 --reason "duplicate of o-16"\n  dlq discard --group 3f2a9c0d1e2b4a5c --reason "test traffic" --yes',
    )
    .action(async (id: string | undefined, flags: DiscardFlags) => {
      const { reason: _reason, reasonCode, ...rest } = flags;
      const filters: FilterFlags = { ...rest, ...(reasonCode !== undefined ? { reason: reasonCode } : {}) };
      const bulk = hasSelector({ ...filters, topic: id === undefined ? flags.topic : undefined });
      if (id !== undefined && bulk)
        throw new UserError('give a message id or bulk filters (--group, --query, …), not both');
      if (id === undefined && !bulk)
        throw new UserError('give a message id, or select messages with --group, --query or other filters');
      const input = discardInput(flags);
      // Validate every flag before connecting.
      const query = id === undefined ? buildQuery(filters, { forceStatus: 'dead' }) : '';
      if (flags.serverSide && flags.rate !== undefined) throw new UserError(SERVER_SIDE_RATE_REFUSED);
      const perSecond = parseRate(flags.rate ?? DEFAULT_RATE);
      const concurrency = parsePositiveInt('--concurrency', flags.concurrency, 256);
      const client = await ctx.client();
      if (id !== undefined) {
        const workflowId = await resolveWorkflowId(client, id, flags.topic);
        const verdict = await discardOne(client, workflowId, input);
        if (verdict.verdict === 'skipped') {
          const view = await loadMessage(client, workflowId);
          throw new UserError(`${workflowId} is ${view.status}, not dead: nothing to discard`);
        }
        if (verdict.verdict !== 'accepted')
          throw new UserError(`discard failed for ${workflowId}: ${(verdict.problems ?? []).join('; ')}`);
        if (flags.json) ctx.json(verdict);
        else
          ctx.print(
            `${paint(ctx, 'yellow', 'discard sent')} ${workflowId}: it ends as discarded, keeping its dead letter and audit trail.`,
          );
        return;
      }
      const count = await countMessages(client, query);
      if (count === 0) {
        if (flags.json)
          ctx.json({ query, selected: 0, accepted: 0, rejected: 0, skipped: 0, errors: 0, failures: [] });
        else ctx.print(`No dead messages match ${query}: nothing to discard.`);
        return;
      }
      await confirm(
        ctx,
        `Discard ${count} dead message(s) with reason ${JSON.stringify(input.reason)}?`,
        flags.yes,
      );
      if (flags.serverSide) {
        await runServerSideBatch(ctx, client, Boolean(flags.json), {
          query,
          signal: discardSignal.name,
          input,
          reason: input.reason,
          identity: input.operator ?? 'dlq',
        });
        return;
      }
      const report = await runBulk(ctx, client, {
        query,
        label: 'discard',
        perSecond,
        concurrency,
        showProgress: !flags.json,
        act: (row) => discardOne(client, row.workflowId, input),
      });
      if (flags.json) ctx.json(report);
      else {
        ctx.print(
          `${report.selected} selected: ${report.accepted} discarded, ${report.skipped} skipped (no longer dead), ${report.errors} errors`,
        );
        for (const f of report.failures)
          ctx.print(`  ${f.verdict} ${f.workflowId}: ${(f.problems ?? []).join('; ')}`);
      }
      if (report.errors > 0) throw new UserError(`${report.errors} discard(s) failed`);
    });
}
