/**
 * `dlq export`: streams dead letters with their payloads as JSONL or CSV, in bounded memory: one page
 * of the listing and a small window of state lookups at a time, written with backpressure.
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
import { mapOrdered } from '../pacing';
import { progress } from '../output';
import type { DeadLetter } from '../../shared/types';

interface ExportFlags extends FilterFlags {
  format: 'jsonl' | 'csv';
  out?: string;
}

/** One exported record: a JSONL line. */
export interface ExportRecord {
  workflowId: string;
  status: string;
  deadLetter?: DeadLetter;
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
    .addHelpText(
      'after',
      '\nStatus defaults to dead. Examples:\n  dlq export --format jsonl --out dead.jsonl\n  dlq export --topic orders --format csv > orders.csv',
    )
    .action(async (flags: ExportFlags) => {
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
      const records = mapOrdered(listMessages(client, query), 8, async (row): Promise<ExportRecord> => {
        const view = await loadMessage(client, row.workflowId);
        return {
          workflowId: view.workflowId,
          status: view.status,
          ...(view.deadLetter ? { deadLetter: view.deadLetter } : {}),
          ...(view.payload !== undefined
            ? { payload: view.payload, payloadVersion: view.payloadVersion }
            : {}),
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
      ctx.warn(`exported ${count} message(s) matching ${query}${flags.out ? ` to ${flags.out}` : ''}`);
    });
}
