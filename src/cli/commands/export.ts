/**
 * `dlq export`: streams dead letters with their payloads as JSONL or CSV, in bounded memory: one page
 * of the listing and a small window of lookups at a time, written with backpressure. A parked message is
 * exported from its park memo (in the listing, no query); only one whose memo lacks the payload (too large
 * for the memo, or parked before memos) is asked with a `state` query. Closed messages are read from their
 * result (a history read, not a query).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Option } from 'commander';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify';
import type { CliContext } from '../context';
import { UserError } from '../context';
import { addFilterOptions, buildQuery } from '../filters';
import type { FilterFlags } from '../filters';
import { listMessages, loadMessage } from '../messages';
import type { MessageRow } from '../messages';
import { memoHasPayload } from '../park-memo';
import type { ParkMemo } from '../../contract/park-memo';
import { mapOrdered } from '../pacing';
import { progress } from '../output';
import type { DeadLetter } from '../../contract/types';

interface ExportFlags extends FilterFlags {
  format: 'jsonl' | 'csv';
  out?: string;
  queries: boolean;
  fromWorkflows?: boolean;
}

/** One exported record: a JSONL line. */
export interface ExportRecord {
  workflowId: string;
  status: string;
  /** `memo`: the park memo of the listing (no stack); `workflow`: the workflow's state or result. */
  from: 'memo' | 'workflow';
  /** Dead-letter fields the memo left out (see `src/contract/park-memo.ts`), when `from` is `memo`. */
  omitted?: string[];
  deadLetter?: Partial<DeadLetter>;
  /**
   * The payload shown by `dlq show`: a running message's current payload, a closed message's payload of its
   * last run (for outcomes recorded before that existed, the dead letter's). It differs from the dead
   * letter's after a repair.
   */
  payload?: unknown;
  /** The version of `payload`. */
  payloadVersion?: number;
}

/** CSV columns, in order. Nested values (payload, headers, details) are JSON text. */
export const CSV_COLUMNS = [
  'workflowId',
  'status',
  'topic',
  'messageId',
  'errorClass',
  'reason',
  'causeReason',
  'errorType',
  'message',
  'stage',
  'attempts',
  'parkCount',
  'firstFailureAt',
  'lastFailureAt',
  'parkedAt',
  'fingerprint',
  'payloadVersion',
  'correlationId',
  'traceId',
  'source',
  'workerIdentity',
  'expiresAt',
  'payload',
  'headers',
  'details',
  'from',
  'omitted',
] as const;

function csvRow(r: ExportRecord): Record<(typeof CSV_COLUMNS)[number], string | number | undefined> {
  const dl = r.deadLetter;
  const json = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));
  return {
    workflowId: r.workflowId,
    status: r.status,
    topic: dl?.topic,
    messageId: dl?.messageId,
    errorClass: dl?.errorClass,
    reason: dl?.reason,
    causeReason: dl?.causeReason,
    errorType: dl?.errorType,
    message: dl?.message,
    stage: dl?.stage,
    attempts: dl?.attempts,
    parkCount: dl?.parkCount,
    firstFailureAt: dl?.firstFailureAt,
    lastFailureAt: dl?.lastFailureAt,
    parkedAt: dl?.parkedAt,
    fingerprint: dl?.fingerprint,
    payloadVersion: r.payloadVersion ?? dl?.payloadVersion,
    correlationId: dl?.correlationId,
    traceId: dl?.traceId,
    source: dl?.source,
    workerIdentity: dl?.workerIdentity,
    expiresAt: dl?.expiresAt,
    payload: json(r.payload ?? dl?.payload),
    headers: json(dl?.headers),
    details: json(dl?.details),
    from: r.from,
    omitted: r.omitted?.join(' '),
  };
}

/** Writes one chunk, waiting for `drain` when the stream's buffer is full. */
async function write(stream: Writable, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('export')
    .description('Stream dead letters with their payloads as JSONL or CSV (default: every dead message)');
  addFilterOptions(command, { withStatus: true })
    .addOption(
      new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).makeOptionMandatory(),
    )
    .option('--out <file>', 'write to this file instead of stdout')
    .option(
      '--from-workflows',
      'ask every running workflow for its state (a query each) instead of reading park memos',
    )
    .option(
      '--no-queries',
      'never query a workflow: a parked message whose memo lacks the payload is exported without it',
    )
    .addHelpText(
      'after',
      '\nStatus defaults to dead. Examples:\n  dlq export --format jsonl --out dead.jsonl\n  dlq export --topic orders --format csv > orders.csv',
    )
    .action(async (flags: ExportFlags) => {
      if (flags.fromWorkflows && !flags.queries)
        throw new UserError('--from-workflows asks every workflow; it cannot be combined with --no-queries');
      const query = buildQuery(flags, { defaultStatus: 'dead' });
      const client = await ctx.client();
      const out: Writable = flags.out ? createWriteStream(flags.out) : process.stdout;
      if (flags.out) {
        try {
          await once(out, 'open');
        } catch (err) {
          throw new UserError(
            `--out ${flags.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          );
        }
      }
      const bar = progress(ctx, 'export', 0, Boolean(flags.out));
      const csv = flags.format === 'csv' ? stringify({ header: true, columns: [...CSV_COLUMNS] }) : undefined;
      const csvDone = csv
        ? new Promise<void>((resolve, reject) => {
            csv.on('error', reject);
            csv.on('end', resolve);
          })
        : undefined;
      csv?.pipe(out, { end: false });
      let count = 0;
      let queried = 0;
      const fromWorkflow = async (row: MessageRow): Promise<ExportRecord> => {
        if (row.executionStatus === 'RUNNING') queried++;
        const view = await loadMessage(client, row.workflowId);
        return {
          workflowId: view.workflowId,
          status: view.status,
          from: 'workflow',
          ...(view.deadLetter ? { deadLetter: view.deadLetter } : {}),
          ...(view.payload !== undefined
            ? { payload: view.payload, payloadVersion: view.payloadVersion }
            : {}),
        };
      };
      const fromMemo = (row: MessageRow, memo: ParkMemo): ExportRecord => {
        const dl = memo.deadLetter;
        return {
          workflowId: row.workflowId,
          status: 'dead',
          from: 'memo',
          omitted: memo.omitted,
          deadLetter: dl,
          ...(dl.payload !== undefined ? { payload: dl.payload, payloadVersion: dl.payloadVersion } : {}),
        };
      };
      const records = mapOrdered(listMessages(client, query), 8, async (row): Promise<ExportRecord> => {
        // A closed message is read from its result: a history read, not a query.
        if (row.executionStatus !== 'RUNNING') return fromWorkflow(row);
        const memo = row.parkMemo;
        const memoServes =
          !flags.fromWorkflows &&
          memo !== undefined &&
          row.status === 'dead' &&
          (memoHasPayload(memo) || !flags.queries);
        if (memoServes) return fromMemo(row, memo);
        if (flags.queries) return fromWorkflow(row);
        // --no-queries, and no memo to read (parked before memos, or not parked now).
        return {
          workflowId: row.workflowId,
          status: row.status ?? 'unknown',
          from: 'memo',
          omitted: ['dead-letter'],
        };
      });
      for await (const record of records) {
        count += 1;
        bar.setTotal(count);
        bar.increment();
        if (csv) {
          if (!csv.write(csvRow(record))) await once(csv, 'drain');
        } else await write(out, `${JSON.stringify(record)}\n`);
      }
      if (csv) {
        csv.end();
        await csvDone;
      }
      bar.stop();
      if (flags.out) {
        const closed = once(out, 'close');
        out.end();
        await closed;
      }
      ctx.warn(
        `exported ${count} message(s) matching ${query}${flags.out ? ` to ${flags.out}` : ''}; ${queried} workflow quer${queried === 1 ? 'y' : 'ies'}`,
      );
    });
}
