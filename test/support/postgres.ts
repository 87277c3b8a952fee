/**
 * The real PostgreSQL of the outbox tests (PGHOST/PGPORT/PGUSER/PGPASSWORD, else postgres@127.0.0.1:5432;
 * `.ci/run` starts it when it does not answer): a database of its own per test file, dropped on `close`.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { postgresFromEnv } from '../../src/ops/production-server';
import { ensureOutboxTable } from '../../src/connectors/outbox';

export interface OutboxDb {
  /** postgres:// URL of the test database. */
  url: string;
  pool: pg.Pool;
  /** Creates an outbox table of its own (the shipped DDL) and answers its name. */
  table(label: string): Promise<string>;
  /** Inserts rows in one transaction, with a business row beside them, as a team would. */
  insert(
    table: string,
    rows: Array<{ id: string; topic: string; payload: string; headers?: Record<string, unknown> }>,
  ): Promise<void>;
  /** The outbox rows, by id. */
  rows(
    table: string,
  ): Promise<
    Map<string, { published_at: Date | null; note: string | null; attempts: number; next_attempt_at: Date }>
  >;
  close(): Promise<void>;
}

export async function openOutboxDb(label: string): Promise<OutboxDb> {
  const target = postgresFromEnv();
  const auth = target.password
    ? `${encodeURIComponent(target.user)}:${encodeURIComponent(target.password)}`
    : encodeURIComponent(target.user);
  const base = `postgres://${auth}@${target.host}:${target.port}`;
  const database = `dlqtest_${label}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect().catch((err: unknown) => {
    throw new Error(
      `PostgreSQL does not answer on ${target.host}:${target.port} (${String(err)}); .ci/run starts it, or set PGHOST/PGPORT`,
    );
  });
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  const url = `${base}/${database}`;
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    async table(name) {
      const table = `outbox_${name}_${randomUUID().slice(0, 8)}`;
      await ensureOutboxTable(url, table);
      await pool.query('CREATE TABLE IF NOT EXISTS business (id text PRIMARY KEY)');
      return table;
    },
    async insert(table, rows) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO business (id) SELECT unnest($1::text[])', [
          rows.map((r) => `${table}:${r.id}`),
        ]);
        await client.query(
          `INSERT INTO "${table}" (id, topic, payload, headers)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])`,
          [
            rows.map((r) => r.id),
            rows.map((r) => r.topic),
            rows.map((r) => r.payload),
            rows.map((r) => JSON.stringify(r.headers ?? {})),
          ],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async rows(table) {
      const { rows } = await pool.query<{
        id: string;
        published_at: Date | null;
        note: string | null;
        attempts: number;
        next_attempt_at: Date;
      }>(`SELECT id, published_at, note, attempts, next_attempt_at FROM "${table}"`);
      return new Map(rows.map(({ id, ...rest }) => [id, rest]));
    },
    async close() {
      await pool.end();
      const drop = new pg.Client({ connectionString: `${base}/postgres` });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await drop.end();
    },
  };
}
