/**
 * The `dlq-analytics` Schedule: created or updated idempotently at start-up. Its interval (the spec) and
 * thresholds (the workflow's argument) change while it runs through `updateAnalyticsSettings` (`dlq config set`),
 * without a redeploy; a bad value is rejected and nothing changes.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleDescription } from '@temporalio/client';
import type { Logger as PinoLogger } from 'pino';
import { analyticsConfigSchema } from '../contract/analytics-config';
import type { AnalyticsConfig, AnalyticsConfigInput, AnalyticsResult } from '../contract/analytics';
import { asPreviousResult } from '../contract/alert-rules';
import { ANALYTICS_SCHEDULE_ID, ANALYTICS_WORKFLOW } from '../contract/names';
import { DURATION_HINT, formatDuration, parseDuration } from '../contract/duration';
import { formatIssues } from '../contract/validation-issues';
import { warnDeprecated } from '../contract/deprecation';

/** Interval of a newly created schedule. @defaultValue `5m` */
export const DEFAULT_ANALYTICS_INTERVAL = '5m';
/** The shortest interval accepted. */
export const MIN_ANALYTICS_INTERVAL_MS = 10_000;

/** What `dlq config get` shows and `dlq config set` changes. */
export interface AnalyticsSettings {
  scheduleId: string;
  /** The schedule's interval, e.g. `5m`. */
  interval: string;
  config: AnalyticsConfig;
  taskQueue: string;
  paused: boolean;
}

/** A bad setting: lists every problem; nothing was changed. */
export class AnalyticsSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid analytics settings (nothing changed): ${problems.join('; ')}`);
    this.name = 'AnalyticsSettingsError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Options of `ensureAnalyticsSchedule`. */
export interface EnsureAnalyticsScheduleOptions {
  /** Task queue of the workers that run `dlqAnalytics`. */
  taskQueue: string;
  /** @defaultValue `dlq-analytics` */
  scheduleId?: string;
  /**
   * Interval of a newly created schedule (an existing one keeps its own): a duration such as `'5m'`, at least
   * `'10s'`. A number of milliseconds is deprecated and still works, with a warning. @defaultValue `'5m'`
   */
  interval?: string | number;
  /** Configuration of a newly created schedule. @defaultValue every default of `analyticsConfigSchema` */
  config?: AnalyticsConfigInput;
  /**
   * Topics this deployment registers: added to the schedule's `topics` (new or existing; none is removed).
   * @defaultValue `[]`
   */
  topics?: readonly string[];
  /** Create the schedule paused (tests trigger it by hand). @defaultValue `false` */
  paused?: boolean;
  logger?: PinoLogger;
}

function intervalMs(interval: string | number): number {
  if (typeof interval === 'number') warnDeprecated('DLQ_DEP_ANALYTICS_INTERVAL_MS');
  const ms = typeof interval === 'number' ? interval : parseDuration(interval);
  if (ms === undefined || ms < MIN_ANALYTICS_INTERVAL_MS)
    throw new AnalyticsSettingsError([`interval: must be ${DURATION_HINT}, at least 10s`]);
  return ms;
}

function parseConfig(input: unknown): AnalyticsConfig {
  const parsed = analyticsConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw new AnalyticsSettingsError(formatIssues(parsed.error.issues));
  return parsed.data;
}

/** Reads the settings from a schedule description. */
export function settingsOf(scheduleId: string, description: ScheduleDescription): AnalyticsSettings {
  const action = description.action;
  const raw: unknown = action.type === 'startWorkflow' ? action.args?.[0] : undefined;
  const parsed = analyticsConfigSchema.safeParse(raw ?? {});
  const every = description.spec.intervals?.[0]?.every;
  return {
    scheduleId,
    interval: every === undefined ? DEFAULT_ANALYTICS_INTERVAL : formatDuration(every),
    config: parsed.success ? parsed.data : parseConfig({}),
    taskQueue: action.type === 'startWorkflow' ? action.taskQueue : '',
    paused: description.state.paused,
  };
}

/**
 * Creates the schedule, or, when it exists, points it at `taskQueue` and adds `topics`, keeping the interval
 * and thresholds an operator may have changed. Safe to call at every start: a second call leaves one schedule.
 */
export async function ensureAnalyticsSchedule(
  client: Client,
  options: EnsureAnalyticsScheduleOptions,
): Promise<{ created: boolean; settings: AnalyticsSettings }> {
  const scheduleId = options.scheduleId ?? ANALYTICS_SCHEDULE_ID;
  const base = parseConfig(options.config ?? {});
  const config = parseConfig({ ...base, topics: union(base.topics, options.topics ?? []) });
  const every = intervalMs(options.interval ?? DEFAULT_ANALYTICS_INTERVAL);
  try {
    const handle = await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow',
        workflowType: ANALYTICS_WORKFLOW,
        workflowId: scheduleId,
        args: [config],
        taskQueue: options.taskQueue,
      },
      // SKIP, not ALLOW_ALL: ALLOW_ALL runs receive no previous result, and the alert state lives there.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
      state: { paused: options.paused ?? false, note: 'temporal-dlq analytics and alerts' },
    });
    options.logger?.info({ scheduleId, interval: formatDuration(every) }, 'Created the analytics schedule');
    return { created: true, settings: settingsOf(scheduleId, await handle.describe()) };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  await handle.update((prev) => {
    const current = settingsOf(scheduleId, prev);
    const merged = parseConfig({
      ...current.config,
      topics: union(current.config.topics, options.topics ?? []),
    });
    return {
      ...prev,
      action: {
        type: 'startWorkflow',
        workflowType: ANALYTICS_WORKFLOW,
        workflowId: scheduleId,
        args: [merged],
        taskQueue: options.taskQueue,
      },
      policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.SKIP },
    };
  });
  const settings = settingsOf(scheduleId, await handle.describe());
  options.logger?.info(
    { scheduleId, interval: settings.interval },
    'Analytics schedule already exists; updated',
  );
  return { created: false, settings };
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

/** The schedule does not exist: exit 1 in the CLI with this message. */
export class AnalyticsScheduleMissingError extends Error {
  constructor(readonly scheduleId: string) {
    super(`The analytics schedule "${scheduleId}" does not exist; start the worker (npm start) to create it`);
    this.name = 'AnalyticsScheduleMissingError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

async function describeOrMissing(client: Client, scheduleId: string): Promise<ScheduleDescription> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new AnalyticsScheduleMissingError(scheduleId);
    throw err;
  }
}

/** The schedule's current settings. Throws `AnalyticsScheduleMissingError` when it does not exist. */
export async function getAnalyticsSettings(
  client: Client,
  scheduleId: string = ANALYTICS_SCHEDULE_ID,
): Promise<AnalyticsSettings> {
  return settingsOf(scheduleId, await describeOrMissing(client, scheduleId));
}

/** Changes to apply: any config field, and/or the interval. */
export interface AnalyticsSettingsChange {
  /** The schedule's new interval: a duration such as `'5m'`, at least `'10s'`. @defaultValue unchanged */
  interval?: string;
  config?: Partial<AnalyticsConfigInput>;
}

/**
 * Validates the change against the current settings first, then applies it in one schedule update.
 * A bad value throws `AnalyticsSettingsError` and nothing changes. The next run uses the new settings.
 */
export async function updateAnalyticsSettings(
  client: Client,
  change: AnalyticsSettingsChange,
  scheduleId: string = ANALYTICS_SCHEDULE_ID,
): Promise<AnalyticsSettings> {
  const current = settingsOf(scheduleId, await describeOrMissing(client, scheduleId));
  const problems: string[] = [];
  let every: number | undefined;
  if (change.interval !== undefined) {
    try {
      every = intervalMs(change.interval);
    } catch (err) {
      if (err instanceof AnalyticsSettingsError) problems.push(...err.problems);
      else throw err;
    }
  }
  const parsed = analyticsConfigSchema.safeParse({ ...current.config, ...change.config });
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues));
  if (problems.length || !parsed.success) throw new AnalyticsSettingsError(problems);
  const config = parsed.data;
  const handle = client.schedule.getHandle(scheduleId);
  await handle.update((prev) => ({
    ...prev,
    ...(every !== undefined ? { spec: { ...prev.spec, intervals: [{ every }] } } : {}),
    action:
      prev.action.type === 'startWorkflow'
        ? { ...prev.action, args: [config] }
        : {
            type: 'startWorkflow',
            workflowType: ANALYTICS_WORKFLOW,
            workflowId: scheduleId,
            args: [config],
            taskQueue: current.taskQueue,
          },
  }));
  return settingsOf(scheduleId, await handle.describe());
}

/** The result of the schedule's most recent completed run, if any (for `dlq stats` inflow and alert state). */
export async function lastAnalyticsResult(
  client: Client,
  scheduleId: string = ANALYTICS_SCHEDULE_ID,
): Promise<AnalyticsResult | undefined> {
  const description = await client.schedule.getHandle(scheduleId).describe();
  for (const action of [...description.info.recentActions].reverse()) {
    if (action.action.type !== 'startWorkflow') continue;
    const { workflowId, firstExecutionRunId } = action.action.workflow;
    const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
    try {
      const info = await handle.describe();
      if (info.status.name !== 'COMPLETED') continue;
      const result = asPreviousResult(await handle.result());
      if (result) return result;
    } catch {
      // Closed beyond retention, or not readable: try an older one.
    }
  }
  return undefined;
}
