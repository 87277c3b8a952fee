/** `dlq bridge rabbitmq`: runs the RabbitMQ source (src/connectors/rabbitmq.ts) until SIGINT or SIGTERM. */
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_RABBITMQ_PREFETCH, rabbitmqSource } from '../../connectors/rabbitmq';
import { stripTopicPrefix } from '../../connectors/source';
import { COMMON_BRIDGE_FLAGS, parseBridgeFlags, progressEverySchema } from '../bridge-env';
import type { BridgeFlagSpec } from '../bridge-env';
import { runBridge } from '../bridge-run';
import type { CliContext } from '../context';

/** The flags of `dlq bridge rabbitmq` and their variables. */
export const RABBITMQ_BRIDGE_FLAGS: readonly BridgeFlagSpec[] = [
  { key: 'url', env: 'DLQ_BRIDGE_RABBITMQ_URL' },
  { key: 'queue', env: 'DLQ_BRIDGE_RABBITMQ_QUEUE' },
  { key: 'prefetch', env: 'DLQ_BRIDGE_RABBITMQ_PREFETCH' },
  { key: 'stripPrefix', env: 'DLQ_BRIDGE_RABBITMQ_STRIP_PREFIX' },
  ...COMMON_BRIDGE_FLAGS,
];

/** The flags of `dlq bridge rabbitmq`, validated once. */
export const bridgeRabbitmqFlagsSchema = z.strictObject({
  url: z
    .string()
    .default('amqp://guest:guest@127.0.0.1:5672')
    .pipe(z.string().regex(/^amqps?:\/\/[^\s]+$/, { error: 'must be an amqp:// or amqps:// URL' })),
  queue: z
    .string({ error: 'is required' })
    .regex(/^[^\s]{1,255}$/, { error: 'must be a queue name of 1-255 characters without spaces' }),
  prefetch: z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number from 1 to 1024' })
    .default(String(DEFAULT_RABBITMQ_PREFETCH))
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(1024, 'must be at most 1024')),
  stripPrefix: z
    .string()
    .regex(/^[^\s*#]{1,200}$/, { error: 'must be a routing-key prefix without spaces, * or #' })
    .optional(),
  progressEvery: progressEverySchema,
});

/** A URL for logs and errors: the password masked. */
function safeUrl(url: string): string {
  return url.replace(/^(amqps?:\/\/[^:/@]*):[^@]*@/, '$1:***@');
}

export function registerRabbitmq(bridge: Command, ctx: CliContext): void {
  bridge
    .command('rabbitmq')
    .description(
      'Consume a RabbitMQ queue with manual acks: each message becomes a workflow; SIGINT/SIGTERM drains and stops',
    )
    .option('--queue <name>', 'the queue to consume (must exist) [DLQ_BRIDGE_RABBITMQ_QUEUE]')
    .option(
      '--url <amqp-url>',
      'AMQP URL (default amqp://guest:guest@127.0.0.1:5672) [DLQ_BRIDGE_RABBITMQ_URL]',
    )
    .option(
      '--prefetch <n>',
      `unacked messages delivered ahead, also the starts in flight (1-1024, default ${DEFAULT_RABBITMQ_PREFETCH}) [DLQ_BRIDGE_RABBITMQ_PREFETCH]`,
    )
    .option(
      '--strip-prefix <prefix>',
      'topic = the routing key without this prefix (default: the whole routing key) [DLQ_BRIDGE_RABBITMQ_STRIP_PREFIX]',
    )
    .option(
      '--progress-every <seconds>',
      'log the counts this often (0: only at the end; default 5) [DLQ_BRIDGE_PROGRESS_EVERY]',
    )
    .addHelpText(
      'after',
      '\nThe message id is the AMQP message-id property, else amqp-<SHA-256 of queue, exchange, routing key,\n' +
        'timestamp and body>: two identical bodies without message-id and timestamp collapse into one. A flag\n' +
        'wins over its variable. A message that cannot become an envelope parks on topic dlq.source-rejected\n' +
        'as validation, with its raw body.\n\nExample:\n' +
        '  dlq bridge rabbitmq --url amqp://guest:guest@127.0.0.1:5672 --queue orders --strip-prefix dlq',
    )
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseBridgeFlags(
        bridgeRabbitmqFlagsSchema,
        RABBITMQ_BRIDGE_FLAGS,
        raw,
        ctx.env ?? process.env,
      );
      await runBridge(ctx, {
        bridge: 'rabbitmq',
        logFields: { queue: flags.queue },
        brokerLabel: `RabbitMQ ${safeUrl(flags.url)} queue ${flags.queue}`,
        openSource: () =>
          rabbitmqSource({
            url: flags.url,
            queue: flags.queue,
            prefetch: flags.prefetch,
            ...(flags.stripPrefix ? { topicFromRoutingKey: stripTopicPrefix(flags.stripPrefix) } : {}),
          }),
        maxInFlight: flags.prefetch,
        progressEvery: flags.progressEvery,
      });
    });
}
