/**
 * `temporal-dlq/connectors`: broker sources that hand each message to `publish` under one contract
 * (`runSource`), and the NATS JetStream source. Kept out of `temporal-dlq/client` so a producer never loads a
 * broker library.
 */
export { runSource, sourceEnvelope } from './source';
export type { RunSourceOptions, Source, SourceCounts, SourceMessage, SourceOutcome } from './source';
export { natsSource, stripSubjectPrefix, streamSequenceId, DEFAULT_NATS_DURABLE } from './nats';
export type { NatsSourceOptions } from './nats';
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
