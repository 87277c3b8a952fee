/**
 * `dlq bridge <source>`: runs a broker source (src/connectors/) until SIGINT or SIGTERM, then drains: the
 * messages in flight finish, nothing unstarted is acked (src/cli/bridge-run.ts). Every flag can also come from
 * a `DLQ_BRIDGE_*` variable (src/cli/bridge-env.ts). This module registers `bridge` and `bridge nats`; each
 * other source registers itself from its own module through `BRIDGE_SOURCES`.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_NATS_DURABLE, natsSource, stripSubjectPrefix } from '../../connectors/nats';
import { COMMON_BRIDGE_FLAGS, parseBridgeFlags, progressEverySchema } from '../bridge-env';
import type { BridgeFlagSpec } from '../bridge-env';
import { runBridge } from '../bridge-run';
import type { CliContext } from '../context';
import { registerRabbitmq } from './bridge-rabbitmq';

/** JetStream names (streams, consumers): no whitespace, `.`, `*`, `>`, `/` or `\`. */
const natsName = z
  .string({ error: 'is required' })
  .regex(/^[^\s.*>/\\]{1,200}$/, { error: 'must be 1-200 characters without spaces, . * > / or \\' });

/** The flags of `dlq bridge nats` and their variables. */
export const NATS_BRIDGE_FLAGS: readonly BridgeFlagSpec[] = [
  { key: 'servers', env: 'DLQ_BRIDGE_NATS_SERVERS' },
  { key: 'stream', env: 'DLQ_BRIDGE_NATS_STREAM' },
  { key: 'subject', env: 'DLQ_BRIDGE_NATS_SUBJECT' },
  { key: 'durable', env: 'DLQ_BRIDGE_NATS_DURABLE' },
  { key: 'maxInFlight', env: 'DLQ_BRIDGE_MAX_IN_FLIGHT' },
  { key: 'stripPrefix', env: 'DLQ_BRIDGE_NATS_STRIP_PREFIX' },
  ...COMMON_BRIDGE_FLAGS,
];

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
  subject: z
    .string({ error: 'is required' })
    .regex(/^[^\s]{1,255}$/, { error: 'must be a subject filter without spaces' }),
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
  progressEvery: progressEverySchema,
});

function registerNats(bridge: Command, ctx: CliContext): void {
  bridge
    .command('nats')
    .description(
      'Run a durable JetStream pull consumer: each message becomes a workflow; SIGINT/SIGTERM drains and stops',
    )
    .option('--stream <name>', 'the JetStream stream to read [DLQ_BRIDGE_NATS_STREAM]')
    .option(
      '--subject <filter>',
      'the subject filter of the consumer, e.g. orders.> [DLQ_BRIDGE_NATS_SUBJECT]',
    )
    .option(
      '--servers <list>',
      'NATS servers, comma-separated host:port (default 127.0.0.1:4222) [DLQ_BRIDGE_NATS_SERVERS]',
    )
    .option(
      '--durable <name>',
      `durable consumer name, created when missing (default ${DEFAULT_NATS_DURABLE}) [DLQ_BRIDGE_NATS_DURABLE]`,
    )
    .option(
      '--max-in-flight <n>',
      'messages being started at once (1-1024, default 64) [DLQ_BRIDGE_MAX_IN_FLIGHT]',
    )
    .option(
      '--strip-prefix <prefix>',
      'topic = the subject without this prefix (default: the whole subject) [DLQ_BRIDGE_NATS_STRIP_PREFIX]',
    )
    .option(
      '--progress-every <seconds>',
      'log the counts this often (0: only at the end; default 5) [DLQ_BRIDGE_PROGRESS_EVERY]',
    )
    .addHelpText(
      'after',
      '\nThe message id is the Nats-Msg-Id header, else <stream>:<sequence>. A flag wins over its variable. A\n' +
        'message that cannot become an envelope parks on topic dlq.source-rejected as validation, with its raw\n' +
        'body.\n\nExample:\n' +
        '  dlq bridge nats --stream ORDERS --subject "dlq.orders.>" --strip-prefix dlq',
    )
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseBridgeFlags(bridgeNatsFlagsSchema, NATS_BRIDGE_FLAGS, raw, ctx.env ?? process.env);
      await runBridge(ctx, {
        bridge: 'nats',
        logFields: { stream: flags.stream, durable: flags.durable },
        brokerLabel: `NATS ${flags.servers.join(',')}`,
        openSource: () =>
          natsSource({
            servers: flags.servers,
            stream: flags.stream,
            subject: flags.subject,
            durable: flags.durable,
            pullBatch: flags.maxInFlight,
            ...(flags.stripPrefix ? { topicFromSubject: stripSubjectPrefix(flags.stripPrefix) } : {}),
          }),
        maxInFlight: flags.maxInFlight,
        progressEvery: flags.progressEvery,
      });
    });
}

/**
 * The sources of `dlq bridge`, each `(bridge, ctx) => void` registering its subcommand. A new source adds
 * its own module's register function here (e.g. `registerOutbox` from `./bridge-outbox`).
 */
export const BRIDGE_SOURCES: ReadonlyArray<(bridge: Command, ctx: CliContext) => void> = [
  registerNats,
  registerRabbitmq,
];

export function register(program: Command, ctx: CliContext): void {
  const bridge = program
    .command('bridge')
    .description('Move messages from a broker into temporal-dlq (ack only after a durable start)');
  for (const registerSource of BRIDGE_SOURCES) registerSource(bridge, ctx);
}
