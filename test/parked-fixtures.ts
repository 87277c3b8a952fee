/**
 * Parked messages with controlled search attributes, for visibility tests: `processMessage` workflows
 * started on a task queue no worker polls, with the attributes a park writes (`DlqStatus = "dead"`,
 * `DlqParkedAt`, …) set at start. Their visibility rows are real rows of a real server (what analytics
 * reads); no workflow code runs for them, so they are cheap in numbers and their park times are exact.
 * Terminate them when done.
 */
import { Client } from '@temporalio/client';
import type { Connection } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqStatus,
  DlqTopic,
} from '../src/contract/search-attributes';
import { messageWorkflowId, PROCESS_MESSAGE_WORKFLOW } from '../src/contract/names';

export interface ParkedFixture {
  id: string;
  /** `DlqParkedAt`, epoch ms (a fraction of a second stands for a park written before whole seconds). */
  parkedAt: number;
  errorClass?: string;
  reason?: string;
  fingerprint?: string;
  attempts?: number;
  parkCount?: number;
}

async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
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
    await client.workflow.start(PROCESS_MESSAGE_WORKFLOW, {
      workflowId: messageWorkflowId(topic, f.id),
      taskQueue,
      args: [],
      typedSearchAttributes: attributes,
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

/** A Client whose visibility calls (counts and list pages) are counted where they leave for the server. */
export function visibilityCountingClient(connection: Connection): { client: Client; calls(): number } {
  let calls = 0;
  const service = new Proxy(connection.workflowService, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        if (prop === 'countWorkflowExecutions' || prop === 'listWorkflowExecutions') calls++;
        return fn.apply(target, args);
      };
    },
  });
  const counted = new Proxy(connection, {
    get(target, prop, receiver) {
      if (prop === 'workflowService') return service;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: new Client({ connection: counted }), calls: () => calls };
}
