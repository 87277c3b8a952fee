/**
 * Log hygiene: the real log output of a worker (project logger, handler logs, the SDK's own logs through the
 * Runtime logger) is captured through a destination stream while messages carrying known secrets in their
 * payload and headers succeed, fail and park. No secret may appear in any line, at any level.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import { createLogger } from '../src/logger';
import { createWorker, installRuntimeLogger } from '../src/worker/create-worker';
import { loadConfig } from '../src/config';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { TemporaryError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { requireEnv, uid, waitForStatus } from './helpers';

/** A sink that keeps every line pino writes. */
class Capture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
}

const PAYLOAD_SECRET = `card-4111-${uid()}`;
const AUTH_SECRET = `bearer-${uid()}`;
const TOKEN_SECRET = `apitoken-${uid()}`;
const SECRETS = [PAYLOAD_SECRET, AUTH_SECRET, TOKEN_SECRET];
/** Configured, not built in: `x-api-token` is personal to this deployment. */
const LOG_REDACT = 'headers["x-api-token"],*.headers["x-api-token"]';

const capture = new Capture();
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `test-logs-${randomUUID()}`;

describe('log hygiene', () => {
  before(async () => {
    const address = requireEnv('TEMPORAL_ADDRESS');
    const config = loadConfig({
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LOG_LEVEL: 'trace',
      LOG_FORMAT: 'json',
      LOG_REDACT,
    });
    const logger = createLogger(config, capture);
    installRuntimeLogger(logger); // before the first NativeConnection creates the Runtime
    connection = await Connection.connect({ address });
    nativeConnection = await NativeConnection.connect({ address });
    client = new Client({ connection });
    worker = await createWorker({
      config,
      logger,
      connection: nativeConnection,
      installRuntimeLogger: true,
      workflowBundlePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE'),
      handlers: [
        defineHandler({
          topic: 'logs-ok',
          handle: ({ log, payload, envelope }) => {
            // Careless handler code: logs the payload, the headers and the whole envelope.
            log.info({ payload, headers: envelope.headers }, 'processing');
            log.info({ envelope }, 'envelope received');
            return 'done';
          },
        }),
        defineHandler({
          topic: 'logs-flaky',
          retry: { initialInterval: '50ms', maximumAttempts: 2 },
          redrive: { enabled: false },
          handle: () => {
            throw new TemporaryError('downstream 503', { reason: 'HTTP_503' });
          },
        }),
        defineHandler({
          topic: 'logs-secure',
          handle: () => {
            throw Object.assign(new Error('Unauthorized'), { status: 401 });
          },
        }),
      ],
    });
    running = worker.run();
  });
  after(async () => {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
  });

  it('never writes a payload or a credential header to the logs', async () => {
    const message = (topic: string) => ({
      id: `logs-${uid()}`,
      topic,
      payload: { card: PAYLOAD_SECRET, nested: [{ card: PAYLOAD_SECRET }] },
      headers: { authorization: `Bearer ${AUTH_SECRET}`, 'x-api-token': TOKEN_SECRET, 'x-plain': 'visible' },
    });
    const ok = message('logs-ok');
    const flaky = message('logs-flaky');
    const secure = message('logs-secure');
    for (const m of [ok, flaky, secure]) await publish(client, m, { taskQueue });
    await client.workflow.getHandle(messageWorkflowId(ok.topic, ok.id)).result();
    await waitForStatus(client, messageWorkflowId(flaky.topic, flaky.id), 'dead');
    await waitForStatus(client, messageWorkflowId(secure.topic, secure.id), 'dead');
    await new Promise((r) => setTimeout(r, 500)); // let the SDK flush its buffered logs

    const records = capture.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // The capture is real: handler logs, the security alert and the SDK's own logs all arrived.
    assert.ok(
      records.some((r) => r.msg === 'processing'),
      'handler log captured',
    );
    assert.ok(
      records.some((r) => r.alert === 'security-failure'),
      'security alert captured',
    );
    assert.ok(
      records.some((r) => r.component === 'temporal-sdk'),
      'SDK log captured',
    );
    const processing = records.find((r) => r.msg === 'processing')!;
    assert.equal(processing.payload, '[redacted]');
    assert.deepEqual(processing.headers, {
      authorization: '[redacted]',
      'x-api-token': '[redacted]',
      'x-plain': 'visible',
    });

    const leaks = capture.lines.filter((line) => SECRETS.some((s) => line.includes(s)));
    assert.deepEqual(leaks, [], 'a secret reached the logs');
    // Payloads are never logged at info level or above, redacted or not: only handler code did.
    const infoPlus = records.filter((r) => (r.level as number) >= 30 && r.payload !== undefined);
    assert.ok(infoPlus.every((r) => r.payload === '[redacted]'));
  });

  it('redacts extra paths only because LOG_REDACT says so', () => {
    const sink = new Capture();
    const plain = createLogger({ LOG_LEVEL: 'info', LOG_FORMAT: 'json', LOG_REDACT: [] }, sink);
    plain.info({ headers: { 'x-api-token': TOKEN_SECRET } }, 'no extra redaction');
    assert.ok(sink.lines[0]!.includes(TOKEN_SECRET));
    const configured = createLogger(loadConfig({ LOG_LEVEL: 'info', LOG_FORMAT: 'json', LOG_REDACT }), sink);
    configured.info({ headers: { 'x-api-token': TOKEN_SECRET } }, 'configured');
    assert.ok(!sink.lines[1]!.includes(TOKEN_SECRET));
  });
});
