/**
 * The Temporal Web UI as the operator's console, checked in a real headless Chromium (Debian's
 * package, driven by playwright-core; no browser download): the `DlqStatus="dead"` list shows the
 * parked test messages, with the `Dlq*` columns an operator adds, and a message's page shows its failure
 * explanation (current details) with its failure group in view.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium, skipWithoutChromium } from './chromium';
import { z } from 'zod';
import { openTestEnv, requireEnv, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { defineHandler } from '../src/worker/handlers';
import { publish } from '../src/client/publish';
import { uiListUrl } from '../src/web-ui-links';
import { stateQuery } from '../src/contract/definitions';

const DOC_IMAGE = join(__dirname, '..', 'docs', 'images', 'ui-parked-message.png');
const DOC_SIGNAL_IMAGE = join(__dirname, '..', 'docs', 'images', 'ui-send-retry-signal.png');
const DOC_COLUMNS_IMAGE = join(__dirname, '..', 'docs', 'images', 'ui-dlq-columns.png');

/** What the column check reads of a DOM element in the page (the project's TypeScript has no DOM library). */
interface DomElement {
  parentElement: DomElement | null;
  getBoundingClientRect(): { right: number };
  ownerDocument: {
    documentElement: { clientWidth: number };
    defaultView: { getComputedStyle(e: DomElement): { overflowX: string } } | null;
  };
}

/** Copies a screenshot to docs/images/ when it is missing there, or on request (so runs do not churn it). */
function refreshDocImage(shot: string, docImage: string): void {
  if (!existsSync(docImage) || process.env.DLQ_UPDATE_DOC_IMAGES === '1') {
    mkdirSync(join(docImage, '..'), { recursive: true });
    copyFileSync(shot, docImage);
  }
}

const TOPIC = `ui-orders-${uid()}`;
const IDS = ['order-1001', 'order-1002'];

let env: TestEnv;
let browser: Browser | undefined;
let page: Page;

describe('Temporal Web UI in a real browser', { skip: skipWithoutChromium }, () => {
  before(async () => {
    env = await openTestEnv();
    await env.startWorker([
      defineHandler({
        topic: TOPIC,
        schema: z.object({ orderId: z.string(), quantity: z.number().int().positive() }),
        handle: () => 'ok',
      }),
    ]);
    for (const id of IDS) {
      const result = await publish(
        env.client,
        { id, topic: TOPIC, payload: { orderId: id, quantity: 'two' } },
        { taskQueue: env.taskQueue },
      );
      assert.ok(result.ok);
      await waitForStatus(env.client, `msg:${TOPIC}:${id}`, 'dead');
    }
    const query = `DlqStatus = "dead" AND DlqTopic = "${TOPIC}"`;
    await waitFor('the parked messages to be visible', async () =>
      (await env.client.workflow.count(query)).count === IDS.length ? true : undefined,
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  it('lists the parked messages under DlqStatus="dead"', async () => {
    const ui = requireEnv('DLQ_TEST_UI_URL');
    await page.goto(uiListUrl(ui, 'default', `DlqStatus="dead" AND DlqTopic="${TOPIC}"`));
    for (const id of IDS)
      await page
        .getByRole('link', { name: `msg:${TOPIC}:${id}` })
        .first()
        .waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-dead-list.png') });
  });

  it('shows the Dlq* columns (class, reason, topic, attempts) once added under Configure Columns', async () => {
    // What docs/operators.md tells an operator to do: the list's gear button opens "Configure Workflows Table";
    // remove columns that take room, add the custom search attributes. The UI keeps the choice in the browser.
    await page.getByTestId('workflows-summary-table-configuration-button').click();
    const drawer = page.locator('aside').filter({ hasText: 'Configure Workflows Table' });
    await drawer.waitFor();
    for (const column of ['Run ID', 'Type', 'Start', 'End'])
      await drawer.getByRole('button', { name: `Remove ${column} column` }).click();
    for (const column of ['DlqErrorClass', 'DlqReason', 'DlqTopic', 'DlqAttempts'])
      await drawer.getByRole('button', { name: `Add ${column} column` }).click();
    await drawer.getByTestId('drawer-close-button').click();
    await drawer.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Collapse saved views' }).click();
    for (const column of ['DlqErrorClass', 'DlqReason', 'DlqTopic', 'DlqAttempts']) {
      // How far the header reaches past the right edge of what its scrolling containers show.
      const hidden = await page.locator('table thead th', { hasText: column }).evaluate((th: DomElement) => {
        let right = th.ownerDocument.documentElement.clientWidth;
        for (let e = th.parentElement; e; e = e.parentElement)
          if (th.ownerDocument.defaultView!.getComputedStyle(e).overflowX !== 'visible')
            right = Math.min(right, e.getBoundingClientRect().right);
        return th.getBoundingClientRect().right - right;
      });
      assert.ok(hidden <= 1, `the ${column} column is in view (${hidden} px of it cut off)`);
    }
    const row = page.locator('table tbody tr', { hasText: `msg:${TOPIC}:${IDS[0]}` });
    const cells = (await row.locator('td').allInnerTexts()).map((c) => c.trim());
    for (const value of ['validation', 'VALIDATION_ERROR', TOPIC, '1'])
      assert.ok(cells.includes(value), `${value} in ${JSON.stringify(cells)}`);
    const shot = join(ARTIFACTS, 'ui-dlq-columns.png');
    await page.screenshot({ path: shot, clip: { x: 0, y: 0, width: 1400, height: 370 } });
    refreshDocImage(shot, DOC_COLUMNS_IMAGE);
  });

  it('shows the failure explanation of a parked message', async () => {
    const workflowId = `msg:${TOPIC}:${IDS[0]}`;
    await page.getByRole('link', { name: workflowId }).first().click();
    await page.waitForURL(/\/workflows\/msg/, { timeout: 30_000 });
    // Current details come from the workflow (setCurrentDetails), served through a query to the worker;
    // UI 2.42 shows them, with the static summary and details, under the "User Metadata" tab.
    await page
      .getByRole('link', { name: 'User Metadata' })
      .or(page.getByRole('tab', { name: 'User Metadata' }))
      .first()
      .click();
    // The UI renders Markdown metadata inside sandboxed iframes: look for the explanation in any frame.
    let found: { frame: Frame; text: string } | undefined;
    try {
      found = await waitFor(
        'the failure explanation in the Current Details panel',
        async () => {
          for (const frame of page.frames()) {
            const text = await frame
              .locator('body')
              .innerText({ timeout: 1000 })
              .catch(() => '');
            if (text.includes('How to fix:')) return { frame, text };
          }
          return undefined;
        },
        30_000,
      );
    } finally {
      await page.screenshot({ path: join(ARTIFACTS, 'ui-message-page.png') });
    }
    const explanation = found.text;
    assert.match(explanation, /Parked: validation failure \(VALIDATION_ERROR\)/);
    assert.match(explanation, /quantity/);
    assert.match(explanation, /repair/);
    // The failure group is what `--group` needs: it must be in view in the panel, not below its cut-off edge.
    const { deadLetter } = await env.client.workflow.getHandle(workflowId).query(stateQuery);
    const fingerprint = deadLetter!.fingerprint;
    assert.ok(explanation.includes(fingerprint), 'the explanation names the failure group');
    const panel = await (await found.frame.frameElement()).boundingBox();
    const group = await found.frame.getByText(fingerprint).first().boundingBox();
    assert.ok(panel && group, 'the panel and the failure group have boxes');
    assert.ok(
      group.y >= panel.y && group.y + group.height <= panel.y + panel.height,
      `the failure group ${fingerprint} (y ${group.y}-${group.y + group.height}) is within the panel (y ${panel.y}-${panel.y + panel.height})`,
    );
    await page.getByText('Current Details').first().waitFor({ state: 'visible' });
    const shot = join(ARTIFACTS, 'ui-parked-message.png');
    await page.screenshot({ path: shot, clip: { x: 0, y: 0, width: 1400, height: 780 } });
    refreshDocImage(shot, DOC_IMAGE);
  });

  it('fixes and retries from the UI: the retry signal with a JSON merge patch recovers the message', async () => {
    const workflowId = `msg:${TOPIC}:${IDS[0]}`;
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page
      .getByRole('menuitem', { name: /Send a Signal/i })
      .first()
      .click();
    const dialog = page.getByRole('dialog').last();
    await dialog.waitFor();
    await dialog.locator('[data-testid="signal-select"]').click({ force: true });
    await page.getByRole('option', { name: 'retry' }).first().click();
    const editor = dialog.locator('.cm-content').first();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.insertText('{"patch": {"quantity": 2}, "reason": "fixed from the Web UI"}');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-send-retry-signal.png') });
    refreshDocImage(join(ARTIFACTS, 'ui-send-retry-signal.png'), DOC_SIGNAL_IMAGE);
    // Leaving the editor re-formats the JSON and moves the layout: let it settle before submitting.
    await editor.blur();
    await page.waitForTimeout(500);
    const submit = page.locator('button:visible', { hasText: /^\s*Submit\s*$/ }).last();
    await submit.click();
    await page.waitForTimeout(1000);
    if (await submit.isVisible()) await submit.click();
    try {
      await waitFor('the message to recover after the UI signal', async () =>
        (await env.client.workflow.getHandle(workflowId).describe()).status.name === 'COMPLETED'
          ? true
          : undefined,
      );
    } catch (err) {
      const st = await env.client.workflow.getHandle(workflowId).query(stateQuery);
      throw new Error(`${String(err)}; audit: ${JSON.stringify(st.audit)}`);
    }
    const outcome = (await env.client.workflow.getHandle(workflowId).result()) as {
      status: string;
      payloadVersion: number;
    };
    assert.equal(outcome.status, 'recovered');
    assert.equal(outcome.payloadVersion, 2);
  });
});
