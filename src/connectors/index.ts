/**
 * `temporal-dlq/connectors`: broker sources that hand each message to `publish` under one contract
 * (`runSource`): the NATS JetStream source and the RabbitMQ source. Kept out of `temporal-dlq/client` so a producer never loads a
 * broker library.
 */
export { runSource, sourceEnvelope, stripTopicPrefix, SourceStoppedError, MIN_REJECT_BYTES } from './source';
export type {
  RunSourceOptions,
  SettledDetails,
  Source,
  SourceCounts,
  SourceMessage,
  SourceOutcome,
} from './source';
export { natsSource, stripSubjectPrefix, streamSequenceId, DEFAULT_NATS_DURABLE } from './nats';
export type { NatsSourceOptions } from './nats';
export { rabbitmqSource, rabbitmqFallbackId, rabbitmqHeaders, DEFAULT_RABBITMQ_PREFETCH } from './rabbitmq';
export type { RabbitmqSourceOptions } from './rabbitmq';
export { SOURCE_REJECTS_TOPIC, SOURCE_REJECT_REASONS } from '../contract/source-rejects';
export type { SourceRejectPayload, SourceRejectReason } from '../contract/source-rejects';
export {
  outboxSource,
  outboxDdl,
  ensureOutboxTable,
  outboxChannel,
  outboxFallbackId,
  OUTBOX_DDL,
  DEFAULT_OUTBOX_TABLE,
  OUTBOX_TABLE_PATTERN,
} from './outbox';
export type { OutboxSourceOptions } from './outbox';
