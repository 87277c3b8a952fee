/** `dlq publish`: one message from flags, or many from a JSONL file or stdin, each with its own result. */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { publishMany } from '../../client/publish';
import type { PublishResult } from '../../client/publish';
import type { CliContext } from '../context';
import { UserError } from '../context';
import { paint, progress } from '../output';
import { parsePositiveInt } from '../pacing';

interface PublishFlags {
  topic?: string;
  id?: string;
  payload?: string;
  correlationId?: string;
  concurrency: string;
  json?: boolean;
}

/** One input line's result. */
interface LineResult {
  line: number;
  ok: boolean;
  workflowId?: string;
  duplicate?: boolean;
  problems?: string[];
}

/** Reads JSONL lines; unparsable lines become results at once, the rest are yielded to publishMany. */
async function* jsonLines(
  input: NodeJS.ReadableStream,
  lineOf: number[],
  bad: (result: LineResult) => void,
): AsyncGenerator<unknown> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line += 1;
    if (!text.trim()) continue;
    let message: unknown;
    try {
      message = JSON.parse(text) as unknown;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      bad({ line, ok: false, problems: [`malformed JSON: ${err.message}`] });
      continue;
    }
    lineOf.push(line);
    yield message;
  }
}

function toLineResult(line: number, result: PublishResult): LineResult {
  if (!result.ok) return { line, ok: false, problems: result.error.problems };
  return { line, ok: true, workflowId: result.workflowId, duplicate: result.duplicate };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('publish')
    .description(
      'Publish messages: one from --topic/--id/--payload, or JSONL (one envelope per line) from a file or stdin',
    )
    .argument('[file]', 'JSONL file of {"id","topic","payload",...} envelopes; `-` or omitted reads stdin')
    .option('--topic <topic>', 'topic of the single message')
    .option('--id <id>', 'id of the single message')
    .option('--payload <json>', 'payload of the single message (JSON)')
    .option('--correlation-id <id>', 'correlation id of the single message')
    .option('--concurrency <n>', 'messages in flight at once', '32')
    .option('--json', 'machine output: one JSON document with every result')
    .addHelpText(
      'after',
      '\nExamples:\n  dlq publish --topic orders --id o-1 --payload \'{"orderId":"o-1","quantity":2}\'\n  dlq publish messages.jsonl\n  cat messages.jsonl | dlq publish --json',
    )
    .action(async (file: string | undefined, flags: PublishFlags) => {
      const single = flags.topic !== undefined || flags.id !== undefined || flags.payload !== undefined;
      if (single && file !== undefined)
        throw new UserError('give either a file or --topic/--id/--payload, not both');
      const concurrency = parsePositiveInt('--concurrency', flags.concurrency, 256);
      const config = ctx.config();
      const options = {
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
        concurrency,
      };
      const results: LineResult[] = [];
      const printLine = (r: LineResult) => {
        if (flags.json) return;
        const where = single ? '' : `line ${r.line}: `;
        if (r.ok)
          ctx.print(
            `${where}${paint(ctx, 'green', r.duplicate ? 'duplicate' : 'published')} ${r.workflowId ?? ''}`,
          );
        else ctx.print(`${where}${paint(ctx, 'red', 'refused')} ${(r.problems ?? []).join('; ')}`);
      };
      const lineOf: number[] = [];
      let source: AsyncIterable<unknown> | Iterable<unknown>;
      if (single) {
        if (flags.topic === undefined || flags.id === undefined || flags.payload === undefined)
          throw new UserError('a single message needs --topic, --id and --payload');
        let payload: unknown;
        try {
          payload = JSON.parse(flags.payload) as unknown;
        } catch (err) {
          if (err instanceof SyntaxError) throw new UserError(`--payload: malformed JSON: ${err.message}`);
          throw err;
        }
        lineOf.push(1);
        source = [
          {
            id: flags.id,
            topic: flags.topic,
            payload,
            ...(flags.correlationId ? { correlationId: flags.correlationId } : {}),
          },
        ];
      } else {
        if (file === undefined && process.stdin.isTTY)
          throw new UserError(
            'nothing to publish: give --topic/--id/--payload, a JSONL file, or pipe JSONL to stdin',
          );
        let input: NodeJS.ReadableStream = process.stdin;
        if (file !== undefined && file !== '-') {
          try {
            await access(file);
          } catch (err) {
            throw new UserError(
              `${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
            );
          }
          input = createReadStream(file, 'utf8');
        }
        source = jsonLines(input, lineOf, (r) => {
          results.push(r);
          printLine(r);
        });
      }
      const client = await ctx.client();
      const bar = progress(ctx, 'publish', 0, !flags.json);
      let seen = 0;
      await publishMany(client, source, {
        ...options,
        onResult: (result, index) => {
          seen += 1;
          bar.setTotal(seen);
          bar.increment();
          const r = toLineResult(lineOf[index] ?? index + 1, result);
          results.push(r);
          printLine(r);
        },
      });
      bar.stop();
      results.sort((a, b) => a.line - b.line);
      const published = results.filter((r) => r.ok && !r.duplicate).length;
      const duplicates = results.filter((r) => r.ok && r.duplicate).length;
      const refused = results.filter((r) => !r.ok).length;
      if (flags.json) ctx.json({ published, duplicates, refused, results });
      else ctx.print(`${published} published, ${duplicates} duplicate, ${refused} refused`);
      if (refused > 0)
        throw new UserError(`${refused} of ${results.length} messages were refused (see above)`);
    });
}
