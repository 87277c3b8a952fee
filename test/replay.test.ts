/**
 * Deterministic replay: every committed history under test/histories/ must replay against the current
 * workflow code. Parked messages outlive deploys, so a change that fails here would break them in production.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { requireEnv } from './helpers';

const dir = join(__dirname, 'histories');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('replay of committed histories', () => {
  it('has histories for every lifecycle path', () => {
    const names = files.map((f) => f.replace(/\.json$/, ''));
    for (const required of [
      'succeeded',
      'parked-temporary',
      'recovered-after-patch',
      'discarded',
      'stages-resumed',
      'redrive-recovered',
      'expired',
      'continued-as-new-final',
      'security-parked',
      'analytics-run-1',
      'analytics-run-2',
    ]) {
      assert.ok(
        names.includes(required),
        `missing test/histories/${required}.json (record with npm run histories:record)`,
      );
    }
  });

  it('replays every history without a determinism violation', async () => {
    const histories = files.map((f) => ({
      workflowId: f,
      history: historyFromJSON(JSON.parse(readFileSync(join(dir, f), 'utf8'))),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE') } },
      histories,
    )) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
