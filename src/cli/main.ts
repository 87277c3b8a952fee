/** The `dlq` command line. Each command lives in its own module under ./commands and registers itself here. */
import { Command, CommanderError } from 'commander';
import {
  createCliContext,
  ConnectionError,
  EXIT_CONNECTION_ERROR,
  EXIT_USER_ERROR,
  UserError,
} from './context';
import * as publishCommand from './commands/publish';
import * as listCommand from './commands/list';
import * as showCommand from './commands/show';
import * as retryCommand from './commands/retry';
import * as discardCommand from './commands/discard';
import * as exportCommand from './commands/export';
import * as statsCommand from './commands/stats';
import * as configCommand from './commands/config';

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
];

export async function runCli(argv: string[], ctx = createCliContext()): Promise<number> {
  const program = new Command('dlq')
    .description('Operate temporal-dlq: find, inspect, repair, retry, discard and export parked messages.')
    .showHelpAfterError()
    .configureOutput({
      writeOut: (text) => ctx.print(text.trimEnd()),
      writeErr: (text) => ctx.warn(text.trimEnd()),
    })
    .exitOverride();
  for (const command of COMMANDS) command.register(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT_USER_ERROR;
    }
    if (err instanceof ConnectionError) {
      ctx.warn(`error: ${err.message}`);
      return EXIT_CONNECTION_ERROR;
    }
    if (err instanceof UserError) {
      ctx.warn(`error: ${err.message}`);
      return EXIT_USER_ERROR;
    }
    ctx.warn(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_USER_ERROR;
  } finally {
    await ctx.close();
  }
}
