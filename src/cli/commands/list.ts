/** `dlq list`: parked (or any) messages matching the filters, as a table or JSON. */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { addFilterOptions, buildQuery } from '../filters';
import type { FilterFlags } from '../filters';
import { countMessages, listMessages, loadMessage } from '../messages';
import type { MessageRow } from '../messages';
import { age, short, table } from '../output';
import { mapOrdered, parsePositiveInt } from '../pacing';
import { uiBase, uiListUrl } from '../../web-ui-links';

interface ListFlags extends FilterFlags {
  limit: string;
  json?: boolean;
  errors: boolean;
}

/**
 * Adds the error message of a row parked before park memos (asks the workflow; blank when it cannot
 * answer). Rows with a memo already carry it, and rows never parked have none: neither is asked.
 */
async function withError(client: Client, row: MessageRow, asked: { n: number }): Promise<MessageRow> {
  if (row.error !== undefined || row.status === undefined) return row;
  asked.n++;
  try {
    const view = await loadMessage(client, row.workflowId);
    return view.deadLetter
      ? { ...row, error: view.deadLetter.message, errorType: view.deadLetter.errorType }
      : row;
  } catch {
    return row;
  }
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('list')
    .description(
      'List messages by status, class, reason, topic, failure group, age or a raw visibility query',
    );
  addFilterOptions(command, { withStatus: true })
    .option('--limit <n>', 'at most this many rows', '100')
    .option(
      '--no-errors',
      'never ask a workflow for its error message (only rows parked before park memos need it; they show none)',
    )
    .option('--json', 'machine output')
    .addHelpText(
      'after',
      "\nStatus defaults to dead. Examples:\n  dlq list --class validation --topic orders\n  dlq list --group 3f2a9c0d1e2b4a5c --older-than 2h\n  dlq list --status any --query 'DlqAttempts > 3'",
    )
    .action(async (flags: ListFlags) => {
      const limit = parsePositiveInt('--limit', flags.limit, 100_000);
      const query = buildQuery(flags, { defaultStatus: 'dead' });
      const client = await ctx.client();
      const total = await countMessages(client, query);
      const rows: MessageRow[] = [];
      const asked = { n: 0 };
      const listed = listMessages(client, query, limit);
      const source = flags.errors ? mapOrdered(listed, 16, (row) => withError(client, row, asked)) : listed;
      for await (const row of source) rows.push(row);
      if (flags.json) {
        ctx.json({ query, total, messages: rows, workflowQueries: asked.n });
        return;
      }
      if (rows.length === 0) {
        ctx.print(`No messages match ${query}`);
        return;
      }
      ctx.print(
        table(
          ctx,
          ['id', 'topic', 'status', 'class', 'reason', 'attempts', 'age', 'error'],
          rows.map((r) => [
            r.messageId ?? r.workflowId,
            r.topic ?? '',
            r.status ?? r.executionStatus.toLowerCase(),
            r.errorClass ?? '',
            r.reason ?? '',
            r.attempts ?? '',
            age(r.parkedAt),
            short(r.error, 50),
          ]),
        ),
      );
      const cfg = ctx.config();
      ctx.print(`${rows.length} shown of ${total} matching (counts are eventually consistent)`);
      if (asked.n > 0)
        ctx.print(
          `${asked.n} row(s) parked before park memos: their workflows were asked for the error (--no-errors skips that)`,
        );
      ctx.print(`Web UI: ${uiListUrl(uiBase(cfg), cfg.TEMPORAL_NAMESPACE, query)}`);
    });
}
