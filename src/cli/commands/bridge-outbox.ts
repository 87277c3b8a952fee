/**
 * `dlq bridge outbox`: runs the PostgreSQL outbox relay (src/connectors/outbox.ts) until SIGINT or SIGTERM, then
 * drains: the rows in flight finish and their batch commits; nothing unstarted is marked published. Every flag
 * has a `DLQ_BRIDGE_OUTBOX_*` environment variable, validated by the same schema; a flag wins.
 */
import type { Command } from 'commander';
import pg from 'pg';
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from '../../contract/duration';
import {
  DEFAULT_OUTBOX_TABLE,
  ensureOutboxTable,
  OUTBOX_TABLE_PATTERN,
  outboxDdl,
  outboxSource,
} from '../../connectors/outbox';
import { runBridge } from '../bridge-run';
import type { CliContext } from '../context';
import { ConnectionError, UserError } from '../context';

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const trueOrFalse = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .transform((v) => v === 'true');

/** The settings of `dlq bridge outbox` (flags, else `DLQ_BRIDGE_OUTBOX_*` variables), all given as text. */
export const bridgeOutboxSettingsSchema = z.strictObject({
  databaseUrl: z
    .string({ error: 'is required: postgres://user@host:5432/database' })
    .regex(/^postgres(ql)?:\/\/\S+$/, { error: 'must be a postgres:// or postgresql:// URL' }),
  table: z
    .string()
    .regex(OUTBOX_TABLE_PATTERN, {
      error: 'must be name or schema.name of lower-case letters, digits and _ (up to 48 each)',
    })
    .default(DEFAULT_OUTBOX_TABLE),
  batch: wholeNumber(1, 10_000).default(100),
  pollEvery: z
    .string()
    .default('5s')
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < 100 || ms > 3_600_000) {
        ctx.addIssue({ code: 'custom', message: `must be ${DURATION_HINT}, from 100ms to 1h` });
        return z.NEVER;
      }
      return ms;
    }),
  maxInFlight: wholeNumber(1, 1024).default(64),
  listen: trueOrFalse.default(true),
  createTable: trueOrFalse.default(false),
  progressEvery: wholeNumber(0, 86_400).default(5),
});
export type BridgeOutboxSettings = z.output<typeof bridgeOutboxSettingsSchema>;

/** Setting → its environment variable (`DLQ_BRIDGE_OUTBOX_DATABASE_URL`, …). */
export const BRIDGE_OUTBOX_ENV = Object.fromEntries(
  Object.keys(bridgeOutboxSettingsSchema.shape).map((key) => [
    key,
    `DLQ_BRIDGE_OUTBOX_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
  ]),
) as Record<keyof BridgeOutboxSettings, string>;

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Validates the settings: a flag given on the command line wins over its variable; a problem names the flag or
 * the variable it came from (never its value: the URL may hold a password).
 */
export function resolveBridgeOutboxSettings(
  flags: Record<string, unknown>,
  fromCli: (key: string) => boolean,
  env: NodeJS.ProcessEnv,
): BridgeOutboxSettings {
  const raw: Record<string, string> = {};
  const origin: Record<string, string> = {};
  for (const [key, variable] of Object.entries(BRIDGE_OUTBOX_ENV)) {
    const flag = flags[key];
    if (flag !== undefined && fromCli(key)) {
      raw[key] = typeof flag === 'string' ? flag : JSON.stringify(flag);
      origin[key] = key === 'listen' ? '--no-listen' : flagOf(key);
    } else if (env[variable] !== undefined && env[variable] !== '') {
      // An empty variable is unset, as for the other bridges (src/cli/bridge-env.ts).
      raw[key] = env[variable];
      origin[key] = variable;
    }
  }
  const parsed = bridgeOutboxSettingsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const name = origin[key] ?? `${flagOf(key)} (or ${BRIDGE_OUTBOX_ENV[key as keyof BridgeOutboxSettings]})`;
    return `  - ${name}: ${issue.message}`;
  });
  throw new UserError(`invalid settings of dlq bridge outbox:\n${lines.join('\n')}`);
}

/** Registers `outbox` under the `bridge` command (added by ./bridge). */
export function register(program: Command, ctx: CliContext): void {
  const bridge = program.commands.find((c) => c.name() === 'bridge');
  if (!bridge) throw new Error('dlq bridge outbox: register ./bridge first');
  const command = bridge
    .command('outbox')
    .description(
      'Relay a PostgreSQL outbox table: each row becomes a workflow and is marked published; SIGINT/SIGTERM drains and stops',
    )
    .option(
      '--database-url <url>',
      'the database of the outbox table, postgres://… (DLQ_BRIDGE_OUTBOX_DATABASE_URL)',
    )
    .option('--table <name>', `the outbox table, name or schema.name (default ${DEFAULT_OUTBOX_TABLE})`)
    .option('--batch <n>', 'rows claimed per transaction, 1-10000 (default 100)')
    .option('--poll-every <duration>', 'look for due rows this often without a NOTIFY (default 5s)')
    .option('--max-in-flight <n>', 'rows being started at once, 1-1024 (default 64)')
    .option(
      '--no-listen',
      'do not LISTEN for the insert trigger: poll only (e.g. behind a transaction pooler)',
    )
    .option('--create-table', 'create the table, its index and its NOTIFY trigger when missing')
    .option('--print-ddl', 'print the DDL of the table and exit')
    .option('--progress-every <seconds>', 'log the counts this often, 0: only at the end (default 5)')
    .addHelpText(
      'after',
      '\nEvery flag has a DLQ_BRIDGE_OUTBOX_* variable (DLQ_BRIDGE_OUTBOX_DATABASE_URL, _TABLE, _BATCH,\n' +
        '_POLL_EVERY, _MAX_IN_FLIGHT, _LISTEN, _CREATE_TABLE, _PROGRESS_EVERY); a flag wins. A row that cannot\n' +
        'become an envelope parks on topic dlq.source-rejected as validation and is marked published with a note.\n\n' +
        'Example:\n  dlq bridge outbox --database-url postgres://app@127.0.0.1:5432/orders --table dlq_outbox',
    );
  command.action(async (flags: Record<string, unknown>) => {
    if (flags.printDdl === true) {
      const table = flags.table ?? process.env[BRIDGE_OUTBOX_ENV.table] ?? DEFAULT_OUTBOX_TABLE;
      if (typeof table !== 'string' || !OUTBOX_TABLE_PATTERN.test(table))
        throw new UserError('--table: must be name or schema.name of lower-case letters, digits and _');
      ctx.print(outboxDdl(table).trimEnd());
      return;
    }
    const settings = resolveBridgeOutboxSettings(
      flags,
      (key) => command.getOptionValueSource(key) === 'cli',
      process.env,
    );
    await runOutboxBridge(settings, ctx);
  });
}

async function checkTable(settings: BridgeOutboxSettings): Promise<void> {
  const where = settings.databaseUrl.replace(/\/\/[^@/]*@/, '//…@');
  if (settings.createTable)
    await ensureOutboxTable(settings.databaseUrl, settings.table).catch((err: unknown) => {
      throw new ConnectionError(`PostgreSQL ${where}: ${err instanceof Error ? err.message : String(err)}`);
    });
  const client = new pg.Client({ connectionString: settings.databaseUrl });
  let exists: boolean;
  try {
    await client.connect();
    const { rows } = await client.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [
      settings.table,
    ]);
    exists = rows[0]?.found != null;
  } catch (err) {
    throw new ConnectionError(`PostgreSQL ${where}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  if (!exists)
    throw new UserError(
      `outbox table ${settings.table} does not exist in ${where}: create it with the DDL of ` +
        '`dlq bridge outbox --print-ddl` (or pass --create-table)',
    );
}

async function runOutboxBridge(settings: BridgeOutboxSettings, ctx: CliContext): Promise<void> {
  await checkTable(settings);
  const config = ctx.config();
  await runBridge(ctx, {
    bridge: 'outbox',
    logFields: {
      table: settings.table,
      batch: settings.batch,
      pollEveryMs: settings.pollEvery,
      listen: settings.listen,
    },
    brokerLabel: `PostgreSQL ${settings.databaseUrl.replace(/\/\/[^@/]*@/, '//…@')}`,
    openSource: (logger) =>
      Promise.resolve(
        outboxSource({
          connectionString: settings.databaseUrl,
          table: settings.table,
          batch: settings.batch,
          pollEveryMs: settings.pollEvery,
          listen: settings.listen,
          maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
          logger,
        }),
      ),
    maxInFlight: settings.maxInFlight,
    progressEvery: settings.progressEvery,
  });
}
