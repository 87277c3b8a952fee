/** Alert rules and lifecycle as pure functions: no server. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyticsConfigSchema } from '../src/contract/analytics-config';
import type { AnalyticsConfig, AnalyticsResult, DlqSnapshot, FailureGroup } from '../src/contract/analytics';
import {
  asPreviousResult,
  buildAnalyticsResult,
  evaluateAlerts,
  evaluateRules,
  transitionAlerts,
} from '../src/contract/alert-rules';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

function snapshot(over: Partial<DlqSnapshot> & { total?: number; security?: number } = {}): DlqSnapshot {
  const { total = 0, security = 0, ...rest } = over;
  return {
    computedAt: T0,
    scope: 'WorkflowType = "processMessage"',
    parked: {
      total,
      byClass: { temporary: 0, permanent: total - security, validation: 0, timeout: 0, security },
      byReason: {},
      otherReasons: 0,
      byTopic: {},
      otherTopics: 0,
      reParked: 0,
    },
    retrying: 0,
    resolved: { recovered: 0, discarded: 0, expired: 0 },
    requeueSuccessRate: null,
    averageAttempts: null,
    attemptsDistribution: {},
    oldest: null,
    hourly: [],
    daily: [],
    inflow: null,
    topGroups: [],
    listing: { listed: 0, complete: true },
    serverCalls: 0,
    ...rest,
  };
}

const config = (over: Partial<AnalyticsConfig> = {}): AnalyticsConfig => analyticsConfigSchema.parse(over);
const group = (fingerprint: string, count: number): FailureGroup => ({
  fingerprint,
  count,
  errorClass: 'permanent',
  reason: 'HTTP_404',
  topic: 'orders',
  sampleWorkflowId: 'msg:orders:1',
  sampleMessageId: '1',
});

function resultOf(snap: DlqSnapshot, cfg: AnalyticsConfig, previous?: AnalyticsResult): AnalyticsResult {
  return buildAnalyticsResult({
    config: cfg,
    snapshot: snap,
    ...(previous ? { previous } : {}),
    transition: evaluateAlerts({ snapshot: snap, config: cfg, ...(previous ? { previous } : {}) }),
    webhook: 'disabled',
    undelivered: [],
  });
}

describe('alert rules', () => {
  it('has the documented defaults', () => {
    const c = config();
    assert.equal(c.parkedTotal, 1000);
    assert.equal(c.oldestAge, '24h');
    assert.equal(c.securityParked, 10);
    assert.equal(c.renotifyInterval, '1h');
  });

  it('rejects bad values by name', () => {
    const r = analyticsConfigSchema.safeParse({ parkedTotal: -1, oldestAge: 'soon', topics: ['bad topic'] });
    assert.equal(r.success, false);
    const paths = r.error.issues.map((i) => String(i.path[0])).sort();
    assert.deepEqual(paths, ['oldestAge', 'parkedTotal', 'topics']);
    assert.equal(analyticsConfigSchema.safeParse({ nope: 1 }).success, false);
  });

  it('fires each rule only above its threshold', () => {
    const c = config({ parkedTotal: 10, securityParked: 2, inflow: 5, oldestAge: '1h' });
    assert.deepEqual(evaluateRules({ snapshot: snapshot({ total: 10, security: 2 }), config: c }), []);
    const ids = evaluateRules({
      snapshot: snapshot({
        total: 11,
        security: 3,
        inflow: { since: T0, parks: 6 },
        oldest: { workflowId: 'msg:a:1', messageId: '1', topic: 'a', parkedAt: T0, ageMs: 3_600_001 },
      }),
      config: c,
    }).map((x) => `${x.id}/${x.severity}`);
    assert.deepEqual(ids, [
      'parked-total/warning',
      'oldest-age/warning',
      'security-parked/critical',
      'inflow/warning',
    ]);
  });

  it('flags a failure group that grew by more than the threshold since the previous run', () => {
    const c = config({ groupGrowth: 5 });
    const first = resultOf(snapshot({ total: 12, topGroups: [group('aaa', 10), group('bbb', 2)] }), c);
    const now = snapshot({
      computedAt: at(5),
      total: 30,
      topGroups: [group('aaa', 15), group('bbb', 8), group('ccc', 7)],
    });
    const ids = evaluateRules({ snapshot: now, config: c, previous: first }).map((x) => x.id);
    assert.deepEqual(ids, ['group-growth:bbb', 'group-growth:ccc']);
    // No previous run: growth is unknown, so nothing fires.
    assert.deepEqual(evaluateRules({ snapshot: now, config: c }), []);
  });

  it('raises a critical alert when the previous analytics run failed', () => {
    const [cond] = evaluateRules({
      snapshot: snapshot(),
      config: config(),
      lastFailure: { message: 'visibility unavailable', type: 'ServerError' },
    });
    assert.equal(cond?.id, 'analytics-failed');
    assert.equal(cond?.severity, 'critical');
    assert.match(cond?.message ?? '', /ServerError/);
  });
});

describe('alert lifecycle', () => {
  const cond = {
    id: 'parked-total',
    rule: 'parked-total',
    severity: 'warning',
    message: 'm',
    value: 5,
    threshold: 1,
  } as const;

  it('fires once, stays quiet inside the re-notify interval, re-notifies after it, and resolves', () => {
    const fired = transitionAlerts([cond], [], at(0), '1h');
    assert.deepEqual(
      fired.notifications.map((n) => n.kind),
      ['fired'],
    );
    const quiet = transitionAlerts([cond], fired.active, at(59), '1h');
    assert.deepEqual(quiet.notifications, []);
    assert.equal(quiet.active[0]?.lastNotifiedAt, at(0));
    const again = transitionAlerts([cond], quiet.active, at(60), '1h');
    assert.deepEqual(
      again.notifications.map((n) => n.kind),
      ['renotified'],
    );
    assert.equal(again.active[0]?.firstFiredAt, at(0));
    const resolved = transitionAlerts([], again.active, at(61), '1h');
    assert.deepEqual(
      resolved.notifications.map((n) => `${n.kind}:${n.id}`),
      ['resolved:parked-total'],
    );
    assert.deepEqual(resolved.active, []);
  });

  it('carries the state through a JSON round trip of the result (lastResult)', () => {
    const c = config({ parkedTotal: 1 });
    const first = resultOf(snapshot({ total: 2 }), c);
    assert.equal(first.alerts.notifications.length, 1);
    const carried = asPreviousResult(JSON.parse(JSON.stringify(first)));
    assert.ok(carried);
    const second = resultOf(snapshot({ computedAt: at(5), total: 3 }), c, carried);
    assert.deepEqual(second.alerts.notifications, []);
    assert.equal(second.growth, 1);
    const third = resultOf(snapshot({ computedAt: at(10), total: 1 }), c, second);
    assert.deepEqual(
      third.alerts.notifications.map((n) => n.kind),
      ['resolved'],
    );
  });

  it('ignores a previous result of another shape', () => {
    assert.equal(asPreviousResult(undefined), undefined);
    assert.equal(asPreviousResult({ version: 2 }), undefined);
    assert.equal(asPreviousResult('x'), undefined);
  });
});
