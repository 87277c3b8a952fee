/**
 * The worker's memory settings: every entrypoint passes the V8 flags and the environment, this node accepts
 * the flags, and they bound the heap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingWorkerSettings, WORKER_ENV, WORKER_NODE_FLAGS } from '../src/worker/memory-settings';

const root = join(__dirname, '..');

// Churns through objects that survive one scavenge (so V8 would grow the young generation), in a worker
// thread like the SDK's workflow thread, and prints the young generation's size in MiB.
const YOUNG_GENERATION_PROBE = `
const { Worker } = require('node:worker_threads');
new Worker(\`
  const v8 = require('node:v8');
  let live = [];
  for (let i = 0; i < 2e7; i++) { live.push({ i }); if (live.length > 200000) live = []; }
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  console.log(space.space_size / 1048576);
\`, { eval: true });
`;

function youngGenerationMiB(flags: readonly string[]): number {
  const run = spawnSync(process.execPath, [...flags, '-e', YOUNG_GENERATION_PROBE], { encoding: 'utf8' });
  assert.equal(run.status, 0, `node ${flags.join(' ')} failed: ${run.stderr}`);
  return Number(run.stdout.trim());
}

describe('worker memory settings', () => {
  const envItems = Object.entries(WORKER_ENV).map(([name, value]) => `${name}=${value}`);

  it('are passed by npm start, npm run worker and the Docker image', () => {
    const scripts = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    // cross-env sets the variables on every platform (cmd.exe has no `NAME=value command` syntax).
    const node = `cross-env ${envItems.join(' ')} node ${WORKER_NODE_FLAGS.join(' ')} `;
    assert.ok(scripts.start!.includes(`${node}dist/src/ops/start.js`), `start: ${scripts.start}`);
    assert.ok(scripts.worker!.includes(`${node}dist/src/worker/main.js`), `worker: ${scripts.worker}`);
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    assert.ok(cmd, 'the Dockerfile has a CMD in exec form');
    assert.deepEqual(JSON.parse(cmd), ['node', ...WORKER_NODE_FLAGS, 'dist/src/worker/main.js']);
    const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    for (const item of envItems) assert.match(runtimeStage, new RegExp(`^ENV ${item}$`, 'm'));
  });

  it('are accepted by this node and cap the young generation of a worker thread', () => {
    // 2 MiB semi-spaces: the young generation stays within two of them. Without the flags it grows to 32.
    assert.ok(youngGenerationMiB(WORKER_NODE_FLAGS) <= 4);
    assert.ok(youngGenerationMiB([]) > 4, 'the probe must be able to tell the difference');
  });

  it('names what a process lacks', () => {
    const env = { ...WORKER_ENV, PATH: '/usr/bin' };
    assert.deepEqual(missingWorkerSettings([...WORKER_NODE_FLAGS, '--enable-source-maps'], env), []);
    assert.deepEqual(missingWorkerSettings(['--max-semi-space-size=2'], env), ['--heap-growing-percent=30']);
    assert.deepEqual(missingWorkerSettings([], {}), [...WORKER_NODE_FLAGS, ...envItems]);
    assert.deepEqual(missingWorkerSettings(WORKER_NODE_FLAGS, { MALLOC_ARENA_MAX: '8' }), [
      'MALLOC_ARENA_MAX=2',
    ]);
  });
});
