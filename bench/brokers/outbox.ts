/** The ingestion phase's PostgreSQL outbox: a database of its own per run, dropped on close. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ensureOutboxTable } from '../../src/connectors/outbox';
import type { IngestionBroker } from '../phases/ingestion';

/** Rows per INSERT statement while loading. */
const INSERT_ROWS = 1000;

export async function outboxBroker(adminUrl: string): Promise<IngestionBroker> {
  const database = `bench_ingest_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect().catch((err: unknown) => {
    throw new Error(
      `bench: PostgreSQL does not answer at ${adminUrl} (${String(err)}); set BENCH_POSTGRES_URL`,
    );
  });
  await admin.query(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const connectionString = url.toString();
  let table = 0;
  return {
    kind: 'outbox',
    async load(n, topic, prefix) {
      const name = `dlq_outbox_${table++}`;
      await ensureOutboxTable(connectionString, name);
      const db = new pg.Client({ connectionString });
      await db.connect();
      try {
        for (let from = 0; from < n; from += INSERT_ROWS) {
          const ids: string[] = [];
          const payloads: string[] = [];
          for (let i = from; i < Math.min(n, from + INSERT_ROWS); i++) {
            ids.push(`${prefix}-${i}`);
            payloads.push(JSON.stringify({ i }));
          }
          await db.query(
            `INSERT INTO "${name}" (id, topic, payload) SELECT id, $3, payload FROM unnest($1::text[], $2::text[]) AS t(id, payload)`,
            [ids, payloads, topic],
          );
        }
      } finally {
        await db.end();
      }
      return { spec: { kind: 'outbox', connectionString, table: name } };
    },
    async close() {
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    },
  };
}
