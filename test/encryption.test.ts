/**
 * Payload encryption: the AES-256-GCM codec and its key ring, the shared data converter, the raw history on a
 * real server holding no plaintext, and the codec server (decode, CORS, bearer token).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { payloadToJSON } from '@temporalio/common/lib/proto-utils';
import type { JSONPayload } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { openTestEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import {
  AesGcmCodec,
  CIPHER_METADATA,
  DecryptionError,
  ENCRYPTED_ENCODING,
  EncryptionKeyError,
  KEY_ID_METADATA,
  parseKeyRing,
} from '../src/security/encryption';
import { codecFromConfig, dataConverterFromConfig, encryptionEnabled } from '../src/security/data-converter';
import { codecOrigins, startCodecServer } from '../src/security/codec-server';
import type { CodecServer } from '../src/security/codec-server';
import { ConfigError, loadConfig } from '../src/config';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';
import { PARK_MEMO_KEY } from '../src/contract/park-memo';
import type { ParkMemo } from '../src/contract/park-memo';

const newKey = () => randomBytes(32).toString('base64');
const utf8 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);

describe('key ring', () => {
  it('takes id:base64 entries, the first active; comments and newlines allowed', () => {
    const [a, b] = [newKey(), newKey()];
    const ring = parseKeyRing(`# keys\nnew-2:${a}\nold.1:${b} # rotated out\n`);
    assert.deepEqual(
      ring.map((k) => k.id),
      ['new-2', 'old.1'],
    );
    assert.equal(new AesGcmCodec(ring).activeKeyId, 'new-2');
  });

  it('names every bad entry and never echoes key material', () => {
    const short = Buffer.from('too short').toString('base64');
    const good = newKey();
    const err = (() => {
      try {
        parseKeyRing(`k1:${short},bad id:${good},k2:${good},k2:${good},nocolon`);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof EncryptionKeyError);
    assert.equal(err.problems.length, 4);
    assert.ok(!err.message.includes(short) && !err.message.includes(good));
    assert.throws(() => parseKeyRing(' , '), EncryptionKeyError);
  });
});

describe('AES-256-GCM codec', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32) };

  it('round-trips payloads with metadata, and stores the key id and cipher in the metadata', async () => {
    const codec = new AesGcmCodec([k1]);
    const original = toPayload({ card: '4111 1111 1111 1111' });
    const [sealed] = await codec.encode([original]);
    assert.equal(utf8(sealed!.metadata!.encoding), ENCRYPTED_ENCODING);
    assert.equal(utf8(sealed!.metadata![KEY_ID_METADATA]), 'k1');
    assert.equal(utf8(sealed!.metadata![CIPHER_METADATA]), 'AES-256-GCM');
    assert.ok(!utf8(sealed!.data).includes('4111'));
    const [opened] = await codec.decode([sealed!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), { card: '4111 1111 1111 1111' });
    assert.equal(utf8(opened!.metadata!.encoding), 'json/plain');
  });

  it('rotates: a new active key still decrypts payloads of the old one; a removed key fails clearly', async () => {
    const [old] = await new AesGcmCodec([k1]).encode([toPayload('old secret')]);
    const rotated = new AesGcmCodec([k2, k1]);
    assert.equal(defaultPayloadConverter.fromPayload((await rotated.decode([old!]))[0]!), 'old secret');
    const [fresh] = await rotated.encode([toPayload('new secret')]);
    assert.equal(utf8(fresh!.metadata![KEY_ID_METADATA]), 'k2');
    await assert.rejects(new AesGcmCodec([k2]).decode([old!]), DecryptionError);
  });

  it('refuses tampered bytes and passes unencrypted payloads through', async () => {
    const codec = new AesGcmCodec([k1]);
    const [sealed] = await codec.encode([toPayload('x')]);
    const data = Buffer.from(sealed!.data!);
    data[data.length - 20]! ^= 1;
    await assert.rejects(codec.decode([{ ...sealed!, data }]), DecryptionError);
    const forged = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k9') } };
    await assert.rejects(codec.decode([forged]), /k9/);
    const plain = toPayload('from before encryption');
    assert.deepEqual(await codec.decode([plain]), [plain]);
  });
});

describe('shared data converter', () => {
  it('is off by default and memoised per key configuration', () => {
    const off = loadConfig({});
    assert.equal(encryptionEnabled(off), false);
    assert.deepEqual(dataConverterFromConfig(off), {});
    const keys = `k1:${newKey()}`;
    const on = loadConfig({ DLQ_ENCRYPTION_KEYS: keys });
    const a = dataConverterFromConfig(on);
    assert.equal(a, dataConverterFromConfig(loadConfig({ DLQ_ENCRYPTION_KEYS: keys })));
    assert.equal(a.payloadCodecs?.[0], codecFromConfig(on));
  });

  it('reads a keys file, and reports a missing file or both settings as ConfigError without the keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlq-keys-'));
    const file = join(dir, 'keys');
    const key = newKey();
    writeFileSync(file, `# active first\nfile-key:${key}\n`);
    assert.equal(codecFromConfig(loadConfig({ DLQ_ENCRYPTION_KEYS_FILE: file }))?.activeKeyId, 'file-key');
    assert.throws(
      () => dataConverterFromConfig(loadConfig({ DLQ_ENCRYPTION_KEYS_FILE: join(dir, 'nope') })),
      (e: unknown) => e instanceof ConfigError && /ENOENT/.test(e.message),
    );
    assert.throws(
      () => dataConverterFromConfig({ DLQ_ENCRYPTION_KEYS: `a:${key}`, DLQ_ENCRYPTION_KEYS_FILE: file }),
      ConfigError,
    );
    assert.throws(
      () => dataConverterFromConfig({ DLQ_ENCRYPTION_KEYS: 'a:c2hvcnQ=' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('c2hvcnQ='),
    );
  });
});

describe('encryption against the real server, and the codec server', () => {
  let env: TestEnv;
  let server: CodecServer;
  const keys = `active:${newKey()},previous:${newKey()}`;
  const config = loadConfig({ DLQ_ENCRYPTION_KEYS: keys });
  const token = `t-${uid()}${uid()}`;
  const origin = 'http://localhost:8233';
  const secret = `PLAINTEXT-SECRET-${uid()}`;
  const headerSecret = `HEADER-SECRET-${uid()}`;
  // A handler that (against the advice) puts payload data into its error message.
  const failureSecret = `FAILURE-SECRET-${uid()}`;
  let workflowId: string;
  let startPayload: JSONPayload;

  before(async () => {
    env = await openTestEnv();
    await env.startWorker(
      [
        ...(['local', 'activity'] as const).map((firstAttempt) =>
          defineHandler({
            topic: firstAttempt === 'local' ? 'enc-parks' : 'enc-parks-activity',
            firstAttempt,
            handle: () => {
              throw new PermanentError(`customer ${failureSecret} not found`, { reason: 'HTTP_404' });
            },
          }),
        ),
      ],
      { DLQ_ENCRYPTION_KEYS: keys },
    );
    server = await startCodecServer({
      codec: codecFromConfig(config)!,
      port: 0,
      token,
      allowedOrigins: codecOrigins({ ...config, DLQ_UI_PORT: 8233 }),
    });
  });
  after(async () => {
    await server?.close();
    await env?.close();
  });

  const assertEncryptedFailure = (failure: temporal.api.failure.v1.IFailure) => {
    assert.equal(failure.message, 'Encoded failure');
    assert.equal(utf8(failure.encodedAttributes!.metadata!.encoding), ENCRYPTED_ENCODING);
  };

  it('keeps the history free of plaintext while the encrypting client reads it back', async () => {
    const client = new Client({ connection: env.connection, dataConverter: dataConverterFromConfig(config) });
    const id = `enc-${uid()}`;
    workflowId = messageWorkflowId('enc-parks', id);
    await publish(
      client,
      {
        id,
        topic: 'enc-parks',
        payload: { note: secret, nested: { again: secret } },
        headers: { 'x-customer': headerSecret },
      },
      { taskQueue: env.taskQueue },
    );
    const state = await waitForStatus(client, workflowId, 'dead');
    assert.equal((state.envelope.payload as { note: string }).note, secret);
    assert.equal(state.deadLetter?.headers['x-customer'], headerSecret);
    assert.ok(state.deadLetter?.message.includes(failureSecret), 'the dead letter keeps the decoded message');

    const { history } = await env.connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
    });
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history!).finish());
    assert.ok(raw.length > 0);
    for (const needle of [secret, headerSecret, failureSecret])
      assert.equal(raw.includes(needle), false, `the raw history holds "${needle}" in plaintext`);
    const started = history!.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = started.input!.payloads![0]!;
    assert.equal(utf8(input.metadata!.encoding), ENCRYPTED_ENCODING);
    assert.equal(utf8(input.metadata![KEY_ID_METADATA]), 'active');
    startPayload = payloadToJSON(input);
    // The stage failure's message and stack travel as encrypted `encodedAttributes`: here in the marker of
    // the local first attempt, and below in an activity task's failure.
    const marker = history!.events!.find((e) => e.markerRecordedEventAttributes?.failure)!;
    assertEncryptedFailure(marker.markerRecordedEventAttributes!.failure!);

    const viaActivity = messageWorkflowId('enc-parks-activity', id);
    await publish(
      client,
      { id, topic: 'enc-parks-activity', payload: { note: secret } },
      { taskQueue: env.taskQueue },
    );
    await waitForStatus(client, viaActivity, 'dead');
    const activityHistory = (
      await env.connection.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId: viaActivity },
      })
    ).history!;
    const rawActivityHistory = Buffer.from(temporal.api.history.v1.History.encode(activityHistory).finish());
    for (const needle of [secret, failureSecret])
      assert.equal(
        rawActivityHistory.includes(needle),
        false,
        `the raw history holds "${needle}" in plaintext`,
      );
    const failed = activityHistory.events!.find((e) => e.activityTaskFailedEventAttributes)!;
    assertEncryptedFailure(failed.activityTaskFailedEventAttributes!.failure!);
    // The state query answer is encrypted on the wire too: a client without the codec cannot read it.
    await assert.rejects(env.client.workflow.getHandle(workflowId).query(stateQuery));
  });

  it('keeps the park memo in visibility encrypted; the encrypting client reads it back', async () => {
    const query = `WorkflowId = "${workflowId}" AND DlqStatus = "dead"`;
    await waitFor('the parked message in visibility', async () =>
      (await env.client.workflow.count(query)).count === 1 ? true : undefined,
    );
    const listed = await env.connection.workflowService.listWorkflowExecutions({
      namespace: 'default',
      query,
    });
    const raw = Buffer.from(
      temporal.api.workflowservice.v1.ListWorkflowExecutionsResponse.encode(listed).finish(),
    );
    assert.equal(listed.executions?.length, 1);
    const memo = listed.executions[0]!.memo!.fields![PARK_MEMO_KEY]!;
    assert.equal(utf8(memo.metadata!.encoding), ENCRYPTED_ENCODING);
    for (const needle of [secret, headerSecret, failureSecret])
      assert.equal(raw.includes(needle), false, `the visibility listing holds "${needle}" in plaintext`);
    const client = new Client({ connection: env.connection, dataConverter: dataConverterFromConfig(config) });
    for await (const info of client.workflow.list({ query })) {
      const decoded = info.memo?.[PARK_MEMO_KEY] as ParkMemo;
      assert.ok(decoded.deadLetter.message.includes(failureSecret));
      assert.equal((decoded.deadLetter.payload as { note: string }).note, secret);
    }
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
      body: JSON.stringify(body),
    });

  it('decodes the history payload back for a caller with the token', async () => {
    const res = await post('/decode', { payloads: [startPayload] }, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { payloads: JSONPayload[] };
    const decoded = Buffer.from(body.payloads[0]!.data!, 'base64').toString('utf8');
    assert.ok(decoded.includes(secret));
    assert.equal(Buffer.from(body.payloads[0]!.metadata!.encoding!, 'base64').toString(), 'json/plain');
  });

  it('encodes, and round-trips through /encode and /decode', async () => {
    const plain = payloadToJSON(toPayload({ hello: 'codec' }));
    const auth = { authorization: `Bearer ${token}` };
    const encoded = (await (await post('/encode', { payloads: [plain] }, auth)).json()) as {
      payloads: JSONPayload[];
    };
    assert.ok(!Buffer.from(encoded.payloads[0]!.data!, 'base64').toString().includes('codec'));
    const decoded = (await (await post('/decode', encoded, auth)).json()) as { payloads: JSONPayload[] };
    assert.deepEqual(decoded.payloads[0], plain);
  });

  it('refuses requests without the token or with a wrong one (401)', async () => {
    assert.equal((await post('/decode', { payloads: [startPayload] })).status, 401);
    const wrong = await post('/decode', { payloads: [startPayload] }, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer');
  });

  it('answers CORS preflights for the UI origin only, and rejects malformed bodies', async () => {
    const preflight = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
    const allowed = preflight.headers.get('access-control-allow-headers') ?? '';
    for (const h of ['content-type', 'x-namespace', 'authorization']) assert.ok(allowed.includes(h));
    const stranger = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(stranger.status, 403);
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await post('/decode', { nope: 1 }, auth)).status, 400);
    assert.equal((await post('/elsewhere', { payloads: [] }, auth)).status, 404);
  });
});
