/**
 * A PostgreSQL database of its own for a test run (PGHOST/PGPORT/PGUSER/PGPASSWORD, else postgres on
 * 127.0.0.1:5432), created on open and dropped on `drop`.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export interface ScratchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function openScratchDatabase(label: string): Promise<ScratchDatabase> {
  const host = process.env.PGHOST ?? '127.0.0.1';
  const port = process.env.PGPORT ?? '5432';
  const user = process.env.PGUSER ?? 'postgres';
  const password = process.env.PGPASSWORD;
  const auth = password
    ? `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
    : encodeURIComponent(user);
  const name = `dlqtest_${label}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: `postgres://${auth}@${host}:${port}/postgres` });
  await admin.connect().catch((err: unknown) => {
    throw new Error(`PostgreSQL does not answer on ${host}:${port} (${String(err)}); .ci/run starts it`);
  });
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = `postgres://${auth}@${host}:${port}/${name}`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      const dropper = new pg.Client({ connectionString: `postgres://${auth}@${host}:${port}/postgres` });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
