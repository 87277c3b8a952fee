/**
 * Alert rules and the alert lifecycle, as pure functions: which conditions hold for a snapshot, and
 * what to send given the alerts the previous run left active. Workflow-safe and unit-tested on its own.
 */
import type {
  ActiveAlert,
  AlertCondition,
  AlertNotification,
  AnalyticsConfig,
  AnalyticsResult,
  CarriedTrend,
  DlqSnapshot,
  ParkBucket,
  WebhookDelivery,
} from './analytics';
import { parseDuration } from './duration';

/** What the rules look at. */
export interface RuleInput {
  snapshot: DlqSnapshot;
  config: AnalyticsConfig;
  /** The previous run's result (`workflowInfo().lastResult`), if any. */
  previous?: AnalyticsResult;
  /** The previous run failed (`workflowInfo().lastFailure`). */
  lastFailure?: { message: string; type?: string };
}

const ms = (text: string): number => parseDuration(text) ?? 0;

/** Every condition that holds now. */
export function evaluateRules(input: RuleInput): AlertCondition[] {
  const { snapshot, config, previous, lastFailure } = input;
  const out: AlertCondition[] = [];
  const total = snapshot.parked.total;
  if (total > config.parkedTotal) {
    out.push({
      id: 'parked-total',
      rule: 'parked-total',
      severity: 'warning',
      message: `${total} messages parked (threshold ${config.parkedTotal})`,
      value: total,
      threshold: config.parkedTotal,
    });
  }
  const oldestMs = ms(config.oldestAge);
  const oldest = snapshot.oldest;
  // When the bounded search did not prove the oldest, the count of messages over the threshold decides.
  const overAge = oldest?.exact === false ? (oldest.overAge ?? 0) : 0;
  if (oldest && (oldest.ageMs > oldestMs || overAge > 0)) {
    out.push({
      id: 'oldest-age',
      rule: 'oldest-age',
      severity: 'warning',
      message:
        oldest.ageMs > oldestMs
          ? `Oldest parked message ${oldest.workflowId} is ${oldest.exact === false ? 'at least ' : ''}${formatAge(oldest.ageMs)} old (threshold ${config.oldestAge})`
          : `${overAge} parked message(s) older than ${config.oldestAge} (threshold ${config.oldestAge}; the oldest was not pinned down within the visibility budget)`,
      value: Math.max(oldest.ageMs, overAge > 0 ? oldestMs + 1 : 0),
      threshold: oldestMs,
    });
  }
  const security = snapshot.parked.byClass.security;
  if (security > config.securityParked) {
    out.push({
      id: 'security-parked',
      rule: 'security-parked',
      severity: 'critical',
      message: `${security} security failures parked (threshold ${config.securityParked})`,
      value: security,
      threshold: config.securityParked,
    });
  }
  const undelivered = snapshot.undeliveredMirror ?? 0;
  // Settings written before the field have none: the default, 0.
  const undeliveredThreshold = config.mirrorUndelivered ?? 0;
  if (undelivered > undeliveredThreshold) {
    out.push({
      id: 'mirror-undelivered',
      rule: 'mirror-undelivered',
      severity: 'warning',
      message: `${undelivered} message(s) with mirror events or immediate alerts no sink took (DlqUndelivered; threshold ${undeliveredThreshold})`,
      value: undelivered,
      threshold: undeliveredThreshold,
    });
  }
  if (snapshot.inflow && snapshot.inflow.parks > config.inflow) {
    out.push({
      id: 'inflow',
      rule: 'inflow',
      severity: 'warning',
      message: `${snapshot.inflow.parks} messages parked since ${snapshot.inflow.since} (threshold ${config.inflow})`,
      value: snapshot.inflow.parks,
      threshold: config.inflow,
    });
  }
  if (previous) {
    // Only exact counts are compared: a group's listing count (exact: false) is a lower bound.
    const before = new Map(
      previous.snapshot.topGroups.map((g) => [g.fingerprint, g.exact === false ? undefined : g.count]),
    );
    for (const group of snapshot.topGroups) {
      if (group.exact === false) continue;
      if (before.has(group.fingerprint) && before.get(group.fingerprint) === undefined) continue;
      const growth = group.count - (before.get(group.fingerprint) ?? 0);
      if (growth > config.groupGrowth) {
        out.push({
          id: `group-growth:${group.fingerprint}`,
          rule: 'group-growth',
          severity: 'warning',
          message: `Failure group ${group.fingerprint} (${group.errorClass}/${group.reason}, topic ${group.topic}) grew by ${growth} to ${group.count} (threshold ${config.groupGrowth})`,
          value: growth,
          threshold: config.groupGrowth,
        });
      }
    }
  }
  if (lastFailure) {
    out.push({
      id: 'analytics-failed',
      rule: 'analytics-failed',
      severity: 'critical',
      message:
        `The previous analytics run failed${lastFailure.type ? ` (${lastFailure.type})` : ''}: ${lastFailure.message}`.slice(
          0,
          500,
        ),
      value: 1,
      threshold: 0,
    });
  }
  return out;
}

/** The alert lifecycle's answer: what stays active, and what to send now. */
export interface AlertTransition {
  active: ActiveAlert[];
  notifications: AlertNotification[];
}

/**
 * Fires a condition that was not active, re-notifies an active one at most every `renotifyInterval`,
 * and resolves an active alert whose condition no longer holds.
 */
export function transitionAlerts(
  conditions: AlertCondition[],
  previouslyActive: ActiveAlert[],
  now: string,
  renotifyInterval: string,
): AlertTransition {
  const nowMs = Date.parse(now);
  const every = ms(renotifyInterval);
  const before = new Map(previouslyActive.map((a) => [a.id, a]));
  const active: ActiveAlert[] = [];
  const notifications: AlertNotification[] = [];
  for (const condition of conditions) {
    const was = before.get(condition.id);
    if (!was) {
      active.push({ ...condition, firstFiredAt: now, lastNotifiedAt: now });
      notifications.push({ ...condition, kind: 'fired', at: now });
    } else if (nowMs - Date.parse(was.lastNotifiedAt) >= every) {
      active.push({ ...condition, firstFiredAt: was.firstFiredAt, lastNotifiedAt: now });
      notifications.push({ ...condition, kind: 'renotified', at: now });
    } else {
      active.push({ ...condition, firstFiredAt: was.firstFiredAt, lastNotifiedAt: was.lastNotifiedAt });
    }
  }
  const still = new Set(conditions.map((c) => c.id));
  for (const was of previouslyActive) {
    if (still.has(was.id)) continue;
    const { firstFiredAt: _first, lastNotifiedAt: _last, ...condition } = was;
    notifications.push({
      ...condition,
      message: `Resolved: ${was.message}`,
      kind: 'resolved',
      at: now,
    });
  }
  return { active, notifications };
}

/** Rules plus lifecycle, reading the active alerts from the previous result. */
export function evaluateAlerts(input: RuleInput): AlertTransition {
  return transitionAlerts(
    evaluateRules(input),
    input.previous?.alerts.active ?? [],
    input.snapshot.computedAt,
    input.config.renotifyInterval,
  );
}

/** `3d4h`, `2h5m`, `40s`. */
export function formatAge(ageMs: number): string {
  const s = Math.max(0, Math.floor(ageMs / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s % 60}s`;
  return `${s}s`;
}

/** One line for the workflow's current details and the CLI. */
export function summarise(snapshot: DlqSnapshot, active: ActiveAlert[]): string {
  const parts = [
    `${snapshot.parked.total} parked (security ${snapshot.parked.byClass.security})`,
    snapshot.oldest ? `oldest ${formatAge(snapshot.oldest.ageMs)}` : 'none parked',
    snapshot.inflow ? `inflow ${snapshot.inflow.parks}` : 'inflow n/a (first run)',
    snapshot.requeueSuccessRate === null
      ? 're-queue success n/a'
      : `re-queue success ${Math.round(snapshot.requeueSuccessRate * 100)}%`,
    active.length
      ? `${active.length} alert(s) active: ${active.map((a) => a.id).join(', ')}`
      : 'no alert active',
  ];
  return parts.join(' · ');
}

/** Assembles a run's result; shared by the workflow and `dlq stats`. */
export function buildAnalyticsResult(args: {
  config: AnalyticsConfig;
  snapshot: DlqSnapshot;
  previous?: AnalyticsResult;
  transition: AlertTransition;
  webhook: WebhookDelivery;
  undelivered: AlertNotification[];
  deliveryError?: string;
}): AnalyticsResult {
  const { snapshot, previous, transition } = args;
  return {
    version: 1,
    computedAt: snapshot.computedAt,
    config: args.config,
    snapshot,
    growth: previous ? snapshot.parked.total - previous.snapshot.parked.total : null,
    alerts: {
      active: transition.active,
      notifications: transition.notifications,
      webhook: args.webhook,
      undelivered: args.undelivered,
      ...(args.deliveryError ? { deliveryError: args.deliveryError } : {}),
    },
    summary: summarise(snapshot, transition.active),
  };
}

/**
 * What the previous result carries into the next run's snapshot: its trend window end and buckets. Results
 * written before the carried trend (no `snapshot.trend`), or with buckets of another shape, carry nothing:
 * the next run counts inflow from their `computedAt` and starts its buckets unknown.
 */
export function carriedTrendOf(previous: AnalyticsResult | undefined): CarriedTrend | undefined {
  const snapshot = previous?.snapshot;
  const windowEnd = snapshot?.trend?.windowEnd;
  if (!snapshot || typeof windowEnd !== 'string') return undefined;
  const buckets = (value: unknown, max: number): ParkBucket[] | undefined => {
    if (!Array.isArray(value) || value.length > max) return undefined;
    const ok = value.every(
      (b: unknown) =>
        typeof b === 'object' &&
        b !== null &&
        typeof (b as ParkBucket).start === 'string' &&
        ((b as ParkBucket).parks === null ||
          (Number.isInteger((b as ParkBucket).parks) && ((b as ParkBucket).parks ?? 0) >= 0)),
    );
    return ok ? (value as ParkBucket[]).map((b) => ({ start: b.start, parks: b.parks })) : undefined;
  };
  const hourly = buckets(snapshot.hourly, MAX_CARRIED_BUCKETS);
  const daily = buckets(snapshot.daily, MAX_CARRIED_BUCKETS);
  return hourly && daily ? { windowEnd, hourly, daily } : undefined;
}

/** Buckets a carried series may hold, at most (24 hours and 14 days are written). */
export const MAX_CARRIED_BUCKETS = 100;

/** The previous result when it has the shape this version writes; anything else counts as no previous run. */
export function asPreviousResult(value: unknown): AnalyticsResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<AnalyticsResult>;
  if (v.version !== 1 || typeof v.computedAt !== 'string' || !v.snapshot || !v.alerts) return undefined;
  if (!Array.isArray(v.alerts.active) || !Array.isArray(v.snapshot.topGroups)) return undefined;
  return value as AnalyticsResult;
}
