/**
 * The package as an application gets it: `npm pack` of a copy of this checkout (its prepack script builds it),
 * installed into a fresh CommonJS project and a fresh ESM project (the peer dependencies come with it, one copy
 * each). Each project imports `temporal-dlq/client`, `temporal-dlq/worker` and the root, type-checks against
 * them, runs a worker and publishes a message that completes, and runs the standalone worker with a
 * DLQ_HANDLERS_MODULE of its own kind (the ES module one with top-level await). And what `temporal-dlq/client`
 * loads is measured: never the SDK's worker or its native core bridge. Dev tier; the checkout's dist/ is untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { publish } from '../src/client/publish';
import type { MessageOutcome } from '../src/contract/types';
import { requireEnv, uid } from './helpers';

const execFileAsync = promisify(execFile);
const root = join(__dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'dlq-package-'));
const address = requireEnv('TEMPORAL_ADDRESS');
/** The files a tarball may hold: the build of src, workflows and activities, the workflow bundle, the bin. */
const SHIPPED =
  /^(package\.json|README\.md|bin\/dlq\.js|dist\/workflow-bundle\.js|dist\/(src|workflows|activities)\/.+)$/;

/** This process's environment without what an outer `npm test` sets for its own package. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  return { ...env, ...extra };
}

async function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(command, args, { cwd, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** A copy of the checkout's package (sources, build config, bin), sharing its node_modules, packed. */
async function packTarball(): Promise<{ tarball: string; files: string[] }> {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const entry of [
    'package.json',
    'README.md',
    'tsconfig.json',
    'tsconfig.build.json',
    'bin',
    'src',
    'workflows',
    'activities',
    'scripts',
  ])
    cpSync(join(root, entry), join(stage, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', work], stage);
  // npm prints the prepack build's output before the JSON.
  const packed = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  return { tarball: join(work, packed[0]!.filename), files: packed[0]!.files.map((f) => f.path) };
}

/** A fresh project of the given module kind with the tarball (and zod, which its handlers use) installed. */
async function installInto(kind: 'commonjs' | 'module', tarball: string): Promise<string> {
  const dir = join(work, kind === 'module' ? 'app-esm' : 'app-cjs');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `app-${kind}`, version: '1.0.0', private: true, type: kind }, null, 2),
  );
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, 'zod@^4.1.0'], dir);
  return dir;
}

/**
 * The application: one worker (createWorker from temporal-dlq/worker, on the app's own NativeConnection) and a
 * producer (the app's own Client and publish from temporal-dlq/client). The same message is published twice:
 * the second is recognised as a duplicate, which needs one copy of @temporalio/client. It prints the outcome.
 */
const APP_BODY = `
const taskQueue = process.env.TEMPORAL_TASK_QUEUE;
const orders = defineHandler({
  topic: 'pkg-orders',
  schema: z.object({ n: z.number().int() }),
  handle: ({ payload }) => ({ doubled: payload.n * 2 }),
});
const config = loadConfig();
const nativeConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createWorker({ handlers: [orders], connection: nativeConnection, taskQueue });
const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
const message = { id: process.env.MESSAGE_ID, topic: 'pkg-orders', payload: { n: 21 } };
const result = await worker.runUntil(async () => {
  const first = await publish(client, message, { taskQueue });
  const outcome = await client.workflow.getHandle(first.workflowId).result();
  const second = await publish(client, message, { taskQueue });
  return { first, second, outcome };
});
await connection.close();
await nativeConnection.close();
let refused;
try {
  await publish(client, { id: 'x', topic: 'not a topic!', payload: 1 });
} catch (err) {
  refused = err instanceof PublishError && err.code;
}
console.log(JSON.stringify({
  ...result,
  refused,
  rootHasBoth: root.publish === publish && root.createWorker === createWorker && root.PublishError === PublishError,
}));
`;

const CJS_APP = `'use strict';
const { publish, loadConfig, PublishError } = require('temporal-dlq/client');
const { createWorker, defineHandler } = require('temporal-dlq/worker');
const root = require('temporal-dlq');
const { Client, Connection } = require('@temporalio/client');
const { NativeConnection } = require('@temporalio/worker');
const { z } = require('zod');
(async () => {${APP_BODY}})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;

const ESM_APP = `import { publish, loadConfig, PublishError } from 'temporal-dlq/client';
import { createWorker, defineHandler } from 'temporal-dlq/worker';
import * as root from 'temporal-dlq';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
${APP_BODY}`;

/** A consumer's TypeScript against the package's types: named imports of both subpaths and the root. */
const TYPES_CHECK = `import { publish, PublishError, DlqTopic } from 'temporal-dlq/client';
import type { PublishResult } from 'temporal-dlq/client';
import { createWorker, defineHandler, PermanentError } from 'temporal-dlq/worker';
import type { Handler } from 'temporal-dlq/worker';
import { setupServer } from 'temporal-dlq';
import { natsSource, runSource, SOURCE_REJECTS_TOPIC } from 'temporal-dlq/connectors';
import type { Source } from 'temporal-dlq/connectors';
const handler: Handler<{ n: number }> = defineHandler<{ n: number }>({ topic: 't', handle: ({ payload }) => payload.n });
const results: Array<PublishResult['ok']> = [];
const sources: Source[] = [];
export const used = [publish, PublishError, DlqTopic.name, createWorker, PermanentError, setupServer, handler, results, natsSource, runSource, SOURCE_REJECTS_TOPIC, sources];
`;

/** Handler modules for the standalone worker (DLQ_HANDLERS_MODULE), one of each module kind. */
const CJS_HANDLERS = `'use strict';
const { defineHandler } = require('temporal-dlq/worker');
module.exports = {
  handlers: [defineHandler({ topic: 'pkg-standalone', handle: ({ payload }) => ({ via: 'commonjs', payload }) })],
};
`;
const ESM_HANDLERS = `import { defineHandler } from 'temporal-dlq/worker';
// Top-level await: a require() of this module throws ERR_REQUIRE_ASYNC_MODULE.
const via = await Promise.resolve('esm with top-level await');
export const handlers = [defineHandler({ topic: 'pkg-standalone', handle: ({ payload }) => ({ via, payload }) })];
`;

/** What importing `specifier` loads, measured in a fresh node process in `dir` (CommonJS require or ESM import). */
const MEASURE_CJS = `const started = process.hrtime.bigint();
require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const loaded = Object.keys(require.cache);
console.log(JSON.stringify({
  modules: loaded.length,
  ms,
  worker: loaded.some((f) => f.includes('/node_modules/@temporalio/worker/')),
  coreBridge: loaded.some((f) => f.includes('/node_modules/@temporalio/core-bridge/')),
  native: loaded.filter((f) => f.endsWith('.node')).length,
  nats: loaded.some((f) => f.includes('/node_modules/@nats-io/') || f.includes('/node_modules/amqplib/')),
}));
`;
const MEASURE_ESM = `import { createRequire } from 'node:module';
const started = process.hrtime.bigint();
await import(process.argv[1]);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const loaded = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({
  modules: loaded.length,
  ms,
  worker: loaded.some((f) => f.includes('/node_modules/@temporalio/worker/')),
  coreBridge: loaded.some((f) => f.includes('/node_modules/@temporalio/core-bridge/')),
  native: loaded.filter((f) => f.endsWith('.node')).length,
  nats: loaded.some((f) => f.includes('/node_modules/@nats-io/') || f.includes('/node_modules/amqplib/')),
}));
`;

interface Loaded {
  modules: number;
  ms: number;
  worker: boolean;
  coreBridge: boolean;
  native: number;
  /** A broker library (@nats-io/*, or amqplib for RabbitMQ) was loaded. */
  nats: boolean;
}

async function measure(dir: string, kind: 'commonjs' | 'module', specifier: string): Promise<Loaded> {
  const { stdout } =
    kind === 'commonjs'
      ? await run(process.execPath, ['-e', MEASURE_CJS, specifier], dir)
      : await run(process.execPath, ['--input-type=module', '-e', MEASURE_ESM, specifier], dir);
  return JSON.parse(stdout) as Loaded;
}

let tarball: string;
let packedFiles: string[];
const apps: Partial<Record<'commonjs' | 'module', string>> = {};

before(async () => {
  ({ tarball, files: packedFiles } = await packTarball());
  apps.commonjs = await installInto('commonjs', tarball);
  apps.module = await installInto('module', tarball);
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('holds only the build, the workflow bundle and the bin, and declares its peers', () => {
    const stray = packedFiles.filter((f) => !SHIPPED.test(f));
    assert.deepEqual(stray, []);
    for (const needed of [
      'dist/workflow-bundle.js',
      'dist/src/client/index.js',
      'dist/src/worker/index.d.ts',
      'bin/dlq.js',
    ])
      assert.ok(packedFiles.includes(needed), needed);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    for (const name of Object.keys(manifest.dependencies))
      assert.ok(!name.startsWith('@temporalio/') && name !== 'zod', `${name} is a peer dependency`);
    for (const name of ['@temporalio/client', '@temporalio/worker', '@temporalio/workflow', 'zod'])
      assert.ok(manifest.peerDependencies[name], `${name} is a peer dependency`);
  });
});

for (const kind of ['commonjs', 'module'] as const) {
  const label = kind === 'commonjs' ? 'a CommonJS project' : 'an ESM project';
  describe(`installed into ${label}`, () => {
    it('has one copy of the SDK and of zod: the peers at the top, none under temporal-dlq', () => {
      const dir = apps[kind]!;
      for (const name of ['@temporalio/client', '@temporalio/worker', '@temporalio/workflow', 'zod'])
        assert.ok(existsSync(join(dir, 'node_modules', name, 'package.json')), `${name} installed`);
      const own = join(dir, 'node_modules', 'temporal-dlq', 'node_modules');
      for (const name of ['@temporalio', 'zod', 'protobufjs'])
        assert.ok(!existsSync(join(own, name)), `no second ${name} under temporal-dlq`);
      assert.ok(!existsSync(join(dir, 'node_modules', '@temporalio', 'testing')), 'no @temporalio/testing');
      assert.ok(!existsSync(join(dir, 'node_modules', 'cross-env')), 'no cross-env');
    });

    it('type-checks a consumer of both subpaths and the root', async () => {
      const dir = apps[kind]!;
      writeFileSync(join(dir, 'types-check.ts'), TYPES_CHECK);
      // CommonJS with the classic resolution (typesVersions), ESM with node's (the exports map).
      const resolution =
        kind === 'commonjs'
          ? ['--module', 'commonjs', '--moduleResolution', 'node10']
          : ['--module', 'nodenext', '--moduleResolution', 'nodenext'];
      await run(
        process.execPath,
        [
          tsc,
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--target',
          'es2022',
          '--types',
          'node',
          '--typeRoots',
          join(root, 'node_modules', '@types'),
          ...resolution,
          'types-check.ts',
        ],
        dir,
      );
    });

    it('runs a worker from temporal-dlq/worker and publishes from temporal-dlq/client: the message completes', async () => {
      const dir = apps[kind]!;
      const file = kind === 'commonjs' ? 'app.js' : 'app.mjs';
      writeFileSync(join(dir, file), kind === 'commonjs' ? CJS_APP : ESM_APP);
      const messageId = `pkg-${uid()}`;
      const { stdout } = await run(process.execPath, [file], dir, {
        TEMPORAL_ADDRESS: address,
        TEMPORAL_TASK_QUEUE: `package-${uid()}`,
        MESSAGE_ID: messageId,
        LOG_LEVEL: 'silent',
      });
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
        first: { ok: boolean; duplicate: boolean; workflowId: string };
        second: { ok: boolean; duplicate: boolean; workflowId: string };
        outcome: MessageOutcome;
        refused: string | false | undefined;
        rootHasBoth: boolean;
      };
      assert.equal(result.first.duplicate, false);
      assert.equal(result.outcome.status, 'succeeded');
      assert.equal(result.outcome.messageId, messageId);
      assert.deepEqual(result.outcome.stageResults, { handle: { doubled: 42 } });
      assert.equal(result.second.duplicate, true, 'the second publish of the same id');
      assert.equal(result.second.workflowId, result.first.workflowId);
      assert.equal(result.refused, 'INVALID_ENVELOPE');
      assert.equal(result.rootHasBoth, true);
    });

    it(`runs the standalone worker with ${kind === 'module' ? 'an ES module (top-level await)' : 'a CommonJS'} DLQ_HANDLERS_MODULE`, async () => {
      const dir = apps[kind]!;
      // `.js` either way: the project's `type` makes it CommonJS or an ES module.
      const file = 'handlers.js';
      writeFileSync(join(dir, file), kind === 'commonjs' ? CJS_HANDLERS : ESM_HANDLERS);
      const taskQueue = `package-standalone-${uid()}`;
      const child = spawn(
        process.execPath,
        [join('node_modules', 'temporal-dlq', 'dist', 'src', 'worker', 'main.js')],
        {
          cwd: dir,
          env: cleanEnv({
            TEMPORAL_ADDRESS: address,
            TEMPORAL_TASK_QUEUE: taskQueue,
            DLQ_HANDLERS_MODULE: file,
            DLQ_ANALYTICS: 'false',
            LOG_FORMAT: 'json',
            LOG_LEVEL: 'info',
          }),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const connection = await Connection.connect({ address });
      try {
        const deadline = Date.now() + 60_000;
        while (!out.includes('Worker polling') && child.exitCode === null && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 200));
        assert.match(out, /Worker polling/, out);
        const client = new Client({ connection });
        const published = await publish(
          client,
          { id: uid(), topic: 'pkg-standalone', payload: { kind } },
          { taskQueue },
        );
        assert.ok(published.ok);
        const outcome = (await client.workflow.getHandle(published.workflowId).result()) as MessageOutcome;
        assert.equal(outcome.status, 'succeeded');
        assert.deepEqual(outcome.stageResults.handle, {
          via: kind === 'commonjs' ? 'commonjs' : 'esm with top-level await',
          payload: { kind },
        });
      } finally {
        await connection.close();
        if (child.exitCode === null) child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
      }
      assert.equal(await exited, 0, out);
    });

    it('temporal-dlq/client loads neither the SDK worker nor its native core bridge (the root does)', async (t) => {
      const dir = apps[kind]!;
      const client = await measure(dir, kind, 'temporal-dlq/client');
      const everything = await measure(dir, kind, 'temporal-dlq');
      t.diagnostic(
        `${kind}: temporal-dlq/client ${client.modules} modules in ${Math.round(client.ms)} ms; ` +
          `temporal-dlq ${everything.modules} modules in ${Math.round(everything.ms)} ms`,
      );
      // The control: the root loads the worker and the bridge, so the measurement can see them.
      assert.equal(everything.worker, true);
      assert.equal(everything.coreBridge, true);
      assert.ok(everything.native >= 1);
      assert.deepEqual(
        { worker: client.worker, coreBridge: client.coreBridge, native: client.native },
        { worker: false, coreBridge: false, native: 0 },
      );
      assert.ok(client.modules < everything.modules, `${client.modules} < ${everything.modules}`);
    });

    it('temporal-dlq/connectors loads the broker library but not the SDK worker; the client, worker and root load none', async (t) => {
      const dir = apps[kind]!;
      const connectors = await measure(dir, kind, 'temporal-dlq/connectors');
      const client = await measure(dir, kind, 'temporal-dlq/client');
      t.diagnostic(
        `${kind}: temporal-dlq/connectors ${connectors.modules} modules in ${Math.round(connectors.ms)} ms`,
      );
      assert.deepEqual(
        { nats: connectors.nats, worker: connectors.worker, coreBridge: connectors.coreBridge },
        { nats: true, worker: false, coreBridge: false },
      );
      assert.equal(client.nats, false);
      assert.equal(
        (await measure(dir, kind, 'temporal-dlq')).nats,
        false,
        'the root loads no broker library',
      );
      // createWorker({ sources }) takes sources built by the application: the worker entry loads no broker.
      assert.equal(
        (await measure(dir, kind, 'temporal-dlq/worker')).nats,
        false,
        'the worker loads no broker library',
      );
    });
  });
}
