/**
 * The PostgreSQL sink (seed 003): a `dead_letters` table kept in sync with the parked messages. A park event
 * inserts the row, or replaces it when the message parks again (a higher `park_count`); a resolution event
 * sets `resolved_at` and `resolution`. An event older than the row (a lower `park_count`, or a park event of
 * a parking already resolved) changes nothing, so retries and reordered deliveries are harmless.
 *
 * The table is created when missing (`deadLettersDdl`). `pg` is loaded on the first event.
 */
import type { Pool } from 'pg';
import type { MirrorEvent } from '../contract/mirror';
import type { EventSink } from './types';
import { messageOrigin } from './origin';

/** Options of the PostgreSQL sink. */
export interface PostgresSinkOptions {
  /** Connection string, e.g. `postgres://postgres@127.0.0.1:5432/app`. */
  connectionString: string;
  /** Table name, optionally schema-qualified (`[schema.]name`, lowercase). @defaultValue `"dead_letters"` */
  table?: string;
  /** Timeout of a connection attempt and of each statement, in milliseconds. @defaultValue `5000` */
  timeoutMs?: number;
}

/** `[schema.]name` in lowercase letters, digits and `_`: what the table option accepts. */
export const SQL_TABLE_PATTERN = /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/;

const quoted = (table: string) =>
  table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');

/** The table's DDL (idempotent). Column names follow seed 003 where it names one. */
export function deadLettersDdl(table: string): string {
  if (!SQL_TABLE_PATTERN.test(table)) throw new Error(`Invalid table name "${table}"`);
  const t = quoted(table);
  return `CREATE TABLE IF NOT EXISTS ${t} (
  workflow_id      text PRIMARY KEY,
  id               text NOT NULL,
  event_type       text NOT NULL,
  destination      text NOT NULL,
  reason_code      text NOT NULL,
  error_class      text NOT NULL,
  error_type       text NOT NULL,
  error_message    text NOT NULL,
  error_stack      text,
  attempts         integer NOT NULL,
  first_failed_at  timestamptz NOT NULL,
  last_failed_at   timestamptz NOT NULL,
  parked_at        timestamptz NOT NULL,
  stage            text NOT NULL,
  fingerprint      text NOT NULL,
  correlation_id   text,
  trace_id         text,
  source           text,
  original_subject text,
  stream_seq       bigint,
  headers          jsonb NOT NULL DEFAULT '{}',
  payload          jsonb,
  park_count       integer NOT NULL,
  resolved_at      timestamptz,
  resolution       text,
  resolution_reason text,
  resolved_by      text,
  updated_at       timestamptz NOT NULL DEFAULT now()
)`;
}

const COLUMNS = [
  'workflow_id',
  'id',
  'event_type',
  'destination',
  'reason_code',
  'error_class',
  'error_type',
  'error_message',
  'error_stack',
  'attempts',
  'first_failed_at',
  'last_failed_at',
  'parked_at',
  'stage',
  'fingerprint',
  'correlation_id',
  'trace_id',
  'source',
  'original_subject',
  'stream_seq',
  'headers',
  'payload',
  'park_count',
  'resolved_at',
  'resolution',
  'resolution_reason',
  'resolved_by',
] as const;

/** The upsert of one event; `$1…` follow `COLUMNS`. */
function upsertSql(table: string, resolution: boolean): string {
  const t = quoted(table);
  const updates = COLUMNS.filter((c) => c !== 'workflow_id')
    .map((c) => `${c} = EXCLUDED.${c}`)
    .concat('updated_at = now()')
    .join(', ');
  // A park event replaces only an older parking; a resolution event applies to its own parking or a newer one
  // than the row holds (its park event may not have arrived).
  const fresher = resolution
    ? `${t}.park_count <= EXCLUDED.park_count`
    : `${t}.park_count < EXCLUDED.park_count`;
  return `INSERT INTO ${t} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
ON CONFLICT (workflow_id) DO UPDATE SET ${updates} WHERE ${fresher}`;
}

function rowOf(event: MirrorEvent): unknown[] {
  const dl = event.deadLetter;
  const origin = messageOrigin(dl.source, dl.topic);
  const r = event.resolution;
  const values: Record<(typeof COLUMNS)[number], unknown> = {
    workflow_id: event.workflowId,
    id: dl.messageId,
    event_type: dl.topic,
    destination: dl.topic,
    reason_code: dl.reason,
    error_class: dl.errorClass,
    error_type: dl.errorType,
    error_message: dl.message,
    error_stack: dl.stack ?? null,
    attempts: dl.attempts,
    first_failed_at: dl.firstFailureAt,
    last_failed_at: dl.lastFailureAt,
    parked_at: dl.parkedAt,
    stage: dl.stage,
    fingerprint: dl.fingerprint,
    correlation_id: dl.correlationId ?? null,
    trace_id: dl.traceId ?? null,
    source: dl.source ?? null,
    original_subject: origin.subject,
    stream_seq: origin.streamSeq ?? null,
    headers: JSON.stringify(dl.headers ?? {}),
    payload: 'payload' in dl ? JSON.stringify(dl.payload ?? null) : null,
    park_count: event.parkCount,
    resolved_at: r?.at ?? null,
    resolution: r?.status ?? null,
    resolution_reason: r?.reason ?? null,
    resolved_by: r?.operator ?? null,
  };
  return COLUMNS.map((c) => values[c]);
}

export function createPostgresSink(options: PostgresSinkOptions): EventSink {
  const table = options.table ?? 'dead_letters';
  if (!SQL_TABLE_PATTERN.test(table))
    throw new Error(`Invalid table name "${table}": [schema.]name of lowercase letters, digits and _`);
  const timeout = options.timeoutMs ?? 5000;
  let ready: Promise<Pool> | undefined;

  const open = async () => {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: 2,
      connectionTimeoutMillis: timeout,
      statement_timeout: timeout,
      idleTimeoutMillis: 30_000,
    });
    // An idle client whose server went away must not crash the worker: the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await pool.query(deadLettersDdl(table));
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return pool;
  };

  return {
    async deliver(event: MirrorEvent) {
      const pool = await (ready ??= open().catch((err: unknown) => {
        ready = undefined;
        throw err;
      }));
      await pool.query(upsertSql(table, event.kind !== 'parked'), rowOf(event));
    },
    async close() {
      const current = ready;
      ready = undefined;
      if (current) await (await current.catch(() => undefined))?.end();
    },
  };
}
