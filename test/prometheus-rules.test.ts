/**
 * The Prometheus rules and the Grafana dashboard (observability/): `promtool check rules` and `promtool test
 * rules` (one unit test per rule, just below and just above its threshold), the thresholds equal to the
 * built-in rules' defaults, one Prometheus alert per built-in rule, and every PromQL expression of the rules
 * and the dashboard naming only metrics the worker exports (src/contract/metrics.ts, plus the SDK's names in
 * observability/exported-metrics.txt, which test/metrics.test.ts finds in a real scrape) or recorded by the rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import type { AlertRule } from '../src/contract/analytics';
import { parseDuration } from '../src/contract/duration';
import { exportedDlqMetrics } from '../src/contract/metrics';

const PROMTOOL = '/usr/bin/promtool';
const dir = join(__dirname, '..', 'observability');
const rulesDir = join(dir, 'prometheus');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
}
const rules = (
  parse(readFileSync(join(rulesDir, 'dlq-rules.yml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

/** The SDK's metric names checked against a real scrape by test/metrics.test.ts. */
const sdkNames = readFileSync(join(dir, 'exported-metrics.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
/** Prometheus's own series of a scrape target. */
const PROMETHEUS_SERIES = ['up'];
const known = new Set([
  ...exportedDlqMetrics().map((m) => m.name),
  ...sdkNames,
  ...recorded,
  ...PROMETHEUS_SERIES,
]);

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or label names. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:[a-z]+)?/g, ''); // numbers and durations (5m)
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?:\s*\()?/g)) {
    const token = m[0];
    if (token.endsWith('(')) continue; // a function
    if (KEYWORDS.has(token.toLowerCase())) continue;
    names.push(token);
  }
  return names;
}

function promtool(...args: string[]): { status: number | null; out: string } {
  const run = spawnSync(PROMTOOL, args, { cwd: rulesDir, encoding: 'utf8' });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe('observability/prometheus/dlq-rules.yml', () => {
  it('passes promtool check rules and every unit test of promtool test rules', () => {
    assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: apt-get install prometheus (.ci/run does)`);
    const check = promtool('check', 'rules', 'dlq-rules.yml');
    assert.equal(check.status, 0, check.out);
    const config = promtool('check', 'config', 'prometheus.yml');
    assert.equal(config.status, 0, config.out);
    const test = promtool('test', 'rules', 'dlq-rules.test.yml');
    assert.equal(test.status, 0, test.out);
    assert.match(test.out, /SUCCESS/);
  });

  it('has one alert per built-in rule, each unit-tested, with the thresholds of the defaults', () => {
    const defaults = analyticsConfigSchema.parse({});
    const threshold: Record<AlertRule, number | undefined> = {
      'parked-total': defaults.parkedTotal,
      'oldest-age': parseDuration(defaults.oldestAge)! / 1000,
      'security-parked': defaults.securityParked,
      inflow: defaults.inflow,
      'group-growth': defaults.groupGrowth,
      'analytics-failed': undefined, // 15 minutes without a run: see the rules file
      'mirror-undelivered': defaults.mirrorUndelivered,
      'worker-crashed': undefined, // immediate in the workflow; here any such park in 10 minutes
    };
    const tests = readFileSync(join(rulesDir, 'dlq-rules.test.yml'), 'utf8');
    for (const [rule, value] of Object.entries(threshold)) {
      const alert = alerts.find((a) => a.labels?.rule === rule);
      assert.ok(alert, `a Prometheus alert for the built-in rule ${rule}`);
      assert.match(tests, new RegExp(`alertname: ${alert.alert}\\b`), `${alert.alert} has a unit test`);
      if (value !== undefined)
        assert.match(alert.expr, new RegExp(`> ${value}\\s*$`), `${alert.alert} fires above ${value}`);
    }
    assert.equal(alerts.length, Object.keys(threshold).length);
  });

  it('reads only metrics the worker exports or the rules record', () => {
    for (const rule of rules)
      for (const name of metricNames(rule.expr))
        assert.ok(known.has(name), `${rule.alert ?? rule.record}: ${name} is not exported`);
  });
});

describe('observability/grafana/dashboards/temporal-dlq.json', () => {
  const dashboard = JSON.parse(
    readFileSync(join(dir, 'grafana', 'dashboards', 'temporal-dlq.json'), 'utf8'),
  ) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ query?: string }> };
  };

  it('queries only metrics the worker exports or the rules record', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
    assert.ok(exprs.length > 10);
    for (const { title, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${title}: ${expr} reads a metric`);
      for (const name of names) assert.ok(known.has(name), `${title}: ${name} is not exported`);
    }
    for (const variable of dashboard.templating.list)
      if (variable.query?.startsWith('label_values('))
        assert.ok(known.has(/label_values\((\w+)/.exec(variable.query)![1]!));
  });

  it('shows parked by class and topic, inflow, oldest age, re-queue success, failure groups and worker health', () => {
    const all = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const name of [
      'dlq:parked_by_class:latest',
      'dlq:parked_by_topic:latest',
      'dlq:inflow_parks:latest',
      'dlq:oldest_parked_age_seconds:latest',
      'dlq:requeue_success_ratio:latest',
      'dlq:failure_group_parked:latest',
      'temporal_worker_task_slots_used',
      'up',
    ])
      assert.ok(all.includes(name), name);
  });

  it('finds metric names in PromQL (the checker above)', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="b"}[$__rate_interval]))) - on (ns) group_left () y offset 5m > 1',
      ),
      ['x_bucket', 'y'],
    );
  });
});
