/**
 * `dlq bridge nats`: runs the NATS JetStream source (src/connectors/) until SIGINT or SIGTERM, then drains:
 * the messages in flight finish, nothing unstarted is acked. Progress and counts go to pino.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { createLogger } from '../../logger';
import { formatIssues } from '../../contract/validation-issues';
import { DEFAULT_NATS_DURABLE, natsSource, stripSubjectPrefix } from '../../connectors/nats';
import { runSource } from '../../connectors/source';
import type { SourceCounts } from '../../connectors/source';
import type { CliContext } from '../context';
import { ConnectionError, UserError } from '../context';

/** JetStream names (streams, consumers): no whitespace, `.`, `*`, `>`, `/` or `\`. */
const natsName = z
  .string()
  .regex(/^[^\s.*>/\\]{1,200}$/, { error: 'must be 1-200 characters without spaces, . * > / or \\' });

/** The flags of `dlq bridge nats`, validated once. */
export const bridgeNatsFlagsSchema = z.strictObject({
  servers: z
    .string()
    .default('127.0.0.1:4222')
    .transform((text) => text.split(',').map((s) => s.trim()))
    .pipe(
      z
        .array(
          z.string().regex(/^(nats:\/\/|tls:\/\/)?[^\s/,]+:\d{1,5}$/, {
            error: 'each server must be host:port (or nats://host:port)',
          }),
        )
        .min(1),
    ),
  stream: natsName,
  subject: z.string().regex(/^[^\s]{1,255}$/, { error: 'must be a subject filter without spaces' }),
  durable: natsName.default(DEFAULT_NATS_DURABLE),
  maxInFlight: z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number from 1 to 1024' })
    .default('64')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1024, 'must be at most 1024')),
  stripPrefix: z
    .string()
    .regex(/^[^\s*>]{1,200}$/, { error: 'must be a subject prefix without spaces, * or >' })
    .optional(),
  progressEvery: z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number of seconds' })
    .default('5')
    .transform(Number),
});

const total = (c: SourceCounts) => c.started + c.duplicate + c.rejected;

export function register(program: Command, ctx: CliContext): void {
  const bridge = program
    .command('bridge')
    .description('Move messages from a broker into temporal-dlq (ack only after a durable start)');
  bridge
    .command('nats')
    .description(
      'Run a durable JetStream pull consumer: each message becomes a workflow; SIGINT/SIGTERM drains and stops',
    )
    .requiredOption('--stream <name>', 'the JetStream stream to read')
    .requiredOption('--subject <filter>', 'the subject filter of the consumer, e.g. orders.>')
    .option('--servers <list>', 'NATS servers, comma-separated host:port', '127.0.0.1:4222')
    .option('--durable <name>', 'durable consumer name (created when missing)', DEFAULT_NATS_DURABLE)
    .option('--max-in-flight <n>', 'messages being started at once (1-1024)', '64')
    .option('--strip-prefix <prefix>', 'topic = the subject without this prefix (default: the whole subject)')
    .option('--progress-every <seconds>', 'log the counts this often (0: only at the end)', '5')
    .addHelpText(
      'after',
      '\nThe message id is the Nats-Msg-Id header, else <stream>:<sequence>. A message that cannot become an\n' +
        'envelope parks on topic dlq.source-rejected as validation, with its raw body.\n\nExample:\n' +
        '  dlq bridge nats --stream ORDERS --subject "dlq.orders.>" --strip-prefix dlq',
    )
    .action(async (raw: Record<string, unknown>) => {
      const parsed = bridgeNatsFlagsSchema.safeParse(raw);
      if (!parsed.success)
        throw new UserError(
          `invalid flags:\n${formatIssues(parsed.error.issues)
            .map(
              (p) =>
                `  - --${p.replace(/^([a-zA-Z]+)/, (f) => f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))}`,
            )
            .join('\n')}`,
        );
      const flags = parsed.data;
      const config = ctx.config();
      const logger = createLogger(config).child({
        bridge: 'nats',
        stream: flags.stream,
        durable: flags.durable,
      });
      const client = await ctx.client();
      const source = await natsSource({
        servers: flags.servers,
        stream: flags.stream,
        subject: flags.subject,
        durable: flags.durable,
        pullBatch: flags.maxInFlight,
        ...(flags.stripPrefix ? { topicFromSubject: stripSubjectPrefix(flags.stripPrefix) } : {}),
      }).catch((err: unknown) => {
        throw new ConnectionError(
          `NATS ${flags.servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (stop.signal.aborted) return;
        logger.info({ signal }, 'Draining: finishing the messages in flight, taking no new ones');
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const live: SourceCounts = { started: 0, duplicate: 0, rejected: 0, 'retry-later': 0, ackFailures: 0 };
      const progress =
        flags.progressEvery > 0
          ? setInterval(
              () => logger.info({ ...live, total: total(live) }, 'Bridge progress'),
              flags.progressEvery * 1000,
            )
          : undefined;
      logger.info(
        { servers: flags.servers, subject: flags.subject, maxInFlight: flags.maxInFlight },
        'Bridge running',
      );
      try {
        const counts = await runSource(client, source, {
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          maxPayloadBytes: config.DLQ_MAX_PAYLOAD_BYTES,
          maxInFlight: flags.maxInFlight,
          signal: stop.signal,
          logger,
          onSettled: (outcome) => live[outcome]++,
        });
        logger.info({ ...counts, total: total(counts) }, 'Bridge stopped');
        ctx.print(
          `${counts.started} started, ${counts.duplicate} duplicate, ${counts.rejected} rejected, ${counts['retry-later']} given back`,
        );
      } finally {
        clearInterval(progress);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await source.close().catch(() => undefined);
      }
    });
}
