/**
 * The PostgreSQL transactional outbox: a team inserts a row into its outbox table in the same transaction as its
 * business write; this relay turns each row into a workflow under `runSource`'s contract (src/connectors/source.ts).
 *
 * A batch is one transaction: `SELECT … FOR UPDATE SKIP LOCKED LIMIT batch` claims due unpublished rows, each
 * row goes through `runSource` (publish, or park as a source reject), and one `COMMIT` marks the ones that were
 * started (or were duplicates, or were rejects) `published_at = now()` and gives the ones whose start failed
 * `attempts + 1` and a later `next_attempt_at`. Several relays side by side never claim the same row (SKIP
 * LOCKED). A relay killed between a start and its `COMMIT` leaves the row unpublished: the next claim publishes
 * it again, `publish` finds the workflow (its id is `msg:<topic>:<row id>`) and reports a duplicate, so nothing
 * starts twice. An insert trigger `NOTIFY`s the relay (`LISTEN`); polling every `pollEveryMs` is the fallback.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../client/publish';
import { messageWorkflowId } from '../contract/names';
import { SOURCE_REJECTS_TOPIC } from '../contract/source-rejects';
import type { SourceRejectPayload } from '../contract/source-rejects';
import { sourceEnvelope } from './source';
import type { Source, SourceMessage } from './source';

/** The default outbox table. */
export const DEFAULT_OUTBOX_TABLE = 'dlq_outbox';

/** An outbox table name: `name` or `schema.name`, each part a lower-case SQL identifier of up to 48 characters. */
export const OUTBOX_TABLE_PATTERN = /^([a-z_][a-z0-9_]{0,47}\.)?[a-z_][a-z0-9_]{0,47}$/;

/** Options of `outboxSource`. */
export interface OutboxSourceOptions {
  /** The database holding the outbox table, e.g. `postgres://app@db/orders`. */
  connectionString: string;
  /** The outbox table (`name` or `schema.name`, see {@link OUTBOX_TABLE_PATTERN}). @defaultValue `dlq_outbox` */
  table?: string;
  /** Rows claimed per transaction. @defaultValue `100` */
  batch?: number;
  /** How often the relay looks for due rows when no `NOTIFY` came (also picks up rows whose back-off ended). @defaultValue `5000` */
  pollEveryMs?: number;
  /** `LISTEN` for the insert trigger's `NOTIFY`; false where it is unavailable (e.g. a transaction-pooling proxy). @defaultValue `true` */
  listen?: boolean;
  /** Must equal `runSource`'s `maxPayloadBytes`: it decides which rows are marked as rejected. @defaultValue `262144` */
  maxPayloadBytes?: number;
  /** First wait before reconnecting to a database that is down; doubled per failure. @defaultValue `1000` */
  reconnectDelayMs?: number;
  /** Longest wait before reconnecting. @defaultValue `30000` */
  maxReconnectDelayMs?: number;
  /** Where the relay reports a database or LISTEN connection that is down, and a batch not committed. @defaultValue none (silent) */
  logger?: Logger;
}

/** The parts of a table name, checked against {@link OUTBOX_TABLE_PATTERN}. */
function tableParts(table: string): { schema: string | undefined; name: string; quoted: string } {
  if (!OUTBOX_TABLE_PATTERN.test(table))
    throw new TypeError(
      `outbox table "${table}" is not name or schema.name of lower-case letters, digits and _ (up to 48 each)`,
    );
  const [first, second] = table.split('.') as [string, string | undefined];
  const schema = second === undefined ? undefined : first;
  const name = second ?? first;
  return { schema, name, quoted: schema ? `"${schema}"."${name}"` : `"${name}"` };
}

/** The `NOTIFY` channel of an outbox table: its name without the schema. */
export function outboxChannel(table: string = DEFAULT_OUTBOX_TABLE): string {
  return tableParts(table).name;
}

/**
 * The DDL of an outbox table: the table, a partial index of the unpublished rows, and the insert trigger that
 * `NOTIFY`s the relay once per statement (delivered at `COMMIT`, so the relay wakes when the rows are visible).
 * `payload` is `text`, not `jsonb`: a row whose payload is not JSON can still be written (the business
 * transaction never fails for it) and parks as `SOURCE_NOT_JSON` with its raw body. Idempotent.
 */
export function outboxDdl(table: string = DEFAULT_OUTBOX_TABLE): string {
  const { schema, name, quoted } = tableParts(table);
  const fn = schema ? `"${schema}"."${name}_notify"` : `"${name}_notify"`;
  return `CREATE TABLE IF NOT EXISTS ${quoted} (
  id              text PRIMARY KEY,                    -- the message id: 1-200 of A-Z a-z 0-9 . _ : -
  topic           text NOT NULL,                       -- the handler's topic
  payload         text NOT NULL,                       -- JSON text
  headers         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"name": "value"}
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz,                         -- set by the relay once a workflow holds the row
  attempts        integer NOT NULL DEFAULT 0,          -- failed starts so far
  next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- back-off after a failed start
  note            text                                 -- 'rejected: <reason> …' for a row parked as a source reject
);
CREATE INDEX IF NOT EXISTS "${name}_unpublished" ON ${quoted} (next_attempt_at) WHERE published_at IS NULL;
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${name}', '');
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER "${name}_notify" AFTER INSERT ON ${quoted}
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
`;
}

/** The DDL of the default table `dlq_outbox`. */
export const OUTBOX_DDL = outboxDdl();

/** Creates the outbox table, its index and its trigger when missing (one transaction). */
export async function ensureOutboxTable(
  connectionString: string,
  table: string = DEFAULT_OUTBOX_TABLE,
): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query('BEGIN');
    // Two relays creating the same table at once would race on the function and trigger.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`temporal-dlq outbox ${table}`]);
    await client.query(outboxDdl(table));
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}

/** The message id of a row that has no usable id of its own (it parks under this one). */
export function outboxFallbackId(table: string, id: string): string {
  return `outbox-${createHash('sha256').update(`${table}\n${id}`).digest('hex').slice(0, 40)}`;
}

interface OutboxRow {
  id: string;
  topic: string;
  payload: string;
  headers: unknown;
  attempts: number;
}

/** What became of one claimed row, decided by `runSource` (ack or retryLater). */
type RowFate = { published: true; note: string | null } | { published: false; retryDelayMs?: number };

/** The row's headers as strings: non-string values are JSON-encoded; a value that is not an object gives none. */
function headerStrings(headers: unknown): Record<string, string> {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) return {};
  return Object.fromEntries(
    Object.entries(headers as Record<string, unknown>).map(([k, v]) => [
      k,
      typeof v === 'string' ? v : JSON.stringify(v),
    ]),
  );
}

/** Resolves after `ms`, on abort, or when `poke` is called (whichever first). */
class Waker {
  private poked = false;
  private wake: (() => void) | undefined;
  poke(): void {
    this.poked = true;
    this.wake?.();
  }
  /** Forgets earlier pokes: called just before a claim, which sees every row committed until then. */
  reset(): void {
    this.poked = false;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (this.poked || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}

/**
 * The outbox relay as a `Source`: run it with `runSource(client, outboxSource(…), { maxPayloadBytes, … })`.
 * Rows left unpublished by a failed start come back after their back-off (`next_attempt_at`); rows that cannot
 * become an envelope park on `dlq.source-rejected` and are marked published with a `note`. A database that is
 * down is retried with a growing delay and logged; nothing is lost meanwhile (the rows wait in the table).
 */
export function outboxSource(options: OutboxSourceOptions): Source {
  const table = options.table ?? DEFAULT_OUTBOX_TABLE;
  const { quoted, name } = tableParts(table);
  const batchSize = Math.max(1, options.batch ?? 100);
  const pollEveryMs = Math.max(10, options.pollEveryMs ?? 5000);
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const reconnectDelayMs = options.reconnectDelayMs ?? 1000;
  const maxReconnectDelayMs = options.maxReconnectDelayMs ?? 30_000;
  const log = options.logger;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: 2,
    connectionTimeoutMillis: 10_000,
  });
  // An idle pooled connection that breaks (database restarted) must not crash the process.
  pool.on('error', (err) => log?.warn({ err: String(err) }, 'Outbox database connection lost'));
  const waker = new Waker();
  let listener: pg.Client | undefined;
  let closed = false;
  const backoff = (failures: number) =>
    Math.min(maxReconnectDelayMs, reconnectDelayMs * 2 ** Math.max(0, failures - 1));

  const listen = async (signal: AbortSignal): Promise<void> => {
    let failures = 0;
    while (!closed && !signal.aborted) {
      const client = new pg.Client({ connectionString: options.connectionString });
      const lost = new Promise<unknown>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(new Error('connection ended')));
      });
      // Stopping ends the connection wherever it is (connecting, listening), which ends this loop.
      const stop = () => void client.end().catch(() => undefined);
      signal.addEventListener('abort', stop, { once: true });
      try {
        await client.connect();
        client.on('notification', () => waker.poke());
        await client.query(`LISTEN "${name}"`);
        listener = client;
        if (failures > 0) log?.info({ table }, 'Outbox LISTEN connection back');
        failures = 0;
        // Rows committed while nobody listened are picked up by the next claim.
        waker.poke();
        const err = await lost;
        if (closed || signal.aborted) return;
        log?.warn({ table, err: String(err) }, 'Outbox LISTEN connection lost; polling meanwhile');
      } catch (err) {
        if (closed || signal.aborted) return;
        failures++;
        log?.warn(
          { table, err: String(err), retryInMs: backoff(failures) },
          'Outbox LISTEN unavailable; polling meanwhile',
        );
      } finally {
        signal.removeEventListener('abort', stop);
        listener = undefined;
        await client.end().catch(() => undefined);
      }
      await new Waker().sleep(backoff(Math.max(1, failures)), signal);
    }
  };

  /** Claims a batch and answers its rows and the open transaction's client. */
  const claim = async (): Promise<{
    client: pg.PoolClient;
    rows: OutboxRow[];
    onError: (e: unknown) => void;
  }> => {
    const client = await pool.connect();
    // A checked-out client whose connection breaks emits 'error'; without a listener that would crash us.
    const onError = (err: unknown) =>
      log?.warn({ err: String(err) }, 'Outbox database connection lost mid-batch');
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(
        `SELECT id, topic, payload, headers, attempts FROM ${quoted}
          WHERE published_at IS NULL AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      return { client, rows, onError };
    } catch (err) {
      client.off('error', onError);
      client.release(err instanceof Error ? err : true);
      throw err;
    }
  };

  /** Marks the settled rows in the batch's transaction and commits it. Answers false when that failed. */
  const finish = async (
    client: pg.PoolClient,
    fates: Map<string, RowFate>,
    onError: (e: unknown) => void,
  ): Promise<boolean> => {
    const published = [...fates].filter(([, f]) => f.published) as Array<[string, { note: string | null }]>;
    const retried = [...fates].filter(
      (entry): entry is [string, { published: false; retryDelayMs: number }] =>
        !entry[1].published && entry[1].retryDelayMs !== undefined,
    );
    let failure: unknown;
    try {
      if (published.length)
        await client.query(
          `UPDATE ${quoted} AS o SET published_at = clock_timestamp(), note = u.note
             FROM unnest($1::text[], $2::text[]) AS u(id, note) WHERE o.id = u.id`,
          [published.map(([id]) => id), published.map(([, f]) => f.note)],
        );
      if (retried.length)
        await client.query(
          `UPDATE ${quoted} AS o SET attempts = o.attempts + 1,
                  next_attempt_at = now() + u.delay_ms * interval '1 millisecond'
             FROM unnest($1::text[], $2::int[]) AS u(id, delay_ms) WHERE o.id = u.id`,
          [retried.map(([id]) => id), retried.map(([, f]) => f.retryDelayMs)],
        );
      await client.query('COMMIT');
    } catch (err) {
      failure = err;
      await client.query('ROLLBACK').catch(() => undefined);
    } finally {
      client.off('error', onError);
      client.release(failure instanceof Error ? failure : undefined);
    }
    if (failure !== undefined)
      // The started workflows stay started; their rows are claimed again and found as duplicates.
      log?.warn(
        { table, rows: fates.size, err: failure instanceof Error ? failure.message : 'unknown' },
        'Outbox batch not committed; its rows will be claimed again',
      );
    return failure === undefined;
  };

  const toMessage = (
    row: OutboxRow,
    settled: (fate: RowFate) => void,
    signal: AbortSignal,
  ): SourceMessage => {
    const message: SourceMessage = {
      body: Buffer.from(row.payload, 'utf8'),
      headers: headerStrings(row.headers),
      topic: row.topic,
      brokerId: row.id,
      fallbackId: outboxFallbackId(table, row.id),
      origin: `outbox:${table} ${row.id.slice(0, 150)}`,
      deliveryCount: row.attempts + 1,
      ack: () => {
        // Marked in the batch's COMMIT; a reject is noted with its reason and the workflow that holds it.
        const input = sourceEnvelope(message, maxPayloadBytes);
        const note =
          input.topic === SOURCE_REJECTS_TOPIC && row.topic !== SOURCE_REJECTS_TOPIC
            ? `rejected: ${(input.payload as SourceRejectPayload).reason} (parked as ${messageWorkflowId(input.topic, input.id)})`
            : null;
        settled({ published: true, note });
        return Promise.resolve();
      },
      retryLater: (delayMs) =>
        // Taken but never started because the relay is stopping: left as it was.
        settled(
          signal.aborted && delayMs === 0
            ? { published: false }
            : { published: false, retryDelayMs: delayMs },
        ),
    };
    return message;
  };

  return {
    name: `outbox ${table}`,
    async *messages(signal: AbortSignal) {
      const listening = options.listen === false ? undefined : listen(signal);
      let failures = 0;
      try {
        while (!signal.aborted) {
          waker.reset();
          let batch: Awaited<ReturnType<typeof claim>>;
          try {
            batch = await claim();
            if (failures > 0) log?.info({ table, failures }, 'Outbox database reachable again');
            failures = 0;
          } catch (err) {
            failures++;
            log?.warn(
              { table, err: String(err), failures, retryInMs: backoff(failures) },
              'Outbox database unavailable; retrying',
            );
            await new Waker().sleep(backoff(failures), signal);
            continue;
          }
          let finished = false;
          try {
            const fates = new Map<string, RowFate>();
            let open = 0;
            let handedOver = false;
            let allSettled: () => void = () => undefined;
            const settledAll = new Promise<void>((resolve) => (allSettled = resolve));
            for (const row of batch.rows) {
              // Claimed rows not handed over (the relay is stopping) stay unpublished, untouched.
              if (signal.aborted) break;
              open++;
              yield toMessage(
                row,
                (fate) => {
                  if (fates.has(row.id)) return;
                  fates.set(row.id, fate);
                  if (fates.size === open && handedOver) allSettled();
                },
                signal,
              );
            }
            handedOver = true;
            if (fates.size === open) allSettled();
            await settledAll;
            finished = true;
            await finish(batch.client, fates, batch.onError);
          } finally {
            // Left mid-batch (the consumer stopped iterating): drop the connection, PostgreSQL rolls back.
            if (!finished) {
              batch.client.off('error', batch.onError);
              batch.client.release(new Error('outbox relay stopped mid-batch'));
            }
          }
          if (batch.rows.length < batchSize) await waker.sleep(pollEveryMs, signal);
        }
      } finally {
        listener?.removeAllListeners('notification');
        await listener?.end().catch(() => undefined);
        await listening;
      }
    },
    async close() {
      closed = true;
      await listener?.end().catch(() => undefined);
      await pool.end();
    },
  };
}
