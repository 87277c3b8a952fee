/**
 * The baseline: a bare workflow that runs one no-op activity. Bundled on its own (never part of the
 * production bundle) and run on its own task queue, so the bench can compare against the engine's limit.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BaselineActivities } from './baseline-activities';

const { noop } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '30s' });

/** Runs one no-op activity and returns. */
export async function baselineWorkflow(id: string): Promise<string> {
  await noop(id);
  return id;
}
