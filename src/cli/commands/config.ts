/** `dlq config get|set`: the analytics schedule's interval and thresholds, changed while it runs. */
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { UserError } from '../context';
import { table } from '../output';
import { ANALYTICS_CONFIG_KEYS } from '../../contract/analytics-config';
import {
  AnalyticsScheduleMissingError,
  AnalyticsSettingsError,
  getAnalyticsSettings,
  updateAnalyticsSettings,
} from '../../analytics/schedule';
import type { AnalyticsSettings, AnalyticsSettingsChange } from '../../analytics/schedule';

/** Keys whose value is a whole number. */
const NUMBER_KEYS = new Set<string>([
  'parkedTotal',
  'securityParked',
  'inflow',
  'groupGrowth',
  'mirrorUndelivered',
  'topGroups',
  'maxListed',
  'webhookAttempts',
  'visibilityBudget',
]);
/** Keys whose value is a number that may have a fraction. */
const DECIMAL_KEYS = new Set<string>(['visibilityRate']);
const KEYS = ['interval', ...ANALYTICS_CONFIG_KEYS];

/** Parses `key=value` pairs into one change; every problem is reported at once. */
export function parseAssignments(pairs: string[]): AnalyticsSettingsChange {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  let interval: string | undefined;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    const value = eq > 0 ? pair.slice(eq + 1).trim() : '';
    if (!key) {
      problems.push(`"${pair}": write key=value`);
      continue;
    }
    if (!KEYS.includes(key)) {
      problems.push(`${key}: unknown key; known keys: ${KEYS.join(', ')}`);
      continue;
    }
    if (key === 'interval') interval = value;
    else if (key === 'topics')
      config.topics = value
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
    else if (NUMBER_KEYS.has(key)) {
      if (!/^\d+$/.test(value)) problems.push(`${key}: must be a whole number, got "${value}"`);
      else config[key] = Number(value);
    } else if (DECIMAL_KEYS.has(key)) {
      if (!/^\d+(\.\d+)?$/.test(value)) problems.push(`${key}: must be a number, got "${value}"`);
      else config[key] = Number(value);
    } else config[key] = value;
  }
  if (problems.length) throw new AnalyticsSettingsError(problems);
  return {
    ...(interval !== undefined ? { interval } : {}),
    config: config,
  };
}

function rows(settings: AnalyticsSettings): Array<[string, string]> {
  return [
    ['interval', settings.interval],
    ...ANALYTICS_CONFIG_KEYS.map((k): [string, string] => {
      const v = settings.config[k];
      return [k, Array.isArray(v) ? v.join(',') : String(v)];
    }),
  ];
}

function asUserError(err: unknown): never {
  if (err instanceof AnalyticsSettingsError || err instanceof AnalyticsScheduleMissingError)
    throw new UserError(err.message);
  throw err;
}

export function register(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description(
      'Read or change the analytics schedule: interval and alert thresholds (used by the next run)',
    );

  config
    .command('get')
    .description('Show the analytics settings')
    .option('--json', 'machine output')
    .action(async (flags: { json?: boolean }) => {
      const client = await ctx.client();
      const settings = await getAnalyticsSettings(client, ctx.config().DLQ_ANALYTICS_SCHEDULE_ID).catch(
        asUserError,
      );
      if (flags.json) {
        ctx.json(settings);
        return;
      }
      ctx.print(table(ctx, ['key', 'value'], rows(settings)));
      ctx.print(
        `schedule ${settings.scheduleId} on task queue ${settings.taskQueue}${settings.paused ? ' (paused)' : ''}`,
      );
    });

  config
    .command('set')
    .description(
      'Change settings: dlq config set parkedTotal=500 oldestAge=12h interval=1m topics=orders,payments',
    )
    .argument('<key=value...>', `keys: ${KEYS.join(', ')}`)
    .option('--json', 'machine output')
    .action(async (pairs: string[], flags: { json?: boolean }) => {
      let change: AnalyticsSettingsChange;
      try {
        change = parseAssignments(pairs);
      } catch (err) {
        asUserError(err);
      }
      const client = await ctx.client();
      const settings = await updateAnalyticsSettings(
        client,
        change,
        ctx.config().DLQ_ANALYTICS_SCHEDULE_ID,
      ).catch(asUserError);
      if (flags.json) {
        ctx.json(settings);
        return;
      }
      ctx.print(table(ctx, ['key', 'value'], rows(settings)));
      ctx.print('Saved; the next analytics run uses these settings.');
    });
}
