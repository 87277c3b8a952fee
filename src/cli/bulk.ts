/**
 * Bulk operations over a visibility query, client side: rate-limited, bounded concurrency, one verdict
 * per message. Only `dead` messages are selected, so a re-run after an interruption skips the ones done.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import {
  isGrpcDeadlineError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { discardSignal, repairUpdate } from '../contract/definitions';
import { formatDuration } from '../contract/duration';
import { DlqStatus } from '../contract/search-attributes';
import type { DiscardInput, RetryInput } from '../contract/types';
import type { CliContext } from './context';
import { countMessages, isNotFound, listMessages } from './messages';
import type { MessageRow } from './messages';
import { forEachBounded } from './pacing';
import { progress } from './output';

/** What happened to one message. `skipped`: it was no longer dead (done by an earlier run or someone else). */
export interface Verdict {
  workflowId: string;
  verdict: 'accepted' | 'rejected' | 'skipped' | 'error';
  problems?: string[];
  payloadVersion?: number;
  /** Said about an accepted repair that answered only after the timeout. */
  note?: string;
}

export interface BulkReport {
  query: string;
  selected: number;
  accepted: number;
  rejected: number;
  skipped: number;
  errors: number;
  /** Every message that was not accepted, with its reasons. */
  failures: Verdict[];
}

const problemsSchema = z.object({ problems: z.array(z.string()) });

/** The reasons of a rejected `repair` update, read from the failure's type and details. */
export function rejectionProblems(err: WorkflowUpdateFailedError): string[] {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type === 'ValidationError') {
    const parsed = problemsSchema.safeParse(cause.details?.[0]);
    if (parsed.success) return parsed.data.problems;
  }
  return [cause?.message ?? err.message];
}

/** True when the workflow is still running and parked (read from the execution itself, not visibility). */
export async function isStillDead(handle: WorkflowHandle): Promise<boolean> {
  try {
    const d = await handle.describe();
    return d.status.name === 'RUNNING' && d.typedSearchAttributes.get(DlqStatus) === 'dead';
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

const { UpdateWorkflowExecutionLifecycleStage: Stage } = temporal.api.enums.v1;
const { TaskQueueKind, TaskQueueType } = temporal.api.enums.v1;

/**
 * The client waits this long after `notAfter` before it gives up: a workflow task that started just before
 * `notAfter` may still accept the repair, and its answer needs time to arrive.
 */
const ANSWER_MARGIN_MS = 2_000;
/** Deadline of the calls that only look (task queue pollers, update stage). */
const LOOK_DEADLINE_MS = 3_000;

/** What to check when no worker answers: the command that shows a task queue's pollers. */
function describeCommand(client: Client, taskQueue: string): string {
  return `\`temporal task-queue describe --task-queue ${taskQueue} --namespace ${client.options.namespace}\``;
}

/**
 * What one command learns about the workers of each task queue: whether any polled it recently (asked once
 * per queue), and whether one already left a repair unanswered in this run (the rest of a bulk run is then
 * not sent to that queue: it would only wait out the timeout again).
 */
export class WorkerPresence {
  private readonly polled = new Map<string, Promise<boolean>>();
  private readonly silent = new Map<string, number>();
  constructor(private readonly client: Client) {}

  /** Why nothing should be sent to `taskQueue` now, or `undefined`. */
  async problem(taskQueue: string): Promise<string | undefined> {
    const silentFor = this.silent.get(taskQueue);
    if (silentFor !== undefined)
      return `not sent: no worker answered on task queue "${taskQueue}" earlier in this run (within ${formatDuration(silentFor)}); nothing changed. Check its workers with ${describeCommand(this.client, taskQueue)}, then run the same command again: it selects only the messages still dead.`;
    let polled = this.polled.get(taskQueue);
    if (!polled) {
      polled = this.hasPollers(taskQueue);
      this.polled.set(taskQueue, polled);
    }
    if (await polled) return undefined;
    return `no worker has polled task queue "${taskQueue}" in the last few minutes: the repair was not sent and nothing changed. Start a worker on that task queue (e.g. \`npm run worker\` with TEMPORAL_TASK_QUEUE=${taskQueue}) and check it with ${describeCommand(this.client, taskQueue)}, then retry.`;
  }

  /** Records that a repair sent to `taskQueue` got no answer within `timeoutMs`. */
  markSilent(taskQueue: string, timeoutMs: number): void {
    this.silent.set(taskQueue, timeoutMs);
  }

  /** True when a worker polled the queue's workflow tasks recently (or when the server would not say). */
  private async hasPollers(taskQueue: string): Promise<boolean> {
    try {
      const described = await this.client.withDeadline(Date.now() + LOOK_DEADLINE_MS, () =>
        this.client.workflowService.describeTaskQueue({
          namespace: this.client.options.namespace,
          taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
      );
      return (described.pollers ?? []).length > 0;
    } catch {
      return true; // Unknown: send it, the timeout still bounds the wait.
    }
  }
}

/** True when the server says the workflow accepted (or completed) the update; false when not, or unknown. */
async function wasAccepted(client: Client, workflowId: string, updateId: string): Promise<boolean> {
  try {
    const polled = await client.withDeadline(Date.now() + LOOK_DEADLINE_MS, () =>
      client.workflowService.pollWorkflowExecutionUpdate({
        namespace: client.options.namespace,
        updateRef: { workflowExecution: { workflowId }, updateId },
        identity: client.options.identity,
        waitPolicy: { lifecycleStage: Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED },
      }),
    );
    return (
      polled.stage === Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED ||
      polled.stage === Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
    );
  } catch {
    return false;
  }
}

/** How `repairOne` sends a repair. */
export interface RepairOptions {
  /**
   * How long to wait for a worker's answer. The request carries `notAfter` = now + this, so a worker that
   * receives it later refuses it; the client gives up a little after that.
   */
  timeoutMs: number;
  /** The message's task queue, when the caller knows it (bulk: from the listing). @defaultValue read with `describe()` */
  taskQueue?: string;
  /** Shared across one command: pollers per task queue, queues that left a repair unanswered. */
  workers: WorkerPresence;
  /** Check the repair as the real run would, schema included, and change nothing. @defaultValue `false` */
  dryRun?: boolean;
}

/**
 * Sends the validated `repair` update to one message, bounded in time: with no worker on the message's task
 * queue it answers an `error` verdict that says so, and nothing changes.
 */
export async function repairOne(
  client: Client,
  workflowId: string,
  input: RetryInput,
  options: RepairOptions,
): Promise<Verdict> {
  const handle = client.workflow.getHandle(workflowId);
  const updateId = randomUUID();
  let taskQueue = options.taskQueue;
  try {
    taskQueue ??= (await handle.describe()).taskQueue;
    const problem = await options.workers.problem(taskQueue);
    if (problem) return { workflowId, verdict: 'error', problems: [problem] };
    const sentAt = Date.now();
    const request: RetryInput = {
      ...input,
      notAfter: new Date(sentAt + options.timeoutMs).toISOString(),
      ...(options.dryRun ? { dryRun: true } : {}),
    };
    const accepted = await client.withDeadline(sentAt + options.timeoutMs + ANSWER_MARGIN_MS, () =>
      handle.executeUpdate(repairUpdate, { args: [request], updateId }),
    );
    if (options.dryRun && accepted.dryRun !== true)
      return {
        workflowId,
        verdict: 'error',
        problems: [
          `the workflow answered without dryRun: its code predates dry runs and APPLIED the repair (payload v${accepted.payloadVersion}); update the workers`,
        ],
      };
    return { workflowId, verdict: 'accepted', payloadVersion: accepted.payloadVersion };
  } catch (err) {
    if (
      taskQueue !== undefined &&
      (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err))
    ) {
      // Past notAfter: a worker that receives it from now on refuses it. Unless one accepted it meanwhile.
      if (await wasAccepted(client, workflowId, updateId))
        return {
          workflowId,
          verdict: 'accepted',
          note: `a worker accepted it only after the ${formatDuration(options.timeoutMs)} timeout; follow it with \`dlq show ${workflowId}\``,
        };
      options.workers.markSilent(taskQueue, options.timeoutMs);
      return {
        workflowId,
        verdict: 'error',
        problems: [
          `no worker answered within ${formatDuration(options.timeoutMs)} on task queue "${taskQueue}": the repair was not applied and nothing changed (it expired; a worker that receives it later refuses it). Check that a worker polls that task queue with ${describeCommand(client, taskQueue)}, or start one, then retry.`,
        ],
      };
    }
    if (err instanceof WorkflowUpdateFailedError) {
      // A message that left `dead` meanwhile is not a rejection of the repair: skip it.
      if (!(await isStillDead(handle))) return { workflowId, verdict: 'skipped' };
      return { workflowId, verdict: 'rejected', problems: rejectionProblems(err) };
    }
    if (isNotFound(err)) return { workflowId, verdict: 'skipped' };
    return { workflowId, verdict: 'error', problems: [err instanceof Error ? err.message : String(err)] };
  }
}

/** Sends the `discard` signal to one message, if it is still dead. */
export async function discardOne(client: Client, workflowId: string, input: DiscardInput): Promise<Verdict> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    if (!(await isStillDead(handle))) return { workflowId, verdict: 'skipped' };
    await handle.signal(discardSignal, input);
    return { workflowId, verdict: 'accepted' };
  } catch (err) {
    if (isNotFound(err)) return { workflowId, verdict: 'skipped' };
    return { workflowId, verdict: 'error', problems: [err instanceof Error ? err.message : String(err)] };
  }
}

export interface BulkOptions {
  query: string;
  label: string;
  perSecond: number;
  concurrency: number;
  /** Show a progress bar (TTY and not --json). */
  showProgress: boolean;
  act: (row: MessageRow) => Promise<Verdict>;
  onVerdict?: (verdict: Verdict) => void;
}

/** Runs `act` over every matching message. */
export async function runBulk(ctx: CliContext, client: Client, options: BulkOptions): Promise<BulkReport> {
  const selected = await countMessages(client, options.query);
  const report: BulkReport = {
    query: options.query,
    selected,
    accepted: 0,
    rejected: 0,
    skipped: 0,
    errors: 0,
    failures: [],
  };
  const bar = progress(ctx, options.label, selected, options.showProgress);
  const pacing = { concurrency: options.concurrency, perSecond: options.perSecond };
  let seen = 0;
  try {
    await forEachBounded(listMessages(client, options.query), pacing, async (row) => {
      const verdict = await options.act(row);
      seen += 1;
      if (seen > selected) bar.setTotal(seen);
      if (verdict.verdict === 'accepted') report.accepted += 1;
      else if (verdict.verdict === 'rejected') report.rejected += 1;
      else if (verdict.verdict === 'skipped') report.skipped += 1;
      else report.errors += 1;
      if (verdict.verdict === 'rejected' || verdict.verdict === 'error') report.failures.push(verdict);
      options.onVerdict?.(verdict);
      bar.increment();
    });
  } finally {
    bar.stop();
  }
  return report;
}
