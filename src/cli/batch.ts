/**
 * Temporal's server-side batch operation: one signal to every workflow a visibility query selects.
 * Used by `--server-side` on patch-less bulk retry and on bulk discard. It keeps running if the CLI
 * dies, but gives counts, not per-message verdicts, and the server allows one batch per namespace at
 * a time (a second one is refused with RESOURCE_EXHAUSTED).
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { encodeToPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { UserError } from './context';
import type { CliContext } from './context';
import { hasGrpcCode } from './messages';

const GRPC_RESOURCE_EXHAUSTED = 8;
/** `temporal.api.enums.v1.BatchOperationState` values. */
const BATCH_STATES: Record<number, string> = { 0: 'UNSPECIFIED', 1: 'RUNNING', 2: 'COMPLETED', 3: 'FAILED' };
const RUNNING = 1;
const UNSPECIFIED = 0;

export interface BatchReport {
  jobId: string;
  state: string;
  total: number;
  completed: number;
  failed: number;
}

/** Starts a batch signal and waits until the server reports it finished. */
export async function batchSignal(
  client: Client,
  options: {
    query: string;
    signal: string;
    input: unknown;
    reason: string;
    identity: string;
    timeoutMs?: number;
  },
): Promise<BatchReport> {
  const namespace = client.options.namespace;
  const jobId = `dlq-${options.signal}-${randomUUID()}`;
  const payloads = await encodeToPayloads(client.options.loadedDataConverter, options.input);
  try {
    await client.workflowService.startBatchOperation({
      namespace,
      jobId,
      reason: options.reason,
      visibilityQuery: options.query,
      // No maxOperationsPerSecond: server 1.29 ignores it (only its worker.batcherRPS applies), so the CLI
      // refuses --rate with --server-side rather than promise a limit (SERVER_SIDE_RATE_REFUSED).
      signalOperation: {
        signal: options.signal,
        input: { payloads: payloads ?? [] },
        identity: options.identity,
      },
    });
  } catch (err) {
    if (hasGrpcCode(err, GRPC_RESOURCE_EXHAUSTED))
      throw new UserError(
        `another batch operation is running in namespace ${namespace} (the server runs one at a time); wait for it, or drop --server-side`,
      );
    throw err;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const d = await client.workflowService.describeBatchOperation({ namespace, jobId });
    const state = Number(d.state ?? UNSPECIFIED);
    if (state !== RUNNING && state !== UNSPECIFIED) {
      return {
        jobId,
        state: BATCH_STATES[state] ?? String(state),
        total: Number(d.totalOperationCount ?? 0),
        completed: Number(d.completeOperationCount ?? 0),
        failed: Number(d.failureOperationCount ?? 0),
      };
    }
    if (Date.now() > deadline)
      throw new UserError(
        `batch ${jobId} is still running; follow it with \`temporal batch describe --job-id ${jobId}\``,
      );
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Runs a server-side batch signal for `dlq retry|discard --server-side` and reports it: JSON or one line.
 * Throws `UserError` when any signal failed.
 */
/** Why `--rate` is refused with `--server-side`. */
export const SERVER_SIDE_RATE_REFUSED =
  "--rate cannot limit --server-side: Temporal server 1.29 ignores a batch operation's own rate and applies only its dynamic config worker.batcherRPS (50 operations/s by default, per namespace). Drop --rate to use the server's rate, or drop --server-side for the client-side bulk run, which --rate paces.";

export async function runServerSideBatch(
  ctx: CliContext,
  client: Client,
  json: boolean,
  options: Parameters<typeof batchSignal>[1],
): Promise<BatchReport> {
  const report = await batchSignal(client, options);
  if (json) ctx.json(report);
  else
    ctx.print(
      `batch ${report.jobId} ${report.state}: ${report.completed} signalled, ${report.failed} failed of ${report.total}`,
    );
  if (report.failed > 0) throw new UserError(`${report.failed} signal(s) failed in batch ${report.jobId}`);
  return report;
}
