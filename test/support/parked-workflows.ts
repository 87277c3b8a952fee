/**
 * Parked-looking messages: `processMessage` workflows started on a task queue no worker polls, with the
 * attributes a park writes (`DlqStatus = "dead"`, `DlqParkedAt`, …) set at start. Their visibility rows are
 * real rows of a real server, Running like a really parked message's (what analytics reads); no workflow
 * code runs for them, so they are cheap in numbers and their park times are exact. Used by the visibility
 * tests (test/analytics.test.ts) and by the bench's seeded fill (bench/phases/seed.ts). Terminate them when
 * done, or drop the server's databases.
 */
import type { Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqMessageId,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqStatus,
  DlqTopic,
} from '../../src/contract/search-attributes';
import { messageWorkflowId, PROCESS_MESSAGE_WORKFLOW } from '../../src/contract/names';

export interface ParkedFixture {
  id: string;
  /** `DlqParkedAt`, epoch ms (a fraction of a second stands for a park written before whole seconds). */
  parkedAt: number;
  errorClass?: string;
  reason?: string;
  fingerprint?: string;
  attempts?: number;
  parkCount?: number;
  /** Sets `DlqMessageId` to `id`, as `publish()` does. @defaultValue false */
  withMessageId?: boolean;
  /** The workflow's memo (a real park writes the park memo, which a listing returns). @defaultValue none */
  memo?: Record<string, unknown>;
}

/** Runs `fn` over `items` with at most `lanes` in flight. */
export async function inLanes<T>(
  items: readonly T[],
  lanes: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Starts one parked-looking message per fixture, in order; returns their workflow ids. */
export async function startParked(
  client: Client,
  topic: string,
  taskQueue: string,
  fixtures: readonly ParkedFixture[],
  lanes = 16,
): Promise<string[]> {
  await inLanes(fixtures, lanes, async (f) => {
    const attributes: SearchAttributePair[] = [
      { key: DlqTopic, value: topic },
      { key: DlqStatus, value: 'dead' },
      { key: DlqParkedAt, value: new Date(f.parkedAt) },
    ];
    if (f.errorClass) attributes.push({ key: DlqErrorClass, value: f.errorClass });
    if (f.reason) attributes.push({ key: DlqReason, value: f.reason });
    if (f.fingerprint) attributes.push({ key: DlqFingerprint, value: f.fingerprint });
    if (f.attempts !== undefined) attributes.push({ key: DlqAttempts, value: f.attempts });
    if (f.parkCount !== undefined) attributes.push({ key: DlqParkCount, value: f.parkCount });
    if (f.withMessageId) attributes.push({ key: DlqMessageId, value: f.id });
    await client.workflow.start(PROCESS_MESSAGE_WORKFLOW, {
      workflowId: messageWorkflowId(topic, f.id),
      taskQueue,
      args: [],
      typedSearchAttributes: attributes,
      ...(f.memo ? { memo: f.memo } : {}),
    });
  });
  return fixtures.map((f) => messageWorkflowId(topic, f.id));
}

/** Terminates the fixtures (ignoring ones already closed). */
export async function terminateAll(
  client: Client,
  workflowIds: readonly string[],
  lanes = 16,
): Promise<void> {
  await inLanes(workflowIds, lanes, async (id) => {
    await client.workflow
      .getHandle(id)
      .terminate('test done')
      .catch(() => undefined);
  });
}
