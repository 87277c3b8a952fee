/**
 * Connection security: TLS, mTLS, CA, server name and API-key options built from config, the ConfigError
 * for missing files, and proof against the real (plaintext) dev server that TLS options are really applied.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { buildConnectionOptions } from '../src/security/connection';
import { ConfigError, loadConfig } from '../src/config';
import { requireEnv } from './helpers';

let dir: string;
let cert: string;
let key: string;
let ca: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlq-tls-'));
  cert = join(dir, 'client.pem');
  key = join(dir, 'client-key.pem');
  ca = join(dir, 'ca.pem');
  // A throwaway self-signed pair; only reading the files is under test here.
  for (const [out, keyOut] of [
    [cert, key],
    [ca, join(dir, 'ca-key.pem')],
  ] as const) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyOut,
        '-out',
        out,
        '-days',
        '1',
        '-subj',
        '/CN=dlq-test',
      ],
      { stdio: 'ignore' },
    );
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const build = (env: Record<string, string>) => buildConnectionOptions(loadConfig(env));

describe('buildConnectionOptions', () => {
  it('is plaintext by default', () => {
    const options = build({ TEMPORAL_ADDRESS: 'temporal.internal:7233' });
    assert.deepEqual(options, { address: 'temporal.internal:7233' });
  });

  it('turns TLS on without client certificates with TEMPORAL_TLS', () => {
    assert.deepEqual(build({ TEMPORAL_TLS: 'true' }).tls, {});
  });

  it('builds mTLS from the cert and key files, with the CA and the server name', () => {
    const options = build({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_TLS_CERT: cert,
      TEMPORAL_TLS_KEY: key,
      TEMPORAL_TLS_CA: ca,
      TEMPORAL_TLS_SERVER_NAME: 'ns.acct.tmprl.cloud',
    });
    assert.ok(options.tls && typeof options.tls === 'object');
    assert.deepEqual(options.tls.clientCertPair?.crt, readFileSync(cert));
    assert.deepEqual(options.tls.clientCertPair?.key, readFileSync(key));
    assert.deepEqual(options.tls.serverRootCACertificate, readFileSync(ca));
    assert.equal(options.tls.serverNameOverride, 'ns.acct.tmprl.cloud');
    assert.equal(options.apiKey, undefined);
  });

  it('a CA alone implies TLS', () => {
    const options = build({ TEMPORAL_TLS_CA: ca });
    assert.deepEqual(options.tls, { serverRootCACertificate: readFileSync(ca) });
  });

  it('an API key implies TLS and is passed as apiKey', () => {
    const options = build({
      TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
      TEMPORAL_API_KEY: 'key-123',
    });
    assert.equal(options.apiKey, 'key-123');
    assert.deepEqual(options.tls, {});
  });

  it('names the variable and the path of a missing file (ConfigError)', () => {
    for (const [variable, env] of [
      ['TEMPORAL_TLS_CERT', { TEMPORAL_TLS_CERT: join(dir, 'missing.pem'), TEMPORAL_TLS_KEY: key }],
      ['TEMPORAL_TLS_KEY', { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: join(dir, 'missing.pem') }],
      ['TEMPORAL_TLS_CA', { TEMPORAL_TLS_CA: join(dir, 'missing.pem') }],
    ] as const) {
      assert.throws(
        () => build(env),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.problems.length === 1 &&
          e.problems[0]!.startsWith(`${variable}=`) &&
          e.problems[0]!.includes('missing.pem') &&
          e.problems[0]!.includes('ENOENT'),
      );
    }
  });

  it('refuses a certificate without its key (and the reverse) at config load', () => {
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CERT: cert }), ConfigError);
    assert.throws(() => loadConfig({ TEMPORAL_TLS_KEY: key }), ConfigError);
  });

  it('never puts the API key into a config error', () => {
    assert.throws(
      () => build({ TEMPORAL_API_KEY: 'sekret-api-key', TEMPORAL_TLS_CA: join(dir, 'missing.pem') }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('sekret-api-key'),
    );
  });
});

describe('TLS options reach real connections', () => {
  it('a TLS client cannot talk to the plaintext dev server (client and worker connections)', async () => {
    const options = build({ TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'), TEMPORAL_TLS_CA: ca });
    await assert.rejects(Connection.connect({ ...options, connectTimeout: 3000 }));
    await assert.rejects(NativeConnection.connect(options));
    // The same address without TLS answers, so the refusal above came from TLS.
    const plain = await Connection.connect({ address: options.address, connectTimeout: 3000 });
    await plain.workflowService.getSystemInfo({});
    await plain.close();
  });
});
