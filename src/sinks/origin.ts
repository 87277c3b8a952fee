/**
 * Where a message came from, read back from the envelope's `source` that a broker source wrote
 * (src/connectors/nats.ts: `nats:<stream>/<seq> <subject>`). Pure.
 */
export interface MessageOrigin {
  subject: string;
  stream?: string;
  streamSeq?: number;
}

const NATS_ORIGIN = /^nats:([^/\s]+)\/(\d+) (\S+)$/;

/** The NATS origin of a message, or the topic as its subject when it did not come from NATS. */
export function messageOrigin(source: string | undefined, topic: string): MessageOrigin {
  const match = source ? NATS_ORIGIN.exec(source) : null;
  if (!match) return { subject: topic };
  return { subject: match[3]!, stream: match[1]!, streamSeq: Number(match[2]) };
}
