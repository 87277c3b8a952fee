/**
 * `npm start` tells the truth about what it started: a port it needs that another process holds stops it
 * with a message naming the port and exit code 3 (it used to report "Started the Temporal dev server" while its
 * worker joined the server already on the port), and once running it prints the TEMPORAL_ADDRESS the CLI needs
 * next to the Web UI address. Runs src/ops/start.ts as `npm start` runs dist/src/ops/start.js, on ports of its own.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPortFree, freePort } from '../src/ops/dev-server';
import { requireEnv, uid } from './helpers';

const root = join(__dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'dlq-start-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
}

/**
 * Runs `npm start`'s entry with `env` (without the suite's TEMPORAL_ADDRESS) until it exits or prints that it is
 * running; a running one is stopped with SIGINT. Never leaves it running.
 */
async function runStart(env: Record<string, string>): Promise<Run & { running: boolean }> {
  const base = { ...process.env };
  delete base.TEMPORAL_ADDRESS;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'ops', 'start.ts')], {
    cwd: root,
    env: {
      ...base,
      TEMPORAL_CLI: requireEnv('DLQ_TEST_TEMPORAL_CLI'),
      DLQ_DATA_DIR: dataDir,
      DLQ_DEMO: 'false',
      DLQ_ANALYTICS: 'false',
      TEMPORAL_TASK_QUEUE: `start-${uid()}`,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let running = false;
  try {
    const deadline = Date.now() + 90_000;
    while (child.exitCode === null && Date.now() < deadline) {
      if (out.includes('Press Ctrl+C')) {
        running = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    // Whatever happened, it must not outlive the test (the runner would wait for it forever).
    if (child.exitCode === null) child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
  }
  return { code: await exited, out, running };
}

/** Holds a port on 127.0.0.1 with a plain TCP listener until closed. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { port: address.port, server };
}

describe('npm start', () => {
  it('with its frontend port held by a running Temporal server, says so, starts nothing and exits 3', async () => {
    // The suite's own dev server holds this port: the case where the worker used to join it silently.
    const taken = Number(requireEnv('TEMPORAL_ADDRESS').split(':').pop());
    const run = await runStart({ DLQ_DEV_SERVER_PORT: String(taken), DLQ_UI_PORT: String(await freePort()) });
    assert.equal(run.running, false, run.out);
    assert.equal(run.code, 3, run.out);
    assert.match(
      run.out,
      new RegExp(`127\\.0\\.0\\.1:${taken}, the dev server's frontend port, is already in use`),
    );
    assert.match(run.out, new RegExp(`DLQ_DEV_SERVER_PORT=${taken}\\); nothing was started`));
    assert.match(
      run.out,
      new RegExp(`A Temporal server answers there .*TEMPORAL_ADDRESS=127\\.0\\.0\\.1:${taken}`),
    );
    assert.doesNotMatch(run.out, /Started the Temporal dev server|Worker polling/);
  });

  it('with its Web UI port held by another process, says so, starts nothing and exits 3', async () => {
    const held = await holdPort();
    try {
      const port = await freePort();
      const run = await runStart({ DLQ_DEV_SERVER_PORT: String(port), DLQ_UI_PORT: String(held.port) });
      assert.equal(run.running, false, run.out);
      assert.equal(run.code, 3, run.out);
      assert.match(
        run.out,
        new RegExp(`127\\.0\\.0\\.1:${held.port}, the dev server's Web UI port, is already in use`),
      );
      assert.match(run.out, new RegExp(`DLQ_UI_PORT=${held.port}\\); nothing was started`));
      assert.doesNotMatch(run.out, /Started the Temporal dev server|Worker polling/);
      // Nothing was left behind on the frontend port either.
      await checkPortFree(port, 'frontend');
    } finally {
      held.server.close();
    }
  });

  it("uses the server named by the Temporal client profile's address, and starts no dev server", async () => {
    const profileFile = join(dataDir, 'temporal.toml');
    writeFileSync(profileFile, `[profile.suite]\naddress = "${requireEnv('TEMPORAL_ADDRESS')}"\n`);
    const run = await runStart({
      TEMPORAL_CONFIG_FILE: profileFile,
      TEMPORAL_PROFILE: 'suite',
      DLQ_DEV_SERVER_PORT: String(await freePort()),
      DLQ_UI_PORT: String(await freePort()),
    });
    assert.equal(run.running, true, run.out);
    assert.match(run.out, /Using the Temporal server at TEMPORAL_ADDRESS/);
    assert.ok(run.out.includes(requireEnv('TEMPORAL_ADDRESS')), run.out);
    assert.doesNotMatch(run.out, /Started the Temporal dev server/);
  });

  it('on free ports, starts its dev server and prints the TEMPORAL_ADDRESS the CLI needs next to the Web UI', async () => {
    const port = await freePort();
    const uiPort = await freePort();
    const metricsPort = await freePort();
    const run = await runStart({
      DLQ_DEV_SERVER_PORT: String(port),
      DLQ_UI_PORT: String(uiPort),
      DLQ_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    });
    assert.equal(run.running, true, run.out);
    assert.match(run.out, /Started the Temporal dev server/);
    assert.match(run.out, new RegExp(`^Temporal Web UI: http://127\\.0\\.0\\.1:${uiPort}$`, 'm'));
    assert.match(
      run.out,
      new RegExp(`^Temporal server: 127\\.0\\.0\\.1:${port} \\(namespace default\\)$`, 'm'),
    );
    assert.match(
      run.out,
      new RegExp(
        `^For the dlq CLI in another shell: export TEMPORAL_ADDRESS=127\\.0\\.0\\.1:${port} DLQ_UI_URL=http://127\\.0\\.0\\.1:${uiPort}$`,
        'm',
      ),
    );
    assert.match(
      run.out,
      new RegExp(`^Prometheus metrics: http://127\\.0\\.0\\.1:${metricsPort}/metrics$`, 'm'),
    );
    assert.equal(run.code, 0, run.out);
    // Ctrl+C stopped the dev server it started: both ports are free again.
    await checkPortFree(port, 'frontend');
    await checkPortFree(uiPort, 'Web UI');
  });
});
