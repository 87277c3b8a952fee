/**
 * Immediate alerts reach the alert webhook (issue #16 item 4, policy revision 5), with a local receiver
 * (node:http) and the suite's Temporal server:
 * - a security failure is posted at once (no analytics run exists in this test), in the analytics alerts'
 *   signed format; the receiver refuses the first attempt, and the retry carries the same delivery id and
 *   the same signed bytes, so the receiver keeps one alert per message;
 * - a webhook that stays down ends as `DlqUndelivered=alert-webhook`, which a run of analytics counts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { openTestEnv, recordHistory, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { SecurityError } from '../src/contract/errors';
import { messageWorkflowId } from '../src/contract/names';
import { DlqUndelivered } from '../src/contract/search-attributes';
import { computeSnapshot } from '../src/analytics/snapshot';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import { SIGNATURE_HEADER } from '../src/analytics/webhook';
import type { AlertNotification } from '../src/contract/analytics';

const run = uid();
const secret = `secret-${run}`;
let env: TestEnv;
let downEnv: TestEnv;
let server: Server;

interface Received {
  body: string;
  delivery: string | undefined;
  signature: string | undefined;
  answered: number;
}
const received: Received[] = [];

const forged = (name: string) =>
  defineHandler({
    topic: name,
    handle: () => {
      throw new SecurityError('signature of the request does not match', { reason: 'HTTP_401' });
    },
  });

before(async () => {
  // Refuses the first POST of each delivery id (503), accepts the next ones.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const delivery = req.headers['x-dlq-delivery'] as string | undefined;
      const first = !received.some((r) => r.delivery === delivery);
      const answered = first ? 503 : 200;
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        delivery,
        signature: req.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined,
        answered,
      });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  env = await openTestEnv();
  await env.startWorker([forged(`alerts-${run}`)], {
    DLQ_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
    DLQ_ALERT_WEBHOOK_SECRET: secret,
  });
  // A webhook nobody listens on, with a short budget.
  downEnv = await openTestEnv();
  await downEnv.startWorker(
    [forged(`alerts-down-${run}`)],
    { DLQ_ALERT_WEBHOOK_URL: 'http://127.0.0.1:1/hook', DLQ_ALERT_WEBHOOK_TIMEOUT: '500ms' },
    { sinks: { parkBudgetMs: 3000 } },
  );
});

after(async () => {
  await env?.close();
  await downEnv?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('immediate alerts', () => {
  it('a security failure is posted at once, signed, and its retry carries the same delivery', async () => {
    const topic = `alerts-${run}`;
    await publish(
      env.client,
      { id: `forged-${run}`, topic, payload: { n: 1 } },
      { taskQueue: env.taskQueue },
    );
    const workflowId = messageWorkflowId(topic, `forged-${run}`);
    await waitForStatus(env.client, workflowId, 'dead');
    const posts = await waitFor('the refused POST and its retry', () =>
      Promise.resolve(received.some((r) => r.answered === 200) ? received.slice() : undefined),
    );
    const mine = posts.filter((p) => p.delivery === `${workflowId}:1`);
    assert.deepEqual(
      mine.map((p) => p.answered),
      [503, 200],
      'one refused attempt, then one accepted retry of the same delivery',
    );
    assert.equal(mine[0]!.body, mine[1]!.body, 'a retry sends the same bytes');
    for (const post of mine) {
      const expected = `sha256=${createHmac('sha256', secret).update(post.body, 'utf8').digest('hex')}`;
      assert.ok(post.signature, 'signed');
      assert.ok(timingSafeEqual(Buffer.from(post.signature), Buffer.from(expected)), 'the HMAC verifies');
    }
    const body = JSON.parse(mine[0]!.body) as {
      source: string;
      deliveryId: string;
      text: string;
      alerts: AlertNotification[];
    };
    assert.equal(body.source, 'temporal-dlq');
    assert.equal(body.deliveryId, `${workflowId}:1`);
    assert.equal(body.alerts.length, 1);
    assert.equal(body.alerts[0]!.rule, 'security-parked');
    assert.equal(body.alerts[0]!.severity, 'critical');
    assert.match(body.alerts[0]!.message, new RegExp(`forged-${run}.*HTTP_401`));
    assert.match(body.text, /SECURITY ALERT/);
    // Delivered: nothing is recorded as undelivered.
    const described = await env.client.workflow.getHandle(workflowId).describe();
    assert.equal(described.typedSearchAttributes.get(DlqUndelivered), undefined);
    await recordHistory(env.client, workflowId, 'alert-webhook-delivered');
  });

  it('a webhook that stays down is recorded as undelivered and counted by analytics', async () => {
    const topic = `alerts-down-${run}`;
    await publish(
      downEnv.client,
      { id: `forged-${run}`, topic, payload: { n: 1 } },
      { taskQueue: downEnv.taskQueue },
    );
    const workflowId = messageWorkflowId(topic, `forged-${run}`);
    await waitForStatus(downEnv.client, workflowId, 'dead');
    const handle = downEnv.client.workflow.getHandle(workflowId);
    const undelivered = await waitFor('DlqUndelivered', async () =>
      (await handle.describe()).typedSearchAttributes.get(DlqUndelivered),
    );
    assert.equal(undelivered, 'alert-webhook');
    const config = analyticsConfigSchema.parse({ filter: `DlqTopic = '${topic}'` });
    await waitFor('analytics to count the undelivered alert', async () => {
      const s = await computeSnapshot(downEnv.client, config);
      return s.undeliveredMirror === 1 ? s : undefined;
    });
    // Still parked and waiting for its operator: the alert never blocked it.
    const state = await waitForStatus(downEnv.client, workflowId, 'dead');
    assert.equal(state.deadLetter?.errorClass, 'security');
    await recordHistory(downEnv.client, workflowId, 'alert-webhook-undelivered');
  });
});
