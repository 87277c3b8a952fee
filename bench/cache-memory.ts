/**
 * Worker memory per cached workflow, temporal-dlq against bare Temporal: `npx tsx bench/cache-memory.ts`.
 *
 * Parks 500, 1000, 1500 and 2000 workflows with a cache big enough to hold them all, once with the real
 * worker and parked messages, once with a bare workflow that only waits for a signal (`baselineParked`),
 * each in a fresh worker child running compiled JavaScript, and prints the child's RSS at each step. The
 * slope is the cost of one cached workflow. Not part of `npm run bench` (it answers one question).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureTemporalCli } from '../src/ops/temporal-cli';
import { startDevServer } from '../src/ops/dev-server';
import { setupServer } from '../src/ops/setup';
import { WORKFLOWS_ENTRY } from '../src/worker/bundle-path';
import { publish } from '../src/client/publish';
import { PARKED_QUERY } from '../src/contract/queries';
import { BASELINE_PARKED_WORKFLOW } from './baseline-activities';
import { TOPIC_PARK } from './handlers';
import { compileWorkerChild, startWorkerProcess } from './worker-process';
import { mapLimit, mib, sleep, until } from './stats';

const STEPS = [500, 1000, 1500, 2000];
const CACHE = 5000;
const noop = (): void => undefined;
const quiet = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

async function main(): Promise<void> {
  const server = await startDevServer({ cliPath: await ensureTemporalCli(), uiPort: false });
  try {
    const connection = await Connection.connect({ address: server.address });
    await setupServer(connection, { namespace: 'default', retention: '1d' });
    const client = new Client({ connection });
    const dir = mkdtempSync(join(tmpdir(), 'dlq-cache-memory-'));
    const script = compileWorkerChild(join(dir, 'compiled'));
    for (const mode of ['baseline', 'dlq'] as const) {
      const bundlePath = join(dir, `${mode}.js`);
      const workflowsPath = mode === 'dlq' ? WORKFLOWS_ENTRY : require.resolve('./baseline-workflows');
      writeFileSync(bundlePath, (await bundleWorkflowCode({ workflowsPath, logger: quiet })).code);
      const taskQueue = `cache-memory-${mode}`;
      const worker = await startWorkerProcess({
        mode,
        script,
        address: server.address,
        taskQueue,
        bundlePath,
        maxCached: CACHE,
        tuning: {},
      });
      try {
        await sleep(3000);
        const idle = await worker.memory();
        const line = [`${mode}: idle ${mib(idle.rss)} MiB`];
        let started = 0;
        for (const step of STEPS) {
          const ids = Array.from({ length: step - started }, (_, i) => `${mode}-${started + i}`);
          started = step;
          await mapLimit(ids, 16, async (id) => {
            if (mode === 'dlq') await publish(client, { id, topic: TOPIC_PARK, payload: {} }, { taskQueue });
            else await client.workflow.start(BASELINE_PARKED_WORKFLOW, { workflowId: id, taskQueue });
          });
          await until(
            `${step} parked`,
            async () =>
              (await client.workflow.count(`TaskQueue = '${taskQueue}' AND ${PARKED_QUERY}`)).count >= step,
            600_000,
            300,
          );
          await sleep(5000);
          line.push(`${step} cached ${mib((await worker.memory()).rss)} MiB`);
        }
        const last = await worker.memory();
        line.push(
          `≈ ${((mib(last.rss) - mib(idle.rss)) / STEPS[STEPS.length - 1]!).toFixed(2)} MiB per cached workflow`,
        );
        console.log(line.join(' · '));
      } finally {
        await worker.stop();
      }
    }
    await connection.close();
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
