/**
 * The baseline: a bare workflow that runs one no-op activity. Bundled on its own (never part of the
 * production bundle) and run on its own task queue, so the bench can compare against the engine's limit.
 */
import {
  condition,
  defineSignal,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DlqStatus } from '../src/contract/search-attributes';
import type { BaselineActivities } from './baseline-activities';

const { noop } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '30s' });

/** Runs one no-op activity and returns. */
export async function baselineWorkflow(id: string): Promise<string> {
  await noop(id);
  return id;
}

/** Ends a `baselineParked` workflow. */
export const releaseSignal = defineSignal('release');

/**
 * The bare counterpart of a parked message, for `bench/cache-memory.ts`: it marks itself `DlqStatus = "dead"`
 * (so visibility can count it) and waits for a signal, holding a cache slot like a parked message does.
 */
export async function baselineParked(): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => {
    released = true;
  });
  upsertSearchAttributes([{ key: DlqStatus, value: 'dead' }]);
  await condition(() => released);
}
