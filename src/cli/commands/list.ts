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
import { uiListUrl } from '../../ui-links';
import { uiBase } from '../links';

interface ListFlags extends FilterFlags {
  limit: string;
  json?: boolean;
  errors: boolean;
}

interface ListedMessage extends MessageRow {
  error?: string;
}

/** Adds the dead letter's error message (asks the workflow; blank when it cannot answer). */
async function withError(client: Client, row: MessageRow): Promise<ListedMessage> {
  try {
    const view = await loadMessage(client, row.workflowId);
    return view.deadLetter ? { ...row, error: view.deadLetter.message } : row;
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
    .option('--no-errors', 'do not ask each workflow for its error message (faster)')
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
      const rows: ListedMessage[] = [];
      const listed = listMessages(client, query, limit);
      const source = flags.errors ? mapOrdered(listed, 16, (row) => withError(client, row)) : listed;
      for await (const row of source) rows.push(row);
      if (flags.json) {
        ctx.json({ query, total, messages: rows });
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
      ctx.print(`Web UI: ${uiListUrl(uiBase(cfg), cfg.TEMPORAL_NAMESPACE, query)}`);
    });
}
