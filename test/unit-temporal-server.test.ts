/**
 * The production tier's prerequisites without a server: how the server binaries are found (overrides, the
 * cache beside the CLI) and what the PostgreSQL check says against fake peers on loopback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cachedServerBinaries,
  findTemporalServer,
  TemporalServerUnavailableError,
} from '../src/ops/temporal-server';
import { checkPostgres, postgresFromEnv } from '../src/ops/production-server';

describe('Temporal server binaries resolution', () => {
  it('prefers TEMPORAL_SERVER_BIN / TEMPORAL_SQL_TOOL_BIN, then the cache beside the CLI; a missing override is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'server-bin-'));
    const cacheHome = join(dir, 'cache');
    const base = { PATH: '', XDG_CACHE_HOME: cacheHome };
    const cached = cachedServerBinaries(base);
    assert.deepEqual(cached, {
      server: join(cacheHome, 'temporal-dlq', 'temporal-1.5.1', 'server'),
      sqlTool: join(cacheHome, 'temporal-dlq', 'temporal-1.5.1', 'sql'),
    });
    assert.deepEqual(findTemporalServer(base), {});
    mkdirSync(join(cached.server, '..'), { recursive: true });
    writeFileSync(cached.server, '');
    assert.deepEqual(findTemporalServer(base), { server: cached.server });
    const own = join(dir, 'temporal-sql-tool');
    writeFileSync(own, '');
    assert.deepEqual(findTemporalServer({ ...base, TEMPORAL_SQL_TOOL_BIN: own }), {
      server: cached.server,
      sqlTool: own,
    });
    assert.throws(
      () => findTemporalServer({ ...base, TEMPORAL_SERVER_BIN: '/nope/server' }),
      (err: unknown) =>
        err instanceof TemporalServerUnavailableError &&
        /TEMPORAL_SERVER_BIN=\/nope\/server does not exist/.test(err.message) &&
        /TEMPORAL_SQL_TOOL_BIN/.test(err.message) &&
        /go install .*go\.temporal\.io\/server\/cmd\/server@v1\.29\.1/.test(err.message),
    );
  });
});

/** A loopback peer that answers each connection with `reply`; returns its port and a close function. */
async function fakePeer(
  reply: (socket: Socket) => void,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((socket) => socket.once('data', () => reply(socket)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One backend message: a type byte, its length, its body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

describe('PostgreSQL check', () => {
  it('reads PGHOST/PGPORT/PGUSER/PGPASSWORD, else postgres@127.0.0.1:5432', () => {
    assert.deepEqual(postgresFromEnv({}), { host: '127.0.0.1', port: 5432, user: 'postgres' });
    assert.deepEqual(
      postgresFromEnv({ PGHOST: 'db.local', PGPORT: '6543', PGUSER: 'temporal', PGPASSWORD: 'x' }),
      { host: 'db.local', port: 6543, user: 'temporal', password: 'x' },
    );
    // A socket directory is not a TCP host.
    assert.equal(postgresFromEnv({ PGHOST: '/var/run/postgresql' }).host, '127.0.0.1');
  });

  it('answers only after the session is ready, and says why not otherwise', async () => {
    const ok = await fakePeer((s) =>
      s.write(Buffer.concat([message('R', int32(0)), message('Z', Buffer.from('I'))])),
    );
    const noRole = await fakePeer((s) =>
      s.write(
        Buffer.concat([
          message('R', int32(0)),
          message('E', Buffer.from('SFATAL\0C28000\0Mrole "nobody" does not exist\0\0')),
        ]),
      ),
    );
    const password = await fakePeer((s) => s.write(message('R', int32(10))));
    const other = await fakePeer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const closed = await fakePeer(() => undefined);
    await closed.close();
    try {
      const at = (port: number, extra = {}) => ({ host: '127.0.0.1', port, user: 'postgres', ...extra });
      assert.equal(await checkPostgres(at(ok.port)), undefined);
      assert.match(
        (await checkPostgres(at(noRole.port)))!,
        /refused the connection: role "nobody" does not exist/,
      );
      assert.match((await checkPostgres(at(password.port)))!, /asks for a password .*PGPASSWORD is not set/);
      assert.equal(await checkPostgres(at(password.port, { password: 'x' })), undefined);
      assert.match((await checkPostgres(at(other.port)))!, /answered, but not as PostgreSQL does/);
      assert.match(
        (await checkPostgres(at(closed.port)))!,
        /no PostgreSQL at postgres@127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      );
    } finally {
      await Promise.all([ok.close(), noRole.close(), password.close(), other.close()]);
    }
  });
});
