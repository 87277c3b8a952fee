/**
 * Payload encryption in the Web UI, checked in a real headless Chromium (Debian's package, driven by
 * playwright-core): with DLQ_ENCRYPTION_KEYS on, the server stores only ciphertext, and the dev server's Web UI,
 * started with `--ui-codec-endpoint` as `npm start` does, shows the message's input decoded by the codec server.
 * This test runs its own dev server, since the codec endpoint is a start-up flag of the UI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium, skipWithoutChromium } from './chromium';
import { openTestEnv, requireEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { freePort, startDevServer } from '../src/ops/dev-server';
import type { DevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { codecOrigins, startCodecServer } from '../src/security/codec-server';
import type { CodecServer } from '../src/security/codec-server';
import { codecFromConfig, dataConverterFromConfig } from '../src/security/data-converter';
import { loadConfig } from '../src/config';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { uiWorkflowUrl } from '../src/web-ui-links';

const DOC_IMAGE = join(__dirname, '..', 'docs', 'images', 'ui-decoded-payload.png');

const TOPIC = 'ui-encrypted-orders';
const SECRET = `secret-${uid()}${uid()}`;

let devServer: DevServer | undefined;
let codecServer: CodecServer | undefined;
let env: TestEnv | undefined;
let browser: Browser | undefined;
let page: Page;
let uiUrl: string;
let workflowId: string;
/** What the codec server decoded: every /decode it served, and those whose output held the secret. */
const decodes = { calls: 0, withSecret: 0 };
/** The browser's answered calls to the codec server's /decode, with the Origin header each one carried. */
const browserDecodes: Array<{ status: number; origin: string | null }> = [];

describe('Web UI with payload encryption, in a real browser', { skip: skipWithoutChromium }, () => {
  before(async () => {
    const keys = `ui-key:${randomBytes(32).toString('base64')}`;
    // The UI's port is chosen first: the codec server's CORS allows exactly the UI's origin, as in `npm start`.
    const uiPort = await freePort();
    const config = loadConfig({ DLQ_ENCRYPTION_KEYS: keys, DLQ_UI_PORT: String(uiPort) });
    const codec = codecFromConfig(config)!;
    // The same codec, counting what it decodes: the browser is the only caller of this codec server.
    const counting: PayloadCodec = {
      encode: (payloads) => codec.encode(payloads),
      async decode(payloads) {
        const out = await codec.decode(payloads);
        decodes.calls += 1;
        if (out.some((p) => Buffer.from(p.data ?? new Uint8Array()).includes(SECRET)))
          decodes.withSecret += 1;
        return out;
      },
    };
    // No bearer token: the dev server's UI cannot send one (docs/security.md).
    codecServer = await startCodecServer({ codec: counting, port: 0, allowedOrigins: codecOrigins(config) });
    devServer = await startDevServer({
      cliPath: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
      uiPort,
      extraArgs: ['--ui-codec-endpoint', codecServer.url],
    });
    uiUrl = devServer.uiUrl!;
    env = await openTestEnv(devServer.address);
    await setupServer(env.connection, { namespace: 'default', retention: '1d' });
    await env.startWorker(
      [
        defineHandler({
          topic: TOPIC,
          handle: () => {
            throw new PermanentError('order references an unknown customer', { reason: 'HTTP_404' });
          },
        }),
      ],
      { DLQ_ENCRYPTION_KEYS: keys },
    );
    const client = new Client({ connection: env.connection, dataConverter: dataConverterFromConfig(config) });
    const id = `order-${uid()}`;
    workflowId = messageWorkflowId(TOPIC, id);
    const result = await publish(
      client,
      { id, topic: TOPIC, payload: { orderId: id, note: SECRET } },
      { taskQueue: env.taskQueue },
    );
    assert.ok(result.ok);
    await waitForStatus(client, workflowId, 'dead');
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('response', (response) => {
      const request = response.request();
      if (request.method() !== 'POST' || !request.url().startsWith(`${codecServer!.url}/decode`)) return;
      void request
        .headerValue('origin')
        .then((origin) => browserDecodes.push({ status: response.status(), origin }));
    });
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await env?.close().catch(() => undefined);
    try {
      await devServer?.stop();
    } finally {
      await codecServer?.close();
    }
  });

  it('stores the payload encrypted: the raw history holds no plaintext of it', async () => {
    const { history } = await env!.connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
    });
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history!).finish());
    assert.ok(raw.length > 0);
    assert.equal(raw.includes(SECRET), false, 'the raw history holds the secret in plaintext');
  });

  it("shows the message's input decoded through the codec server on the workflow page", async () => {
    await page.goto(uiWorkflowUrl(uiUrl, 'default', workflowId));
    let text: string;
    try {
      text = await waitFor(
        'the decoded payload on the workflow page',
        async () => {
          const body = await page
            .locator('body')
            .innerText({ timeout: 1000 })
            .catch(() => '');
          return body.includes(SECRET) ? body : undefined;
        },
        60_000,
      );
    } finally {
      await page.screenshot({ path: join(ARTIFACTS, 'ui-decoded-payload.png'), fullPage: true });
    }
    assert.ok(text.includes(SECRET));
    // The plaintext came from this codec server, called by the browser from the UI's origin.
    assert.ok(
      decodes.withSecret > 0,
      `the codec server decoded no payload holding the secret (${decodes.calls} calls)`,
    );
    // Response events are recorded asynchronously (the Origin header is read from the request).
    const ok = await waitFor('a successful /decode call from the browser', () => {
      const answered = browserDecodes.filter((d) => d.status === 200);
      return Promise.resolve(answered.length ? answered : undefined);
    });
    for (const d of ok) assert.equal(d.origin, new URL(uiUrl).origin);
    const shot = join(ARTIFACTS, 'ui-decoded-payload-view.png');
    await page.screenshot({ path: shot, clip: { x: 0, y: 0, width: 1400, height: 620 } });
    // The docs' screenshot is refreshed only on request, so test runs do not churn a committed file.
    if (!existsSync(DOC_IMAGE) || process.env.DLQ_UPDATE_DOC_IMAGES === '1') {
      mkdirSync(join(DOC_IMAGE, '..'), { recursive: true });
      copyFileSync(shot, DOC_IMAGE);
    }
  });
});
