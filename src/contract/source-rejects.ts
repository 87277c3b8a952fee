/**
 * Broker messages that cannot become an envelope. A source never drops them and never lets the broker
 * redeliver them forever: it publishes them on this reserved topic, where the built-in handler parks each one
 * at once as `validation` with the reason below, the raw body (base64) and the broker's headers and origin in
 * the payload. Wire names: the topic and the reasons end up in workflow ids and search attributes.
 */

/** The reserved topic of rejected broker messages. Registered by `createWorker` unless a handler takes it. */
export const SOURCE_REJECTS_TOPIC = 'dlq.source-rejected';

/** Why a broker message could not become an envelope (the `DlqReason` it parks with). */
export const SOURCE_REJECT_REASONS = {
  /** The body is not UTF-8 JSON. */
  notJson: 'SOURCE_NOT_JSON',
  /** The broker's message id (e.g. `Nats-Msg-Id`) is not a usable message id. */
  badId: 'SOURCE_BAD_ID',
  /** The body is JSON but larger than the payload limit (`DLQ_MAX_PAYLOAD_BYTES`). */
  tooLarge: 'SOURCE_PAYLOAD_TOO_LARGE',
  /** The topic the source derived (e.g. from the subject) is outside the topic pattern. */
  badTopic: 'SOURCE_BAD_TOPIC',
  /** The body is JSON that the envelope refuses: nested deeper than `MAX_PAYLOAD_DEPTH` (64) levels. */
  notPlainJson: 'SOURCE_NOT_PLAIN_JSON',
} as const;
export type SourceRejectReason = (typeof SOURCE_REJECT_REASONS)[keyof typeof SOURCE_REJECT_REASONS];

/** The payload of a rejected broker message: everything needed to find, fix and re-publish it. */
export interface SourceRejectPayload {
  reason: SourceRejectReason;
  /** What was wrong, in words. */
  problems: string[];
  /** Where it came from, e.g. `nats:ORDERS/42 orders.created`. */
  origin: string;
  /** The topic the source derived, as is (possibly invalid). */
  topic: string;
  /** The broker's own message id, as is, when it had one. */
  brokerId?: string;
  /** The broker's headers. */
  headers: Record<string, string>;
  /** The raw body, base64; cut to `bodyKeptBytes` bytes when the whole would not fit the payload limit. */
  body: string;
  bodyBytes: number;
  bodyKeptBytes: number;
  /** SHA-256 of the whole raw body, hex. */
  bodySha256: string;
  /**
   * Set when even the headers would not fit the payload limit: this is the minimal reject (origin, reason,
   * size and hash; no headers, no body). The raw message stays findable by its hash in the broker's logs.
   */
  minimal?: true;
}
