/**
 * Bulk operations over a visibility query, client side: rate-limited, bounded concurrency, one verdict
 * per message. Only `dead` messages are selected, so a re-run after an interruption skips the ones done.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { discardSignal, repairUpdate } from '../shared/definitions';
import { DlqStatus } from '../shared/search-attributes';
import type { DiscardInput, RetryInput } from '../shared/types';
import type { CliContext } from './context';
import { countMessages, isNotFound, listMessages } from './messages';
import type { MessageRow } from './messages';
import { forEachBounded, RateLimiter } from './pacing';
import { progress } from './output';

/** What happened to one message. `skipped`: it was no longer dead (done by an earlier run or someone else). */
export interface Verdict {
  workflowId: string;
  verdict: 'accepted' | 'rejected' | 'skipped' | 'error';
  problems?: string[];
  payloadVersion?: number;
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

/** Sends the validated `repair` update to one message. */
export async function repairOne(client: Client, workflowId: string, input: RetryInput): Promise<Verdict> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const accepted = await handle.executeUpdate(repairUpdate, { args: [input] });
    return { workflowId, verdict: 'accepted', payloadVersion: accepted.payloadVersion };
  } catch (err) {
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
  const limiter = new RateLimiter(options.perSecond);
  let seen = 0;
  try {
    await forEachBounded(listMessages(client, options.query), options.concurrency, async (row) => {
      await limiter.take();
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
