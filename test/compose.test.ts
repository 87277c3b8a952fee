/**
 * docker-compose.yml cannot run here (no Docker engine), so this checks that it agrees with the code and with
 * the suite's production tier (src/ops/production-server.ts): server version, PostgreSQL persistence and
 * visibility, the stock dynamic config, namespace, retention and search attributes. The namespace one-shot's
 * shell script is also run for real, with the Temporal CLI, against the suite's server. The last part checks
 * that "Running in production" (README.md, docs/production.md) states the search-attribute counts of the code.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { CONFIG_VARIABLES, loadConfig } from '../src/config';
import { DEFAULT_TASK_QUEUE } from '../src/contract/names';
import { parseDuration } from '../src/contract/duration';
import { ALL_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes';
import { TEMPORAL_CLI_VERSION } from '../src/ops/temporal-cli';
import { TEMPORAL_SERVER_VERSION } from '../src/ops/temporal-server';
import { DYNAMIC_CONFIG } from '../src/ops/production-server';
import { requireEnv } from './helpers';

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  command?: string[];
  deploy?: { replicas?: number };
}
const root = join(__dirname, '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;
const env = (name: string): Record<string, string> => services[name]?.environment ?? {};

/** Per-namespace custom search attributes SQL visibility allows (server 1.29, PostgreSQL and MySQL). */
const SQL_VISIBILITY_LIMITS = { Keyword: 10, Int: 3, Datetime: 3 } as const;
type CliType = keyof typeof SQL_VISIBILITY_LIMITS;
const CLI_TYPE: Partial<Record<SearchAttributeType, CliType>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DATETIME]: 'Datetime',
};
/** The project's search attributes by CLI type, from the code (src/contract/search-attributes.ts). */
function attributesByType(): Record<CliType, string[]> {
  const byType: Record<CliType, string[]> = { Keyword: [], Int: [], Datetime: [] };
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    const type = CLI_TYPE[key.type];
    assert.ok(type, `${key.name}: type ${key.type} has no SQL visibility limit in this test; add it`);
    byType[type].push(key.name);
  }
  return byType;
}
/** The same, as the namespace one-shot of docker-compose.yml lists them. */
function composeAttributes(): Record<CliType, string[]> {
  const e = env('temporal-namespace');
  const list = (v: string | undefined) => (v ?? '').split(/\s+/).filter(Boolean);
  return {
    Keyword: list(e.KEYWORD_ATTRIBUTES),
    Int: list(e.INT_ATTRIBUTES),
    Datetime: list(e.DATETIME_ATTRIBUTES),
  };
}

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

  it('uses PostgreSQL for persistence and for visibility, as the production tier does', () => {
    const server = env('temporal');
    assert.equal(server.DB, 'postgres12');
    assert.equal(server.POSTGRES_SEEDS, 'postgresql');
    // The image's config template: ENABLE_ES unset or false means the SQL visibility store on the same DB.
    assert.ok(
      !server.ENABLE_ES || server.ENABLE_ES === 'false',
      'Elasticsearch visibility is not what is tested',
    );
    assert.ok(server.VISIBILITY_DBNAME, 'VISIBILITY_DBNAME names the visibility database');
    const schema = services['temporal-schema']!.command!.join('\n');
    assert.match(
      schema,
      new RegExp(`--db ${server.VISIBILITY_DBNAME} update-schema -d \\S+/postgresql/v12/visibility/`),
    );
    assert.match(schema, new RegExp(`--db ${server.DBNAME} update-schema -d \\S+/postgresql/v12/temporal/`));
  });

  it("runs the server with the production tier's dynamic config: the stock one", () => {
    const path = env('temporal').DYNAMIC_CONFIG_FILE_PATH;
    assert.ok(path, 'DYNAMIC_CONFIG_FILE_PATH is set (else the image uses its own file)');
    const mount = services.temporal!.volumes?.find((v) => v.split(':')[1] === path);
    assert.ok(mount, `a volume mounts a file of this repository at ${path}`);
    const file = readFileSync(join(root, mount.split(':')[0]!), 'utf8');
    assert.deepEqual(parse(file) as unknown, parse(DYNAMIC_CONFIG) as unknown);
  });

  it('registers the namespace with the retention the worker sets', () => {
    const ns = env('temporal-namespace');
    const worker = loadConfig(env('worker'));
    assert.equal(ns.NAMESPACE, worker.TEMPORAL_NAMESPACE);
    assert.equal(parseDuration(ns.RETENTION ?? ''), worker.DLQ_RETENTION);
  });

  it('registers exactly the search attributes of src/contract/search-attributes.ts, within SQL visibility limits', () => {
    const code = attributesByType();
    assert.deepEqual(composeAttributes(), code);
    for (const type of Object.keys(SQL_VISIBILITY_LIMITS) as CliType[])
      assert.ok(
        code[type].length <= SQL_VISIBILITY_LIMITS[type],
        `${code[type].length} ${type} attributes; SQL visibility allows ${SQL_VISIBILITY_LIMITS[type]} per namespace`,
      );
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
    const workerEnv = worker.environment!;
    for (const name of Object.keys(workerEnv))
      assert.ok(CONFIG_VARIABLES.includes(name), `${name} is not read by src/config.ts`);
    assert.equal(workerEnv.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(workerEnv.TEMPORAL_TASK_QUEUE, DEFAULT_TASK_QUEUE);
    assert.doesNotThrow(() => loadConfig(workerEnv), 'the worker environment passes config validation');
  });

  it('runs Prometheus with the DLQ rules, scraping the workers, and Grafana with the dashboard', () => {
    assert.equal(env('worker').DLQ_METRICS_ADDRESS, '0.0.0.0:9464');
    const prometheus = services.prometheus!;
    assert.match(prometheus.image!, /^prom\/prometheus:v\d+\.\d+\.\d+$/);
    assert.ok(prometheus.volumes!.includes('./observability/prometheus:/etc/prometheus:ro'));
    assert.ok(prometheus.command!.includes('--config.file=/etc/prometheus/prometheus.yml'));
    const scrape = parse(
      readFileSync(join(root, 'observability', 'prometheus', 'prometheus.yml'), 'utf8'),
    ) as {
      rule_files: string[];
      scrape_configs: Array<{ dns_sd_configs: Array<{ names: string[]; port: number }> }>;
    };
    assert.deepEqual(scrape.rule_files, ['dlq-rules.yml']);
    assert.deepEqual(scrape.scrape_configs[0]!.dns_sd_configs[0], {
      names: ['worker'],
      type: 'A',
      port: 9464,
    });
    const grafana = services.grafana!;
    assert.match(grafana.image!, /^grafana\/grafana:\d+\.\d+\.\d+$/);
    assert.ok(grafana.volumes!.includes('./observability/grafana/provisioning:/etc/grafana/provisioning:ro'));
    assert.ok(grafana.volumes!.includes('./observability/grafana/dashboards:/var/lib/grafana/dashboards:ro'));
    const provider = parse(
      readFileSync(join(root, 'observability', 'grafana', 'provisioning', 'dashboards', 'dlq.yml'), 'utf8'),
    ) as { providers: Array<{ options: { path: string } }> };
    assert.equal(provider.providers[0]!.options.path, '/var/lib/grafana/dashboards');
    const datasource = parse(
      readFileSync(
        join(root, 'observability', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'),
        'utf8',
      ),
    ) as { datasources: Array<{ uid: string; url: string }> };
    assert.deepEqual(
      [datasource.datasources[0]!.uid, datasource.datasources[0]!.url],
      ['dlq-prometheus', 'http://prometheus:9090'],
    );
  });

  it('pins the server version of the production tier, which the pinned CLI embeds', () => {
    // CLI 1.5.1 embeds server 1.29.1 and UI 2.42.1: the same behaviour in Docker as in both test tiers.
    assert.equal(TEMPORAL_CLI_VERSION, '1.5.1');
    assert.equal(services.temporal!.image, `temporalio/server:${TEMPORAL_SERVER_VERSION}`);
    assert.equal(services['temporal-schema']!.image, `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`);
    assert.equal(services['temporal-namespace']!.image, `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`);
    assert.equal(services['temporal-ui']!.image, 'temporalio/ui:2.42.1');
  });

  it("the namespace one-shot's script registers the namespace and every attribute on a real server, twice", async () => {
    const address = requireEnv('TEMPORAL_ADDRESS');
    const bin = mkdtempSync(join(tmpdir(), 'dlq-compose-'));
    symlinkSync(requireEnv('DLQ_TEST_TEMPORAL_CLI'), join(bin, 'temporal'));
    // Compose turns `$$` into `$` before the shell sees the script.
    const script = services['temporal-namespace']!.command!.join('\n').replaceAll('$$', '$');
    const namespace = `compose-${randomUUID().slice(0, 8)}`;
    const run = () =>
      spawnSync('/bin/sh', ['-c', script], {
        encoding: 'utf8',
        env: {
          PATH: `${bin}:${process.env.PATH ?? ''}`,
          HOME: process.env.HOME ?? tmpdir(),
          ...env('temporal-namespace'),
          TEMPORAL_ADDRESS: address,
          NAMESPACE: namespace,
        },
        timeout: 120_000,
      });
    for (const round of [1, 2]) {
      const result = run();
      assert.equal(result.status, 0, `run ${round}: ${result.stdout}${result.stderr}`);
    }
    const connection = await Connection.connect({ address });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace });
      const retention = described.config?.workflowExecutionRetentionTtl;
      assert.equal(
        retention ? tsToMs(retention) : 0,
        parseDuration(env('temporal-namespace').RETENTION ?? ''),
      );
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const { IndexedValueType } = temporal.api.enums.v1;
      const wanted: Record<CliType, number> = {
        Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
        Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
      };
      for (const [type, names] of Object.entries(attributesByType()) as Array<[CliType, string[]]>)
        for (const name of names) assert.equal(customAttributes?.[name], wanted[type], `${name} as ${type}`);
    } finally {
      await connection.close();
    }
  });
});

describe('Running in production (README.md, docs/production.md)', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const production = readFileSync(join(root, 'docs', 'production.md'), 'utf8');
  const section = readme.split('\n## Running in production\n')[1]?.split('\n## ')[0] ?? '';

  it('the README has the section and links docs/production.md', () => {
    assert.ok(section, 'README.md has a "## Running in production" section');
    assert.match(section, /\(docs\/production\.md\)/);
  });

  it('both state the search-attribute counts of the code and the SQL visibility limits', () => {
    const code = attributesByType();
    const counts = `${code.Keyword.length} Keyword, ${code.Int.length} Int and ${code.Datetime.length} Datetime`;
    const limits = `${SQL_VISIBILITY_LIMITS.Keyword} Keyword, ${SQL_VISIBILITY_LIMITS.Int} Int and ${SQL_VISIBILITY_LIMITS.Datetime} Datetime`;
    for (const [name, text] of [
      ['README.md', section],
      ['docs/production.md', production],
    ] as const) {
      const flat = text.replace(/\s+/g, ' ');
      assert.ok(flat.includes(`uses ${counts}`), `${name} says the project uses ${counts}`);
      assert.ok(flat.includes(`at most ${limits}`), `${name} states the limits: at most ${limits}`);
    }
    for (const key of ALL_SEARCH_ATTRIBUTES)
      assert.ok(production.includes(`\`${key.name}\``), `docs/production.md names ${key.name}`);
  });
});
