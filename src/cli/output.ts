/** Terminal output helpers: tables, ages, colours and progress bars (TTY only), prompts, JSON input files. */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import Table from 'cli-table3';
import { SingleBar, Presets } from 'cli-progress';
import type { CliContext } from './context';
import { UserError } from './context';

const ANSI = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;

/** Colours text only on a TTY. */
export function paint(ctx: CliContext, colour: keyof typeof ANSI, text: string): string {
  return ctx.isTty ? `\u001b[${ANSI[colour]}m${text}\u001b[0m` : text;
}

/** A plain table (no colours off a TTY). */
export function table(ctx: CliContext, head: string[], rows: Array<Array<string | number>>): string {
  const t = new Table({
    head,
    style: ctx.isTty ? { head: ['cyan'] } : { head: [], border: [] },
    wordWrap: false,
  });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

/** Shortens text to one line of at most `max` characters. */
export function short(text: string | undefined, max = 60): string {
  if (!text) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `3d4h`, `5m`, `12s` since `iso`. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  let s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** A progress bar on stderr when stdout is a TTY and no JSON was asked for; otherwise a no-op. */
export interface Progress {
  setTotal(total: number): void;
  increment(): void;
  stop(): void;
}

export function progress(ctx: CliContext, label: string, total: number, enabled = true): Progress {
  if (!ctx.isTty || !enabled)
    return { setTotal: () => undefined, increment: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta}s`,
      stream: process.stderr,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    setTotal: (n) => bar.setTotal(n),
    increment: () => bar.increment(),
    stop: () => bar.stop(),
  };
}

/**
 * Asks for confirmation. `--yes` skips it; without a terminal to ask on, it refuses (exit 1) rather
 * than act on many messages unattended.
 */
export async function confirm(ctx: CliContext, question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!ctx.isTty || !process.stdin.isTTY)
    throw new UserError(`${question} Refusing without a terminal to confirm on: pass --yes to proceed.`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new UserError('aborted: nothing was changed');
  } finally {
    rl.close();
  }
}

/** Reads and parses a JSON file; a missing file or bad JSON is a user error naming the flag. */
export async function readJsonFile(flag: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UserError(`${flag} ${path}: cannot read the file (${code})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserError(`${flag} ${path}: malformed JSON: ${err.message}`);
    throw err;
  }
}

/** Who acts: `--operator`, else the OS user. Recorded in the audit trail. */
export function operatorName(flag: string | undefined): string {
  if (flag) return flag;
  try {
    return `${userInfo().username} (cli)`;
  } catch {
    return 'cli';
  }
}
