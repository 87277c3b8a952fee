/** The `dlq` command line. Each command lives in its own module under ./commands and registers itself here. */
import { Command } from 'commander';
import { createCliContext, EXIT_OK } from './context';
import { classifyCliFailure, formatFailure, isCommanderSuccess, packageVersion, wantsJson } from './failures';
import * as publishCommand from './commands/publish';
import * as listCommand from './commands/list';
import * as showCommand from './commands/show';
import * as retryCommand from './commands/retry';
import * as discardCommand from './commands/discard';
import * as exportCommand from './commands/export';
import * as statsCommand from './commands/stats';
import * as configCommand from './commands/config';
import * as bridgeCommand from './commands/bridge';
import * as bridgeOutboxCommand from './commands/bridge-outbox';

/** Command modules: each exports `register(program, ctx)`. */
const COMMANDS: Array<{ register: (program: Command, ctx: ReturnType<typeof createCliContext>) => void }> = [
  // Command modules are added here, one line each.
  publishCommand,
  listCommand,
  showCommand,
  retryCommand,
  discardCommand,
  exportCommand,
  statsCommand,
  configCommand,
  bridgeCommand,
  bridgeOutboxCommand, // after bridgeCommand: adds `bridge outbox`
];

/**
 * Runs one `dlq` command and answers its exit code (0 ok; 1 usage or user error; 2 invalid configuration or
 * server unreachable; 3 unexpected failure). Failures go to stderr as one `error: …` line, or with `--json` as
 * one `{"error":{"code","message"}}` document; the stack of an unexpected failure only with `--verbose` or
 * `DEBUG=dlq`.
 */
export async function runCli(argv: string[], ctx = createCliContext()): Promise<number> {
  const json = wantsJson(argv);
  const program = new Command('dlq')
    .description('Operate temporal-dlq: find, inspect, repair, retry, discard and export parked messages.')
    .version(packageVersion(), '-V, --version', 'print the version of temporal-dlq')
    .option('--verbose', 'print the stack of an unexpected failure (so does DEBUG=dlq)')
    .option(
      '--profile <name>',
      'Temporal client profile of the config file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml); set variables win',
    )
    .hook('preAction', () => {
      const { profile } = program.opts<{ profile?: string }>();
      if (profile !== undefined) ctx.selectProfile?.(profile);
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 1 usage or user error; 2 invalid configuration or server unreachable; 3 unexpected\n' +
        'failure. With --json, a failure is one {"error":{"code","message"}} line on stderr.',
    )
    .showHelpAfterError(!json)
    .configureOutput({
      writeOut: (text) => ctx.print(text.trimEnd()),
      writeErr: (text) => ctx.warn(text.trimEnd()),
      // With --json, main writes every failure itself, as JSON.
      outputError: (text, write) => (json ? undefined : write(text)),
    })
    .exitOverride();
  for (const command of COMMANDS) command.register(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    if (isCommanderSuccess(err)) return EXIT_OK;
    const failure = classifyCliFailure(err);
    const verbose = ctx.debug === true || program.opts<{ verbose?: boolean }>().verbose === true;
    // Commander has already printed its own usage errors (with the help), except in JSON mode.
    if (json || failure.code !== 'usage') ctx.warn(formatFailure(failure, { json, verbose }));
    return failure.exitCode;
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
