/** docker-compose.yml cannot run here (no Docker engine), so this checks that it agrees with the code. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../src/config';
import { DEFAULT_TASK_QUEUE } from '../src/shared/names';
import { TEMPORAL_CLI_VERSION } from '../src/temporal-cli';

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
}
const compose = parse(readFileSync(join(__dirname, '..', 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, a Temporal server, the Web UI and the worker', () => {
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker'])
      assert.ok(services[name], `service ${name}`);
    assert.match(services.postgresql!.image!, /^postgres:/);
    assert.match(services.temporal!.image!, /^temporalio\/server:/);
    assert.match(services['temporal-ui']!.image!, /^temporalio\/ui:/);
    for (const [name, svc] of Object.entries(services)) {
      assert.ok(!svc.image?.includes('auto-setup'), `${name} uses the deprecated auto-setup image`);
    }
  });

  it('uses PostgreSQL persistence for the server', () => {
    assert.equal(services.temporal!.environment!.DB, 'postgres12');
    assert.equal(services.temporal!.environment!.POSTGRES_SEEDS, 'postgresql');
  });

  it('publishes the frontend and UI on the ports the code and README use', () => {
    const defaults = loadConfig({});
    assert.ok(services.temporal!.ports!.includes(`${defaults.TEMPORAL_ADDRESS.split(':')[1]}:7233`));
    assert.ok(services['temporal-ui']!.ports!.some((p) => p.startsWith(`${defaults.DLQ_UI_PORT}:`)));
  });

  it('builds the worker from the Dockerfile, as several replicas, with only variables the config reads', () => {
    const worker = services.worker!;
    assert.ok(worker.build);
    assert.ok((worker.deploy?.replicas ?? 1) >= 2);
    const env = worker.environment!;
    for (const name of Object.keys(env))
      assert.ok(CONFIG_VARIABLES.includes(name), `${name} is not read by src/config.ts`);
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(env.TEMPORAL_TASK_QUEUE, DEFAULT_TASK_QUEUE);
    assert.doesNotThrow(() => loadConfig(env), 'the worker environment passes config validation');
  });

  it('pins the server version that the pinned CLI embeds', () => {
    // CLI 1.5.1 embeds server 1.29.1 and UI 2.42.1: the same behaviour in Docker as in tests.
    assert.equal(TEMPORAL_CLI_VERSION, '1.5.1');
    assert.equal(services.temporal!.image, 'temporalio/server:1.29.1');
    assert.equal(services['temporal-ui']!.image, 'temporalio/ui:2.42.1');
  });
});
